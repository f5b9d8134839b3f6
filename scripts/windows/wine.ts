/**
 * Debian's Wine 8 as the Windows the connector's exe and MSI are tested on: a 64-bit prefix set to
 * Windows 10, made once and cached (SO_BACKUP_WINE_CACHE, default /var/cache/so-backup/wine), then
 * copied for each run so every run starts from a clean machine. Programs' output goes to a file:
 * Node.js under Wine dies with EBADF when its stdout is a pipe.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const WINE = process.env.SO_BACKUP_WINE ?? '/usr/lib/wine/wine64';
const WINESERVER = path.join(path.dirname(WINE), 'wineserver');

export interface WineResult {
  status: number | null;
  output: string;
}

export class Wine {
  private constructor(
    readonly prefix: string,
    private readonly logDir: string,
  ) {}

  /** A fresh prefix at `folder` (a copy of the cached Windows 10 base, made first if missing). */
  static fresh(folder: string, log: (line: string) => void): Wine {
    if (!existsSync(WINE)) throw new Error(`${WINE} is missing: apt-get install wine64 (Debian's Wine 8)`);
    const version = execFileSync(WINE, ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/[^A-Za-z0-9.~-]/g, '_');
    const base = path.join(process.env.SO_BACKUP_WINE_CACHE ?? '/var/cache/so-backup/wine', `base-${version}`);
    if (!existsSync(path.join(base, '.so-backup-ready'))) {
      log(`  making the cached Wine prefix ${base} (wineboot, winecfg /v win10)`);
      rmSync(base, { recursive: true, force: true });
      mkdirSync(base, { recursive: true });
      const maker = new Wine(base, base);
      maker.run(['wineboot', '--init'], 180_000);
      maker.run(['winecfg', '/v', 'win10'], 60_000);
      maker.shutdown();
      writeFileSync(path.join(base, '.so-backup-ready'), `${version}\n`);
    }
    rmSync(folder, { recursive: true, force: true });
    cpSync(base, folder, { recursive: true, verbatimSymlinks: true });
    rmSync(path.join(folder, '.so-backup-ready'));
    const logDir = path.join(path.dirname(folder), 'wine-output');
    mkdirSync(logDir, { recursive: true });
    return new Wine(folder, logDir);
  }

  get env(): NodeJS.ProcessEnv {
    // No Mono or Gecko install prompts (neither is used); no debug noise.
    return { ...process.env, WINEPREFIX: this.prefix, WINEARCH: 'win64', WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  }

  /** C:\… as a path on this machine. */
  hostPath(windowsPath: string): string {
    const match = /^([A-Za-z]):\\(.*)$/.exec(windowsPath);
    if (!match || match[1]!.toLowerCase() !== 'c') throw new Error(`not a C: path: ${windowsPath}`);
    return path.join(this.prefix, 'drive_c', ...match[2]!.split('\\').filter(Boolean));
  }

  /** Runs a Windows program to its end; output (stdout and stderr) through a file. */
  run(args: string[], timeoutMs = 120_000): WineResult {
    const file = path.join(this.logDir, `out-${process.pid}-${Date.now()}.txt`);
    const fd = openSync(file, 'w');
    try {
      execFileSync(WINE, args, { env: this.env, stdio: ['ignore', fd, fd], timeout: timeoutMs });
      return { status: 0, output: readFileSync(file, 'utf8') };
    } catch (error) {
      const status = (error as { status?: number | null }).status ?? null;
      return { status, output: `${readFileSync(file, 'utf8')}${status === null ? `\n(${String((error as Error).message)})` : ''}` };
    } finally {
      closeSync(fd);
      rmSync(file, { force: true });
    }
  }

  /** Starts a Windows program in the background; its output goes to `outputFile`. */
  start(args: string[], outputFile: string): ChildProcess {
    const fd = openSync(outputFile, 'w');
    const child = spawn(WINE, args, { env: this.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return child;
  }

  /** Ends every process of this prefix (services included) and waits for its wineserver. */
  shutdown(): void {
    try {
      execFileSync(WINESERVER, ['-k'], { env: this.env, stdio: 'ignore', timeout: 30_000 });
    } catch {
      // no wineserver running for this prefix
    }
    try {
      execFileSync(WINESERVER, ['-w'], { env: this.env, stdio: 'ignore', timeout: 30_000 });
    } catch {
      // already gone
    }
  }
}
