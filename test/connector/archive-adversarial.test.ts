import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { backupArchive } from '../../connector/src/backup';
import { isSameOrBelow } from '../../connector/src/backup/archive-scan';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { archiveSnapshotSchema, keyLayout } from '../../protocol';
import { withReusedInode } from '../helpers/inode-reuse';
import { MemoryObjectStore } from '../helpers/memory-object-store';

/**
 * Defects found by attacking issue 17's build as a user would (helper v17): each test fails
 * today and states what a user expects.
 */
const logger = pino({ level: 'silent' });

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function setUp(name: string) {
  const dir = mkdtempSync(path.join(tmpdir(), `so-backup-adversarial-${name}-`));
  made.push(dir);
  const archive = path.join(dir, 'SO_ARC');
  mkdirSync(archive);
  return { dir, archive, state: path.join(dir, 'state'), store: new MemoryObjectStore() };
}

async function backup(store: MemoryObjectStore, state: string, archive: string, runId: string) {
  const summary = await backupArchive({ tenantId: 'acme', runId }, [{ name: 'SO_ARC', path: archive }], { store, stateDir: state, logger });
  const snapshot = archiveSnapshotSchema.parse(JSON.parse(gunzipSync(store.current(summary.snapshot.key)!).toString('utf8')));
  return { summary, snapshot };
}

describe('issue 17, attacked (helper v17)', () => {
  test("GIVEN a document deleted and a new one of the same size and time created under another name (the file system reuses the inode) WHEN backed up THEN the new document's own bytes are backed up, not the deleted one's", async () => {
    const { archive, state, store, dir } = setUp('inode-reuse');
    const a = path.join(archive, 'a.txt');
    writeFileSync(a, '1111');
    utimesSync(a, 1_700_000_000, 1_700_000_000);
    await backup(store, state, archive, 'acme-2026-11-25-daily');
    unlinkSync(a);
    const b = path.join(archive, 'b.txt');
    writeFileSync(b, '2222');
    utimesSync(b, 1_700_000_000, 1_700_000_000);
    // Precondition: ext4 hands the freed inode to the next file created (Samba shares of it too);
    // where it did not this time, the index is made to say what it would have said.
    await withReusedInode(state, 'SO_ARC/a.txt', b);
    const { snapshot } = await backup(store, state, archive, 'acme-2026-11-26-daily');
    const restored = path.join(dir, 'restored');
    await materializeSnapshot(snapshot.files, store, restored);
    expect(readFileSync(path.join(restored, 'SO_ARC', 'b.txt'), 'utf8')).toBe('2222');
  });

  test('GIVEN documents with modification times before 1970 WHEN restored onto a new server THEN their times come back (within 1 µs) and the first run there reads no file', async () => {
    const { archive, state, store, dir } = setUp('pre-1970');
    // biome-ignore lint/correctness/noPrecisionLoss: times a double cannot hold exactly are the case under test
    const times = [-1.123456789, -300_000_000.987654321];
    times.forEach((t, i) => {
      const file = path.join(archive, `old${i}.pdf`);
      writeFileSync(file, `old ${i}`);
      // Node's utimes takes a negative number as "now"; a Date carries the negative time through.
      utimesSync(file, new Date(t * 1000), new Date(t * 1000));
    });
    const { snapshot, summary } = await backup(store, state, archive, 'acme-2026-11-25-daily');
    // The cloud validated the run and promoted its snapshot, where an index rebuild reads it (as finalize does).
    await store.putBuffer(keyLayout.snapshot('acme'), store.current(summary.snapshot.key)!);
    const newServer = path.join(dir, 'new-server');
    await materializeSnapshot(snapshot.files, store, newServer);
    for (const f of snapshot.files) {
      const off = statSync(path.join(newServer, 'SO_ARC', f.path), { bigint: true }).mtimeNs - BigInt(f.mtimeNs!);
      expect({ path: f.path, withinOneMicrosecond: off < 1000n && off > -1000n }).toEqual({ path: f.path, withinOneMicrosecond: true });
    }
    const next = await backupArchive(
      { tenantId: 'acme', runId: 'acme-2026-11-26-daily' },
      [{ name: 'SO_ARC', path: path.join(newServer, 'SO_ARC') }],
      { store, stateDir: path.join(dir, 'new-state'), logger },
    );
    expect(next).toMatchObject({ files: 2, readFiles: 0, uploadedFiles: 0 });
  });

  test('GIVEN a live archive where a folder of the snapshot is now a link to a place outside it WHEN restored --into-live THEN nothing is written outside the live archive', async () => {
    const { archive, state, store, dir } = setUp('into-live-link');
    mkdirSync(path.join(archive, 'ANNA'));
    writeFileSync(path.join(archive, 'ANNA', 'Tilbud.docx'), 'offer');
    const { snapshot } = await backup(store, state, archive, 'acme-2026-11-25-daily');
    const elsewhere = path.join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(path.join(archive, 'ANNA'), { recursive: true });
    symlinkSync(elsewhere, path.join(archive, 'ANNA'));
    // What `so-connector restore --into-live` does (restore-run.ts): each root into its live folder, replacing.
    await materializeSnapshot(snapshot.files, store, '.', {
      emptyFolders: snapshot.emptyFolders,
      links: snapshot.links,
      rootFolder: () => archive,
      replace: true,
    }).catch(() => undefined);
    expect(existsSync(path.join(elsewhere, 'Tilbud.docx'))).toBe(false);
  });

  test('GIVEN a link to a folder inside the root whose name starts with ".." (e.g. "..old") WHEN backed up THEN it is not reported as leading out of the archive', async () => {
    const { archive, state, store } = setUp('dotdot-name');
    mkdirSync(path.join(archive, '..old'));
    writeFileSync(path.join(archive, '..old', 'doc.docx'), 'inside the archive');
    symlinkSync('..old', path.join(archive, 'link to old'));
    const { summary } = await backup(store, state, archive, 'acme-2026-11-25-daily');
    expect(summary.skipped).toEqual([]);
  });

  test('"inside the root" is decided by path segments, on both platforms: "..old" is inside, ".." and a sibling with the root\'s name as prefix are not', () => {
    expect(isSameOrBelow('/srv/SO_ARC/..old', '/srv/SO_ARC', path.posix)).toBe(true);
    expect(isSameOrBelow('/srv/SO_ARC/a/..b/c', '/srv/SO_ARC', path.posix)).toBe(true);
    expect(isSameOrBelow('/srv/SO_ARC', '/srv/SO_ARC', path.posix)).toBe(true);
    expect(isSameOrBelow('/srv', '/srv/SO_ARC', path.posix)).toBe(false);
    expect(isSameOrBelow('/srv/SO_ARC2/x', '/srv/SO_ARC', path.posix)).toBe(false);
    expect(isSameOrBelow('/srv/..SO_ARC', '/srv/SO_ARC', path.posix)).toBe(false);
    expect(isSameOrBelow('c:\\so_arc\\..old', 'C:\\SO_ARC', path.win32)).toBe(true);
    expect(isSameOrBelow('D:\\SO_ARC\\x', 'C:\\SO_ARC', path.win32)).toBe(false);
    expect(isSameOrBelow('C:\\SO_ARC1\\x', 'C:\\SO_ARC', path.win32)).toBe(false);
  });
});
