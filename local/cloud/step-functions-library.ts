// aws-local-stepfunctions, which runs the stack's state machine definitions. It declares Node >= 22
// (it calls Promise.withResolvers), so it is not a dependency of the root package, whose commands
// run on the user's Node (the root's engines.node, from 20.16): the root postinstall installs it
// into local/step-functions-runtime with npm executed by Lambda's Node (local/lambda-runtime), and
// what loads it — the local cloud process, jest — runs on that Node (scripts/lambda-node.sh,
// daemons.ts's lambdaTsxCommand).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import semver from 'semver';
import { z } from 'zod';
import type * as Library from '../step-functions-runtime/node_modules/aws-local-stepfunctions/build/main';

const RUNTIME_DIR = path.resolve(__dirname, '..', 'step-functions-runtime');

const manifestSchema = z.object({ version: z.string(), engines: z.object({ node: z.string() }) });

/** A state machine of aws-local-stepfunctions: one definition, validated once, run once per execution. */
export type StateMachineRunner = Library.StateMachine;

let loaded: typeof Library | undefined;

/**
 * Loads aws-local-stepfunctions from local/step-functions-runtime, on a Node it declares.
 * @throws Error when it is not installed (run npm ci) or this process runs an older Node than its
 *   engines.node (start through npm run local / npm test, which run it on Lambda's Node).
 */
export function stepFunctionsLibrary(nodeVersion: string = process.versions.node): typeof Library {
  const manifestFile = path.join(RUNTIME_DIR, 'node_modules', 'aws-local-stepfunctions', 'package.json');
  if (!existsSync(manifestFile))
    throw new Error(
      `aws-local-stepfunctions is not installed (${manifestFile}): run npm ci (its postinstall installs local/step-functions-runtime)`,
    );
  const manifest = manifestSchema.parse(JSON.parse(readFileSync(manifestFile, 'utf8')));
  if (!semver.satisfies(nodeVersion, manifest.engines.node)) {
    throw new Error(
      `aws-local-stepfunctions@${manifest.version} requires Node ${manifest.engines.node}, but this process runs Node ${nodeVersion}: ` +
        "start it on Lambda's Node as npm run local and npm test do (npm test -- FILE… for single test files; bash scripts/lambda-node.sh ARGS… runs node ARGS… on it)",
    );
  }
  loaded ??= createRequire(path.join(RUNTIME_DIR, 'package.json'))('aws-local-stepfunctions') as typeof Library;
  return loaded;
}
