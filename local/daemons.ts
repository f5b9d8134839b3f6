import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { lambdaNodePath } from './lambda-node';
import { assertPortFree, portHolder } from './ports';

/** A background process of local mode, found again by its pid file so it can be reused. */
export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** True once the daemon serves. */
  ready(): Promise<boolean>;
  /** @default 60_000 */
  readyTimeoutMs?: number;
  /** What the daemon was started with (e.g. its configuration); a running daemon with another fingerprint is restarted. */
  fingerprint?: string;
  /** The loopback ports it listens on: checked free before it starts, and released before stop() returns. */
  ports?: number[];
  /** The Unix sockets it listens on: a stale one (left by a killed daemon) is removed before it starts. */
  sockets?: string[];
}

export const REPO_ROOT = path.resolve(__dirname, '..');
// tsx caches its transforms by content and bakes each file's __filename into them, so a second
// checkout of the same code would resolve REPO_ROOT (and every script path) into the first one.
// Every TypeScript process local mode starts inherits this and transforms afresh.
process.env.TSX_DISABLE_CACHE ??= '1';

/**
 * The user's Node (the one that runs npm and the operator CLI): local mode's connector, SQL Server
 * stand-in and dynalite run on it. jest runs on Lambda's Node (scripts/lambda-node.sh, which hands
 * the user's on as SO_BACKUP_USER_NODE), so that what tests start runs where it runs for a user.
 */
export const USER_NODE = process.env.SO_BACKUP_USER_NODE || process.execPath;

/** Starts `node --import tsx FILE ARGS…` (our TypeScript entry points) on the user's Node. */
export function tsxCommand(file: string, args: string[]): { command: string; args: string[] } {
  return { command: USER_NODE, args: ['--import', 'tsx', path.join(REPO_ROOT, file), ...args] };
}

/**
 * Starts `node --import tsx FILE ARGS…` on Lambda's Node major (local/lambda-runtime): for the
 * local cloud, which loads aws-local-stepfunctions (it declares Node >= 22; local/cloud/step-functions-library.ts).
 * @throws Error naming `npm ci` when local/lambda-runtime is not installed.
 */
export function lambdaTsxCommand(file: string, args: string[]): { command: string; args: string[] } {
  return { command: lambdaNodePath(), args: ['--import', 'tsx', path.join(REPO_ROOT, file), ...args] };
}

export class Daemons {
  constructor(private readonly dataDir: string) {}

  private pidFile(name: string) {
    return path.join(this.dataDir, 'run', `${name}.pid`);
  }

  logFile(name: string) {
    return path.join(this.dataDir, 'logs', `${name}.log`);
  }

  pid(name: string): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile(name), 'utf8'));
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Reuses a live, ready daemon; else starts it detached and waits until it is ready. */
  async ensure(spec: DaemonSpec): Promise<'reused' | 'started'> {
    const fingerprintFile = path.join(this.dataDir, 'run', `${spec.name}.fingerprint`);
    // A hash only: what a daemon starts with can hold secrets (cloud.json's operator key, a SQL connection string).
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([spec.command, spec.args, spec.fingerprint ?? '']))
      .digest('hex');
    const same = existsSync(fingerprintFile) && readFileSync(fingerprintFile, 'utf8') === fingerprint;
    if (same && this.pid(spec.name) && (await spec.ready())) return 'reused';
    await this.stop(spec.name);
    for (const port of spec.ports ?? []) assertPortFree(port, spec.name);
    for (const socket of spec.sockets ?? []) rmSync(socket, { force: true });
    mkdirSync(path.join(this.dataDir, 'run'), { recursive: true });
    writeFileSync(this.portsFile(spec.name), JSON.stringify(spec.ports ?? []));
    mkdirSync(path.join(this.dataDir, 'logs'), { recursive: true });
    const log = openSync(this.logFile(spec.name), 'a');
    const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...spec.env } });
    closeSync(log);
    child.unref();
    writeFileSync(this.pidFile(spec.name), String(child.pid));
    writeFileSync(fingerprintFile, fingerprint, { mode: 0o600 });
    chmodSync(fingerprintFile, 0o600);
    const until = Date.now() + (spec.readyTimeoutMs ?? 60_000);
    while (Date.now() < until) {
      if (await spec.ready()) return 'started';
      if (!this.pid(spec.name)) break;
      await sleep(200);
    }
    const tail = existsSync(this.logFile(spec.name)) ? readFileSync(this.logFile(spec.name), 'utf8').split('\n').slice(-15).join('\n') : '';
    throw new Error(`${spec.name} did not become ready; its log (${this.logFile(spec.name)}) ends:\n${tail}`);
  }

  /**
   * Stops a daemon and returns only once it has exited and its ports are released, so that the
   * next start can bind them (SIGTERM, then SIGKILL after 5 s).
   * @throws Error when the process or a listener on its ports outlives both.
   */
  async stop(name: string): Promise<void> {
    const pid = this.pid(name);
    if (pid) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 50 && this.pid(name); i++) await sleep(100);
      if (this.pid(name)) process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && this.pid(name); i++) await sleep(100);
      if (this.pid(name)) throw new Error(`${name} (pid ${pid}) did not exit`);
    }
    const ports: number[] = existsSync(this.portsFile(name)) ? (JSON.parse(readFileSync(this.portsFile(name), 'utf8')) as number[]) : [];
    for (const port of ports) {
      for (let i = 0; i < 50 && portHolder(port); i++) await sleep(100);
    }
    rmSync(this.pidFile(name), { force: true });
    rmSync(this.portsFile(name), { force: true });
  }

  private portsFile(name: string) {
    return path.join(this.dataDir, 'run', `${name}.ports`);
  }

  /** Every daemon with a pid file, in reverse start order is not needed: each stands alone. */
  names(): string[] {
    const dir = path.join(this.dataDir, 'run');
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.pid'))
          .map((f) => f.slice(0, -4))
      : [];
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True when an HTTP GET answers (any status below 500). */
export async function httpAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.status < 500;
  } catch {
    return false;
  }
}

/** Runs one of our shell scripts, failing with its output when it fails. */
export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (result.status !== 0) throw new Error(`scripts/${script} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
  return result.stdout;
}
