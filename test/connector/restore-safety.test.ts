import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { backupArchive } from '../../connector/src/backup';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { archiveSnapshotSchema, type ArchiveSnapshot, keyLayout } from '../../protocol';
import { MemoryObjectStore } from '../helpers/memory-object-store';

/**
 * What a restore writes, and where it must not: never through a link, never a file that is
 * already there exactly; modes and folder times come back.
 */
const logger = pino({ level: 'silent' });
const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

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
  materializeSnapshot(snapshot.files, store, '.', { emptyFolders: snapshot.emptyFolders, links: snapshot.links, folders: snapshot.folders, rootFolder: () => live, replace: true });

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
    expect(result.failed.map((f) => f.path).sort()).toEqual(['SO_ARC/ANNA/2026.11/Tilbud.docx', 'SO_ARC/EMPTY/inner', 'SO_ARC/PER/notes.txt']);
    expect(result.failed.find((f) => f.path === 'SO_ARC/PER/notes.txt')!.reason).toMatch(/^the folder SO_ARC\/PER is now a link \(to .*nowhere\) on the target: nothing is written through a link/);
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
    const result = await materializeSnapshot([forged], store, path.join(dir, 'restored'), { links: [{ root: 'SO_ARC', path: 'a', target: outside, kind: 'dir' }], emptyFolders: [] });
    expect(readdirSync(outside)).toEqual([]);
    expect(result.links).toBe(1);
    expect(result.renamed).toEqual([{ path: 'SO_ARC/a/doc.txt', restoredAs: 'SO_ARC/a (conflict 2)/doc.txt', reason: expect.stringContaining('a file of the same name') }]);
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
    const after = await backupArchive({ tenantId: 'acme', runId: 'acme-2026-11-26-daily' }, [{ name: 'SO_ARC', path: archive }], { store, stateDir: state, logger });
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
    const result = await materializeSnapshot(snapshot.files, store, to, { emptyFolders: snapshot.emptyFolders, links: snapshot.links, folders: snapshot.folders });
    expect(result).toMatchObject({ files: 3, failed: [] });
    const restored = path.join(to, 'SO_ARC');
    const mode = (relative: string) => statSync(path.join(restored, relative)).mode & 0o7777;
    expect({ run: mode('bin/run.sh'), secret: mode('secret.txt'), locked: mode('locked'), bin: mode('bin') }).toEqual({ run: 0o755, secret: 0o600, locked: 0o555, bin: statSync(path.join(archive, 'bin')).mode & 0o7777 });
    for (const folder of ['bin', 'locked', 'locked/deep']) {
      expect({ folder, ns: statSync(path.join(restored, folder), { bigint: true }).mtimeNs }).toEqual({ folder, ns: statSync(path.join(archive, folder), { bigint: true }).mtimeNs });
    }
    chmodSync(path.join(restored, 'locked'), 0o755); // so that the temporary folder can be removed
    chmodSync(path.join(archive, 'locked'), 0o755);
  });
});
