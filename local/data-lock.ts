import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Who holds a data folder: written to `<data>/run/local.lock` as JSON. */
export interface DataLockHolder {
  pid: number;
  startTime: string;
  startedAt: string;
  command: string;
}

/**
 * The kernel's start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot), which
 * tells a live holder from another process that was given the same pid later. Undefined when the
 * process does not exist.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readHolder(file: string): DataLockHolder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DataLockHolder;
  } catch {
    return undefined;
  }
}

function mtimeMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** True when the holder's process still runs (same pid and the same start time). */
function alive(holder: DataLockHolder): boolean {
  return processStartTime(holder.pid) === holder.startTime;
}

/** The live local mode that holds `dataDir`, if any. */
export function dataLockHolder(dataDir: string): DataLockHolder | undefined {
  const holder = readHolder(path.join(dataDir, 'run', 'local.lock'));
  return holder && alive(holder) ? holder : undefined;
}

/**
 * Takes the data folder for this process, so that a second local mode on the same folder is refused
 * at once instead of reusing — and then stopping — the first one's services in the middle of its run.
 * The lock names its holder's pid and start time, so a holder that died (SIGKILL, a crash) leaves no
 * stale lock behind: it is taken over. (A lock by file age, as proper-lockfile keeps, would refuse a
 * restart for its whole stale period after a crash and cannot name the holder.)
 * @returns a function that releases the lock (only if this process still holds it).
 * @throws Error naming the holder's pid, start and command when a live local mode holds the folder.
 */
export function acquireDataLock(dataDir: string, command = process.argv.slice(1).join(' ')): () => void {
  const file = path.join(dataDir, 'run', 'local.lock');
  mkdirSync(path.dirname(file), { recursive: true });
  const me: DataLockHolder = {
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    startedAt: new Date().toISOString(),
    command,
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644); // O_EXCL: exactly one process creates it
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      return () => {
        if (readHolder(file)?.pid === me.pid) rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    if (holder && alive(holder)) {
      throw new Error(
        `another local mode (pid ${holder.pid}, started ${holder.startedAt}: ${holder.command}) is using ${dataDir}. ` +
          `Wait for it to finish, stop it (Ctrl-C, or npm run local -- --down --data ${dataDir}), or use another --data folder.`,
      );
    }
    if (!holder && Date.now() - mtimeMs(file) < 2000) {
      // Just created and not yet written by its holder: give it a moment.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      continue;
    }
    // Its holder is gone (or a process died between creating and writing it): take it over.
    rmSync(file, { force: true });
  }
  throw new Error(`could not take the lock ${file}: other processes keep taking it`);
}
