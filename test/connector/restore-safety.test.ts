import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { backupArchive } from '../../connector/src/backup';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { archiveSnapshotSchema, type ArchiveSnapshot, type BackupJob, keyLayout } from '../../protocol';
import { runBackupJob } from '../../connector/src/backup';
import { checkRestoreChoices, type RestoreChoices, restoreRun } from '../../connector/src/restore/restore-run';
import { parseRestoreDate } from '../../connector/src/restore/run-restore';
import { connectorConfigFor } from '../helpers/connector-config';
import { writeBytes } from '../helpers/exact-tree';
import { MemoryObjectStore } from '../helpers/memory-object-store';

/**
 * What a restore writes, and where it must not: never through a link, never a file that is
 * already there exactly; modes and folder times come back.
 */
const logger = pino({ level: 'silent' });
const job: BackupJob = {
  type: 'backup-job',
  v: 1,
  runId: 'acme-2026-11-25-daily',
  tenantId: 'acme',
  requestedAt: new Date().toISOString(),
  target: { bucket: 'bkt', region: 'us-east-1', forcePathStyle: false },
  credentials: { accessKeyId: 'a', secretAccessKey: 's', expiration: new Date(Date.now() + 3600_000).toISOString() },
};
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function setUp(name: string) {
  const dir = mkdtempSync(path.join(tmpdir(), `so-backup-restore-safety-${name}-`));
  made.push(dir);
  const archive = path.join(dir, 'SO_ARC');
  mkdirSync(archive);
  return { dir, archive, state: path.join(dir, 'state'), store: new MemoryObjectStore() };
}

async function backup(store: MemoryObjectStore, state: string, archive: string, runId: string): Promise<ArchiveSnapshot> {
  const summary = await backupArchive({ tenantId: 'acme', runId }, [{ name: 'SO_ARC', path: archive }], { store, stateDir: state, logger });
  await store.putBuffer(keyLayout.snapshot('acme'), store.current(summary.snapshot.key)!);
  return archiveSnapshotSchema.parse(JSON.parse(gunzipSync(store.current(summary.snapshot.key)!).toString('utf8')));
}

/** What `so-connector restore --into-live` does: each root into its live folder, replacing. */
const intoLive = (snapshot: ArchiveSnapshot, store: MemoryObjectStore, live: string) =>
  materializeSnapshot(snapshot.files, store, '.', {
    emptyFolders: snapshot.emptyFolders,
    links: snapshot.links,
    folders: snapshot.folders,
    rootFolder: () => live,
    replace: true,
  });

describe('a restore never writes through a link', () => {
  test('GIVEN folders of the snapshot that are now links (to a folder outside, deep inside, and dangling) in the live archive WHEN restored --into-live THEN nothing is written through them: each file below is reported, the links stay, the rest is restored', async () => {
    const { dir, archive, state, store } = setUp('links');
    for (const folder of ['ANNA/2026.11', 'PER', 'EMPTY/inner', 'OK']) mkdirSync(path.join(archive, folder), { recursive: true });
    writeFileSync(path.join(archive, 'ANNA', '2026.11', 'Tilbud.docx'), 'offer');
    writeFileSync(path.join(archive, 'PER', 'notes.txt'), 'notes');
    writeFileSync(path.join(archive, 'OK', 'fine.txt'), 'fine');
    const snapshot = await backup(store, state, archive, 'acme-2026-11-25-daily');
    const elsewhere = path.join(dir, 'elsewhere');
    mkdirSync(path.join(elsewhere, '2026.11'), { recursive: true });
    rmSync(path.join(archive, 'ANNA'), { recursive: true });
    symlinkSync(elsewhere, path.join(archive, 'ANNA'));
    rmSync(path.join(archive, 'PER'), { recursive: true });
    symlinkSync(path.join(dir, 'nowhere'), path.join(archive, 'PER'));
    rmSync(path.join(archive, 'EMPTY'), { recursive: true });
    symlinkSync(elsewhere, path.join(archive, 'EMPTY'));
    rmSync(path.join(archive, 'OK', 'fine.txt'));

    const result = await intoLive(snapshot, store, archive);
    expect(readdirSync(elsewhere)).toEqual(['2026.11']);
    expect(readdirSync(path.join(elsewhere, '2026.11'))).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['SO_ARC', 'elsewhere', 'state']); // no "nowhere" made through the dangling link
    expect(result.failed.map((f) => f.path).sort()).toEqual([
      'SO_ARC/ANNA/2026.11/Tilbud.docx',
      'SO_ARC/EMPTY/inner',
      'SO_ARC/PER/notes.txt',
    ]);
    expect(result.failed.find((f) => f.path === 'SO_ARC/PER/notes.txt')!.reason).toMatch(
      /^the folder SO_ARC\/PER is now a link \(to .*nowhere\) on the target: nothing is written through a link/,
    );
    expect(lstatSync(path.join(archive, 'ANNA')).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(archive, 'PER')).isSymbolicLink()).toBe(true);
    expect(readFileSync(path.join(archive, 'OK', 'fine.txt'), 'utf8')).toBe('fine');
    expect(result.files).toBe(1);
  });

  test('GIVEN a snapshot with a folder link and a file below it (a damaged or forged snapshot) WHEN restored into a new folder THEN the link is made, the file goes to a folder of another name (reported) and nothing is written where the link points', async () => {
    const { dir, archive, state, store } = setUp('forged');
    writeFileSync(path.join(archive, 'doc.txt'), 'doc');
    const snapshot = await backup(store, state, archive, 'acme-2026-11-25-daily');
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    const forged = { ...snapshot.files[0]!, path: 'a/doc.txt' };
    const result = await materializeSnapshot([forged], store, path.join(dir, 'restored'), {
      links: [{ root: 'SO_ARC', path: 'a', target: outside, kind: 'dir' }],
      emptyFolders: [],
    });
    expect(readdirSync(outside)).toEqual([]);
    expect(result.links).toBe(1);
    expect(result.renamed).toEqual([
      { path: 'SO_ARC/a/doc.txt', restoredAs: 'SO_ARC/a (conflict 2)/doc.txt', reason: expect.stringContaining('a file of the same name') },
    ]);
  });
});

describe('--into-live leaves identical files alone', () => {
  test('GIVEN a live archive where most files are still exactly as backed up WHEN restored --into-live THEN those are checked (size, time, SHA-256) and left as they are (same inode), and only the damaged and missing ones are written', async () => {
    const { archive, state, store } = setUp('identical');
    for (let i = 0; i < 5; i++) writeFileSync(path.join(archive, `doc${i}.txt`), `document ${i}`);
    const snapshot = await backup(store, state, archive, 'acme-2026-11-25-daily');
    const inodes = Object.fromEntries(readdirSync(archive).map((name) => [name, statSync(path.join(archive, name)).ino]));
    const damaged = path.join(archive, 'doc1.txt');
    const time = statSync(damaged).mtime;
    writeFileSync(damaged, 'DOCUMENT 1'); // same size, same time: only its content tells
    utimesSync(damaged, time, time);
    rmSync(path.join(archive, 'doc2.txt'));
    const result = await intoLive(snapshot, store, archive);
    expect(result).toMatchObject({ files: 2, unchanged: 3, failed: [], renamed: [] });
    expect(readFileSync(damaged, 'utf8')).toBe('document 1');
    for (const name of ['doc0.txt', 'doc3.txt', 'doc4.txt']) expect(statSync(path.join(archive, name)).ino).toBe(inodes[name]);
    // The next backup reads nothing that was left alone.
    const after = await backupArchive({ tenantId: 'acme', runId: 'acme-2026-11-26-daily' }, [{ name: 'SO_ARC', path: archive }], {
      store,
      stateDir: state,
      logger,
    });
    expect(after).toMatchObject({ readFiles: 2, uploadedFiles: 0 });
  });
});

describe('modes and folder times', () => {
  test('GIVEN a program (755), a private file (600), a read-only folder and folders with old times WHEN backed up and restored on Linux THEN each file gets its mode and each folder its mode and time', async () => {
    const { dir, archive, state, store } = setUp('modes');
    mkdirSync(path.join(archive, 'bin'));
    mkdirSync(path.join(archive, 'locked', 'deep'), { recursive: true });
    writeFileSync(path.join(archive, 'bin', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(path.join(archive, 'secret.txt'), 'secret', { mode: 0o600 });
    writeFileSync(path.join(archive, 'locked', 'deep', 'kept.txt'), 'kept');
    utimesSync(path.join(archive, 'locked', 'deep'), 1_600_000_000, 1_600_000_000.25);
    utimesSync(path.join(archive, 'bin'), 1_500_000_000, 1_500_000_000.5);
    const { chmodSync } = await import('node:fs');
    chmodSync(path.join(archive, 'locked'), 0o555);
    utimesSync(path.join(archive, 'locked'), -86_400, -86_400.5); // a folder from 1969
    chmodSync(path.join(archive, 'secret.txt'), 0o600);
    const snapshot = await backup(store, state, archive, 'acme-2026-11-25-daily');
    expect(snapshot.files.find((f) => f.path === 'bin/run.sh')).toMatchObject({ mode: 0o755 });
    expect(snapshot.folders.map((f) => f.path).sort()).toEqual(['bin', 'locked', 'locked/deep']);

    const to = path.join(dir, 'restored');
    const result = await materializeSnapshot(snapshot.files, store, to, {
      emptyFolders: snapshot.emptyFolders,
      links: snapshot.links,
      folders: snapshot.folders,
    });
    expect(result).toMatchObject({ files: 3, failed: [] });
    const restored = path.join(to, 'SO_ARC');
    const mode = (relative: string) => statSync(path.join(restored, relative)).mode & 0o7777;
    expect({ run: mode('bin/run.sh'), secret: mode('secret.txt'), locked: mode('locked'), bin: mode('bin') }).toEqual({
      run: 0o755,
      secret: 0o600,
      locked: 0o555,
      bin: statSync(path.join(archive, 'bin')).mode & 0o7777,
    });
    for (const folder of ['bin', 'locked', 'locked/deep']) {
      expect({ folder, ns: statSync(path.join(restored, folder), { bigint: true }).mtimeNs }).toEqual({
        folder,
        ns: statSync(path.join(archive, folder), { bigint: true }).mtimeNs,
      });
    }
    chmodSync(path.join(restored, 'locked'), 0o755); // so that the temporary folder can be removed
    chmodSync(path.join(archive, 'locked'), 0o755);
  });
});

describe('--file names one entry exactly', () => {
  const { dir, archive, store } = setUp('file');
  let grant: { runId: string; startedAt: string; manifest: { key: string; versionId: string } };
  const run = (more: Partial<RestoreChoices>) =>
    restoreRun({ store, grant, progress: () => undefined }, { liveRoots: [{ name: 'SO_ARC', path: archive }], ...more });

  beforeAll(async () => {
    writeBytes(archive, Buffer.from('caf\xe8.txt', 'latin1'), 'Latin-1 è');
    writeBytes(archive, Buffer.from('caf\xe9.txt', 'latin1'), 'Latin-1 é');
    writeFileSync(path.join(archive, 'caf\uFFFD.txt'), 'a real U+FFFD');
    writeBytes(archive, Buffer.from('only\xe6.txt', 'latin1'), 'Latin-1 æ');
    writeBytes(archive, Buffer.from('memo\xe8.txt', 'latin1'), 'memo è');
    writeBytes(archive, Buffer.from('memo\xe9.txt', 'latin1'), 'memo é');
    mkdirSync(path.join(archive, 'ANNA'));
    writeFileSync(path.join(archive, 'ANNA', 'Tilbud.docx'), 'offer');
    symlinkSync('ANNA/Tilbud.docx', path.join(archive, 'latest offer'));
    const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
    const manifest = await runBackupJob(
      { ...job, runId: 'acme-2026-11-25-daily' },
      { config, connectorVersion: 'test', store, logger, report: () => undefined },
    );
    grant = { runId: 'acme-2026-11-25-daily', startedAt: new Date().toISOString(), manifest };
  });

  test('GIVEN a real U+FFFD name next to names that are not text but display the same WHEN --file names the text THEN the exact name wins; a lone name that is not text is found by its text', async () => {
    const to = path.join(dir, 'fffd');
    expect((await run({ archiveTo: to, file: 'SO_ARC/caf\uFFFD.txt' })).archive).toMatchObject({ files: 1 });
    expect(readFileSync(path.join(to, 'SO_ARC', 'caf\uFFFD.txt'), 'utf8')).toBe('a real U+FFFD');
    expect(readdirSync(path.join(to, 'SO_ARC'))).toEqual(['caf\uFFFD.txt']);
    // Only one name that is not text displays as "only�.txt": it is found by its text.
    expect((await run({ archiveTo: to, file: 'only\uFFFD.txt' })).archive).toMatchObject({ files: 1 });
    expect(readFileSync(Buffer.from(`${to}/SO_ARC/only\xe6.txt`, 'latin1'), 'utf8')).toBe('Latin-1 æ');
  });

  test('GIVEN two names that are not text and display alike WHEN --file names the text THEN it is refused (before anything is written) listing both with their --file-bytes; --file-bytes restores exactly the one', async () => {
    const to = path.join(dir, 'ambiguous');
    const error = (await run({ archiveTo: to, file: 'SO_ARC/memo\uFFFD.txt' }).catch((e: unknown) => e)) as Error & { code: string };
    expect(error).toMatchObject({
      code: 'RESTORE_FILE_AMBIGUOUS',
      message: expect.stringContaining('"SO_ARC/memo\uFFFD.txt" names 2 entries of run acme-2026-11-25-daily'),
    });
    const offered = [...error.message.matchAll(/--file-bytes (\S+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('latin1'));
    expect(offered.sort()).toEqual(['SO_ARC/memo\xe8.txt', 'SO_ARC/memo\xe9.txt']);
    expect(existsSync(to)).toBe(false);
    const bytes = Buffer.from('SO_ARC/memo\xe9.txt', 'latin1').toString('base64');
    expect((await run({ archiveTo: to, fileBytes: bytes })).archive).toMatchObject({ files: 1, renamed: [], failed: [] });
    expect(readdirSync(path.join(to, 'SO_ARC'), { encoding: 'buffer' }).map((b) => b.toString('latin1'))).toEqual(['memo\xe9.txt']);
    // The Latin-1 "caf\xe8.txt" is reachable too, though a real "caf\uFFFD.txt" takes the text.
    expect((await run({ archiveTo: to, fileBytes: Buffer.from('caf\xe8.txt', 'latin1').toString('base64') })).archive).toMatchObject({
      files: 1,
    });
    expect(readFileSync(Buffer.from(`${to}/SO_ARC/caf\xe8.txt`, 'latin1'), 'utf8')).toBe('Latin-1 è');
  });

  test('GIVEN a link WHEN --file names it THEN the link is restored, as a link', async () => {
    const to = path.join(dir, 'link');
    expect((await run({ archiveTo: to, file: 'SO_ARC/latest offer' })).archive).toMatchObject({ files: 0, links: 1 });
    expect(readlinkSync(path.join(to, 'SO_ARC', 'latest offer'))).toBe('ANNA/Tilbud.docx');
  });

  test('GIVEN a folder with an earlier one-file restore whose folder is now a link WHEN another --file goes there THEN nothing is written through the link', async () => {
    const to = path.join(dir, 'second');
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    mkdirSync(path.join(to, 'SO_ARC'), { recursive: true });
    symlinkSync(outside, path.join(to, 'SO_ARC', 'ANNA'));
    const result = await run({ archiveTo: to, file: 'SO_ARC/ANNA/Tilbud.docx' });
    expect(result.archive).toMatchObject({
      files: 0,
      failed: [{ path: 'SO_ARC/ANNA/Tilbud.docx', reason: expect.stringContaining('is now a link') }],
    });
    expect(readdirSync(outside)).toEqual([]);
  });
});

/** A bind mount needs root (mount(2) with CAP_SYS_ADMIN); elsewhere the suite says why it is skipped. */
const canMount = process.getuid?.() === 0 && process.platform === 'linux';
if (!canMount) console.warn('skipping "the live-archive guard sees through bind mounts": mount --bind needs root');

(canMount ? describe : describe.skip)('the live-archive guard sees through bind mounts', () => {
  test('GIVEN the live archive bind-mounted at another path WHEN --archive-to a new folder inside the mount, or the mount itself, or a mount of a folder holding it THEN each is refused before anything is asked or written; a sibling is fine', async () => {
    const { dir, archive } = setUp('bind');
    writeFileSync(path.join(archive, 'live.docx'), 'live');
    const bind = path.join(dir, 'bind');
    const holder = path.join(dir, 'holder');
    mkdirSync(bind);
    mkdirSync(path.join(holder, 'inner'), { recursive: true });
    execFileSync('mount', ['--bind', archive, bind]);
    execFileSync('mount', ['--bind', dir, path.join(holder, 'inner')]);
    try {
      const live = [{ name: 'SO_ARC', path: archive }];
      for (const target of [
        path.join(bind, 'newdir'),
        bind,
        path.join(bind, 'a', 'b'),
        path.join(holder, 'inner', 'SO_ARC', 'x'),
        path.join(holder, 'inner'),
      ]) {
        await expect(checkRestoreChoices({ archiveTo: target, liveRoots: live })).rejects.toMatchObject({
          code: 'RESTORE_INTO_LIVE_ARCHIVE',
        });
      }
      await expect(checkRestoreChoices({ archiveTo: path.join(dir, 'restored'), liveRoots: live })).resolves.toBeUndefined();
      expect(readdirSync(archive)).toEqual(['live.docx']);
    } finally {
      execFileSync('umount', [path.join(holder, 'inner')]);
      execFileSync('umount', [bind]);
    }
  });
});

describe('--at', () => {
  test('GIVEN a calendar date or a time with its zone THEN it is the instant meant; a day the month does not have, a time without a zone or nonsense is refused (exit 2), never moved to another day', () => {
    expect(parseRestoreDate('2026-11-20')).toBe('2026-11-20T23:59:59.999Z');
    expect(parseRestoreDate('2028-02-29')).toBe('2028-02-29T23:59:59.999Z');
    expect(parseRestoreDate('2026-11-20T14:00:00Z')).toBe('2026-11-20T14:00:00.000Z');
    expect(parseRestoreDate('2026-11-20T15:00+01:00')).toBe('2026-11-20T14:00:00.000Z');
    expect(parseRestoreDate('2026-11-25T10:11:12.345678Z')).toBe('2026-11-25T10:11:12.345Z');
    for (const [text, why] of [
      ['2026-02-30', '2026-02 has 28 days'],
      ['2026-02-29', '2026-02 has 28 days'],
      ['2026-04-31', '2026-04 has 30 days'],
      ['2026-13-01', 'has no month 13'],
      ['2026-11-20T14:00', 'has a time but no time zone'],
      ['2026-11-20T24:00Z', 'is not a time of day'],
      ['2026-11-20T14:60Z', 'is not a time of day'],
      ['20.11.2026', 'is not a date'],
      ['yesterday', 'is not a date'],
      ['2026-11-20T14:00+25:00', 'has no time zone'],
    ]) {
      expect(() => parseRestoreDate(text!)).toThrow(
        expect.objectContaining({ code: 'RESTORE_ARGUMENTS', message: expect.stringContaining(why!) }),
      );
    }
  });
});
