import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, tsxCommand, USER_NODE } from './daemons';

/** What one `so-backup` command printed and its exit code; `json` is its parsed --json output (undefined when stdout is not JSON). */
export interface CliResult<T> {
  code: number;
  stdout: string;
  stderr: string;
  json: T;
}

/**
 * Runs the built operator CLI (cli/bin/so-backup.cjs) against a local mode's data folder
 * (`--local DIR`), as an operator would; never rejects: a failing command is its exit code.
 */
export function runSoBackup<T = unknown>(dataDir: string, args: string[]): Promise<CliResult<T>> {
  return runCli(USER_NODE, [path.join(REPO_ROOT, 'cli', 'bin', 'so-backup.cjs'), '--local', dataDir, ...args], {});
}

/**
 * Runs `so-connector restore --json` with local mode's connector configuration (DIR/connector/config.json)
 * or another connector's `config`, trusting local mode's CA (DIR/tls/ca.crt) as the connector service does; never rejects: a failing
 * command is its exit code.
 */
export function runConnectorRestore<T = unknown>(
  dataDir: string,
  args: string[],
  config = path.join(dataDir, 'connector', 'config.json'),
): Promise<CliResult<T>> {
  const command = tsxCommand('connector/src/bin/so-connector.ts', ['restore', '--config', config, '--json', ...args]);
  return runCli(command.command, command.args, { NODE_EXTRA_CA_CERTS: path.join(dataDir, 'tls', 'ca.crt') });
}

function runCli<T>(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult<T>> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        let json: T | undefined;
        try {
          json = JSON.parse(stdout) as T;
        } catch {
          json = undefined;
        }
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr, json: json as T });
      },
    );
  });
}
