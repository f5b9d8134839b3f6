import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { acquireDataLock, dataLockHolder, processStartTime } from '../../local/data-lock';

describe('the data folder lock of local mode', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'so-backup-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('GIVEN a live local mode holding the folder WHEN a second one starts THEN it is refused naming the holder; after release it may start', () => {
    const release = acquireDataLock(dir, 'local.ts --data first');
    expect(dataLockHolder(dir)).toMatchObject({ pid: process.pid, command: 'local.ts --data first' });
    expect(() => acquireDataLock(dir, 'second')).toThrow(
      new RegExp(
        `another local mode \\(pid ${process.pid}, started .*: local\\.ts --data first\\) is using ${dir}\\. .*--down --data ${dir}`,
      ),
    );
    release();
    expect(dataLockHolder(dir)).toBeUndefined();
    acquireDataLock(dir, 'second')();
  });

  test('GIVEN a lock left by a process that died, or by a pid now given to another process, or half-written THEN it is taken over', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lock = path.join(dir, 'run', 'local.lock');
    acquireDataLock(dir)(); // makes run/
    writeFileSync(lock, JSON.stringify({ pid: Number(dead.stdout), startTime: '1', startedAt: 'then', command: 'killed' }));
    expect(dataLockHolder(dir)).toBeUndefined();
    const release = acquireDataLock(dir, 'me');
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid, command: 'me' });
    release();

    // Our own pid, but another start time: the pid was reused by another process.
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, startTime: `${processStartTime(process.pid)}0`, startedAt: 'then', command: 'old' }),
    );
    acquireDataLock(dir, 'me')();

    writeFileSync(lock, '{"pid": 12'); // its writer died between creating and writing it
    const old = new Date(Date.now() - 10_000);
    utimesSync(lock, old, old);
    acquireDataLock(dir, 'me')();
  });

  test("processStartTime reads a live process's start time from /proc/PID/stat, and nothing for a missing one", () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(2 ** 22 + 1)).toBeUndefined();
  });
});
