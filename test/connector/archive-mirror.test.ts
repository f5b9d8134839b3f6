import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { gzipSnapshot } from '../../connector/src/repository';
import { archiveDetail, ArchiveIndex, backupArchive, indexEntry, isNetworkPath, mirrorArchive, scanRoot } from '../../connector/src/backup';
import { windowAfter } from '../helpers/window-clock';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { archiveSnapshotSchema, keyLayout } from '../../protocol';
import { withReusedInode } from '../helpers/inode-reuse';
import { MemoryObjectStore } from '../helpers/memory-object-store';
import { UploadPaused } from '../../connector/src/store/object-store';

const logger = pino({ level: 'silent' });

/** Every file below a folder as "relative path" → content, and every empty folder as "path/" → "". */
function tree(root: string, prefix = ''): Record<string, string> {
  const entries = readdirSync(path.join(root, prefix), { withFileTypes: true });
  if (entries.length === 0 && prefix) return { [`${prefix}/`]: '' };
  return Object.fromEntries(
    entries.flatMap((entry) => {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      return entry.isDirectory() ? Object.entries(tree(root, relative)) : [[relative, readFileSync(path.join(root, relative), 'latin1')]];
    }),
  );
}

function write(root: string, relative: string, content: string | Buffer): string {
  const file = path.join(root, ...relative.split('/'));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

/** One archive run as the connector does it; returns the summary and the parsed snapshot. */
async function run(store: MemoryObjectStore, stateDir: string, archive: string, runId: string) {
  const summary = await backupArchive({ tenantId: 'acme', runId }, [{ name: 'SO_ARC', path: archive }], { store, stateDir, logger });
  const snapshot = archiveSnapshotSchema.parse(JSON.parse(gunzipSync(store.current(summary.snapshot.key)!).toString('utf8')));
  return { summary, snapshot, calls: { ...store.calls } };
}

function setUp(name: string) {
  const dir = mkdtempSync(path.join(tmpdir(), `so-backup-${name}-`));
  return { dir, archive: path.join(dir, 'SO_ARC'), state: path.join(dir, 'state'), store: new MemoryObjectStore() };
}

/** Rewrites the saved index as a version 3 connector wrote it: no birth times, no modes. */
function asVersion3Index(stateDir: string): void {
  const file = path.join(stateDir, 'archive-index.json');
  const lines = readFileSync(file, 'utf8').split('\n');
  const body = lines.slice(
    0,
    lines.findIndex((line) => line.startsWith('sha256:')),
  );
  const v3 = body
    .map((line, i) => {
      if (i === 0) return line.replace('"v":4', '"v":3');
      if (!line.startsWith('[')) return line;
      const comma = line.endsWith(',');
      const row = JSON.parse(comma ? line.slice(0, -1) : line) as unknown[];
      return JSON.stringify(row.slice(0, 8)) + (comma ? ',' : '');
    })
    .join('\n');
  writeFileSync(file, `${v3}\nsha256:${createHash('sha256').update(v3).digest('hex')}\n`);
}

const since = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([name, count]) => [name, count - (before[name] ?? 0)])
      .filter(([, count]) => count !== 0),
  );

describe('archive mirror', () => {
  test('GIVEN an unchanged tree WHEN mirrored again THEN nothing is read or sent and the index file is not rewritten', async () => {
    const { archive, state, store } = setUp('nochange');
    write(archive, 'ANNA/2026.11/offer.docx', 'offer');
    write(archive, 'ANNA/mail.eml', 'mail');
    const first = await run(store, state, archive, 'acme-2026-11-25-daily');
    const indexFile = path.join(state, 'archive-index.json');
    const written = statSync(indexFile).mtimeMs;
    const second = await run(store, state, archive, 'acme-2026-11-26-daily');
    expect(since(first.calls, second.calls)).toEqual({}); // only the snapshot, through putBuffer (not counted)
    expect(second.summary).toMatchObject({ files: 2, uploadedFiles: 0, deletedFiles: 0 });
    expect(statSync(indexFile).mtimeMs).toBe(written);
  });

  test('GIVEN a renamed file and a folder moved WHEN mirrored THEN they are copied inside S3, not sent; the old names get delete markers', async () => {
    const { archive, state, store } = setUp('rename');
    write(archive, 'ANNA/2026.11/offer.docx', 'offer, version 1');
    write(archive, 'ANNA/2026.11/contract.pdf', 'contract');
    write(archive, 'PER/notes.txt', 'notes');
    const first = await run(store, state, archive, 'acme-2026-11-25-daily');
    renameSync(path.join(archive, 'ANNA', '2026.11', 'offer.docx'), path.join(archive, 'ANNA', '2026.11', 'offer (signed).docx'));
    renameSync(path.join(archive, 'PER'), path.join(archive, 'PER HANSEN'));
    const second = await run(store, state, archive, 'acme-2026-11-26-daily');
    expect(since(first.calls, second.calls)).toEqual({ copyVersion: 2, markDeleted: 2 });
    // The birth time proves each is the very file renamed: none is even opened.
    expect(second.summary).toMatchObject({ files: 3, uploadedFiles: 2, copiedFiles: 2, deletedFiles: 2, readFiles: 0 });
    const renamed = second.snapshot.files.find((f) => f.path === 'ANNA/2026.11/offer (signed).docx')!;
    expect(renamed).toMatchObject({
      uploaded: true,
      sha256: first.snapshot.files.find((f) => f.path === 'ANNA/2026.11/offer.docx')!.sha256,
    });
    expect(store.current(renamed.key)!.toString()).toBe('offer, version 1');
    expect(store.current(keyLayout.archiveFile('acme', 'SO_ARC', 'ANNA/2026.11/offer.docx'))).toBeUndefined(); // delete marker
    expect(store.current(keyLayout.archiveFile('acme', 'SO_ARC', 'PER HANSEN/notes.txt'))!.toString()).toBe('notes');
  });

  test('GIVEN a document deleted and saved anew at the same path with the same size and time, on the inode the old one had WHEN mirrored THEN the new bytes are read and sent', async () => {
    const { archive, state, store } = setUp('same-path-reuse');
    const file = write(archive, 'ANNA/offer.docx', 'AAAA');
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    await run(store, state, archive, 'acme-2026-11-25-daily');
    rmSync(file);
    writeFileSync(file, 'BBBB');
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    await withReusedInode(state, 'SO_ARC/ANNA/offer.docx', file);
    const second = await run(store, state, archive, 'acme-2026-11-26-daily');
    expect(second.summary).toMatchObject({ readFiles: 1, uploadedFiles: 1 });
    expect(store.current(second.snapshot.files[0]!.key)!.toString()).toBe('BBBB');
  });

  test("GIVEN an index without birth times (an older connector) WHEN a file is renamed, and a deleted file's inode goes to a new one of the same size and time THEN the rename is read and hashed before it is copied, and the new file is sent", async () => {
    const { archive, state, store } = setUp('old-index-rename');
    write(archive, 'renamed.txt', 'same content');
    const gone = write(archive, 'gone.txt', '1111');
    utimesSync(gone, 1_700_000_000, 1_700_000_000);
    await run(store, state, archive, 'acme-2026-11-25-daily');
    renameSync(path.join(archive, 'renamed.txt'), path.join(archive, 'renamed again.txt'));
    rmSync(gone);
    const fresh = write(archive, 'fresh.txt', '2222');
    utimesSync(fresh, 1_700_000_000, 1_700_000_000);
    await withReusedInode(state, 'SO_ARC/gone.txt', fresh);
    asVersion3Index(state);
    const second = await run(store, state, archive, 'acme-2026-11-26-daily');
    expect(second.summary).toMatchObject({ readFiles: 2, uploadedFiles: 2, copiedFiles: 1, deletedFiles: 2 });
    expect(store.current(keyLayout.archiveFile('acme', 'SO_ARC', 'renamed again.txt'))!.toString()).toBe('same content');
    expect(store.current(keyLayout.archiveFile('acme', 'SO_ARC', 'fresh.txt'))!.toString()).toBe('2222');
  });

  test('GIVEN Unicode names (NFD on disk), names differing only in normalization, deep and long paths, empty files and empty folders WHEN mirrored and restored THEN all survive, byte for byte and name for name', async () => {
    const { dir, archive, state, store } = setUp('names');
    const nfd = 'Tilbud Ærø – Müller'.normalize('NFD');
    write(archive, `ÅSE/${nfd}.docx`, 'decomposed name');
    write(archive, 'ZOË/café.txt', 'composed');
    write(archive, `ZOË/${'café'.normalize('NFD')}.txt`, 'the same name, decomposed');
    const deep = Array.from({ length: 12 }, (_, i) => `folder ${i} with a fairly long name`).join('/');
    const longName = `${'a very long document name '.repeat(8)}.pdf`;
    write(archive, `${deep}/${longName}`, 'deep');
    write(archive, 'empty.txt', '');
    mkdirSync(path.join(archive, 'KARI', '2026.12'), { recursive: true });
    expect(`${deep}/${longName}`.length).toBeGreaterThan(600);

    const { summary, snapshot } = await run(store, state, archive, 'acme-2026-11-25-daily');
    const paths = snapshot.files.map((f) => f.path);
    // Exact names: nothing normalized, and two names that differ only in normalization are two files with two keys.
    expect(paths).toEqual(
      expect.arrayContaining([`ÅSE/${nfd}.docx`, `${deep}/${longName}`, 'empty.txt', 'ZOË/café.txt', `ZOË/${'café'.normalize('NFD')}.txt`]),
    );
    expect(snapshot.files.find((f) => f.path === `ÅSE/${nfd}.docx`)!.key).toBe(`archive/acme/SO_ARC/ÅSE/${nfd}.docx`);
    expect(new Set(snapshot.files.map((f) => f.key)).size).toBe(snapshot.files.length);
    expect(summary.skipped).toEqual([]);
    expect(snapshot.files.find((f) => f.path === 'empty.txt')).toMatchObject({
      size: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
    expect(snapshot.emptyFolders).toEqual([{ root: 'SO_ARC', path: 'KARI/2026.12' }]);

    const restored = path.join(dir, 'restored');
    await materializeSnapshot(snapshot.files, store, restored, { emptyFolders: snapshot.emptyFolders });
    expect(tree(path.join(restored, 'SO_ARC'))).toEqual(tree(archive));
  });

  test('GIVEN a file the service account may not read WHEN mirrored THEN it is skipped with the reason, its last good version stays in the snapshot and is not deleted', async () => {
    const { archive, state, store } = setUp('denied');
    const secret = write(archive, 'HR/salaries.xlsx', 'v1');
    write(archive, 'open.txt', 'open');
    await run(store, state, archive, 'acme-2026-11-25-daily');
    writeFileSync(secret, 'v2, now locked down');
    utimesSync(secret, new Date(), new Date(Date.now() + 5000));
    // Tests run as root, which file permissions do not stop: the fault is injected where the file is opened.
    const denying = Object.assign(Object.create(store) as MemoryObjectStore, {
      putFile: async (key: string, file: string) => {
        if (file === secret) throw Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: 'EACCES' });
        return store.putFile(key, file);
      },
    });
    const summary = await backupArchive({ tenantId: 'acme', runId: 'acme-2026-11-26-daily' }, [{ name: 'SO_ARC', path: archive }], {
      store: denying,
      stateDir: state,
      logger,
    });
    const snapshot = archiveSnapshotSchema.parse(JSON.parse(gunzipSync(store.current(summary.snapshot.key)!).toString('utf8')));
    expect(summary.skipped).toEqual([
      { root: 'SO_ARC', path: 'HR/salaries.xlsx', reason: 'permission denied (give the service account read access)' },
    ]);
    expect(summary).toMatchObject({ files: 2, deletedFiles: 0, skippedFiles: 1 });
    expect(snapshot.files.find((f) => f.path === 'HR/salaries.xlsx')).toMatchObject({ uploaded: false, size: 2 });
    expect(store.current(keyLayout.archiveFile('acme', 'SO_ARC', 'HR/salaries.xlsx'))!.toString()).toBe('v1');
  });

  test('GIVEN the index deleted (and one file changed, one deleted meanwhile) WHEN mirrored THEN it is rebuilt from S3 with no file sent again but the changed one', async () => {
    const { archive, state, store } = setUp('rebuild');
    for (let i = 0; i < 20; i++) write(archive, `ANNA/2026.${(i % 12) + 1}/doc ${i}.docx`, `document ${i}`);
    const first = await run(store, state, archive, 'acme-2026-11-25-daily');
    // The cloud validated the run and promoted its snapshot into the daily tier, where a rebuild reads it.
    await store.putBuffer(keyLayout.snapshot('acme'), store.current(first.summary.snapshot.key)!);
    rmSync(path.join(state, 'archive-index.json'));
    write(archive, 'ANNA/2026.1/doc 0.docx', 'document 0, edited after the index was lost');
    rmSync(path.join(archive, 'ANNA', '2026.2', 'doc 1.docx'));
    const before = { ...store.calls };
    const { summary, snapshot, calls } = await run(store, state, archive, 'acme-2026-11-26-daily');
    expect(since(before, calls)).toEqual({ latestVersions: 2, putFile: 1, markDeleted: 1 });
    expect(summary).toMatchObject({ files: 19, uploadedFiles: 1, deletedFiles: 1 });
    expect(snapshot.files.filter((f) => f.uploaded).map((f) => f.path)).toEqual(['ANNA/2026.1/doc 0.docx']);
    await store.putBuffer(keyLayout.snapshot('acme'), store.current(summary.snapshot.key)!); // validated and promoted too

    // A damaged index is detected by its checksum line and rebuilt the same way.
    const indexFile = path.join(state, 'archive-index.json');
    writeFileSync(indexFile, readFileSync(indexFile, 'utf8').replace('doc 5', 'doc 6'));
    const index = await ArchiveIndex.load(state);
    expect(index.found).toEqual({ state: 'corrupt', problem: 'the index does not match its checksum (damaged on disk)' });
    const again = await mirrorArchive('acme', [{ name: 'SO_ARC', path: archive }], store, index);
    expect(again).toMatchObject({
      uploadedFiles: 0,
      deletedFiles: 0,
      files: 19,
      rebuilt: {
        reason: 'index damaged: the index does not match its checksum (damaged on disk)',
        adoptedFiles: 19,
        snapshotRunId: 'acme-2026-11-26-daily',
      },
    });
  });

  test('GIVEN a file copied back with its timestamps (a new file id) WHEN mirrored THEN it is read and compared, not sent', async () => {
    const { archive, state, store } = setUp('fileid');
    const file = write(archive, 'restored.docx', 'same bytes');
    const mtime = new Date('2026-11-20T10:00:00.000Z');
    utimesSync(file, mtime, mtime);
    const first = await run(store, state, archive, 'acme-2026-11-25-daily');
    copyFileSync(file, `${file}.tmp`);
    rmSync(file);
    renameSync(`${file}.tmp`, file);
    utimesSync(file, mtime, mtime);
    const second = await run(store, state, archive, 'acme-2026-11-26-daily');
    expect(since(first.calls, second.calls)).toEqual({});
    expect(second.summary.uploadedFiles).toBe(0);
  });

  test('the index survives a round trip with 0 and with many entries, and a cut-short file is detected', async () => {
    const { state } = setUp('index');
    const empty = await ArchiveIndex.load(state);
    expect(empty.found).toEqual({ state: 'missing' });
    await empty.save();
    expect((await ArchiveIndex.load(state)).found).toEqual({ state: 'loaded' });
    const index = await ArchiveIndex.load(state);
    for (let i = 0; i < 3000; i++) {
      index.set(
        `SO_ARC/ÅSE/dokument "${i}", med\nlinjeskift.txt`,
        indexEntry(
          {
            size: i,
            mtimeNs: 1764000000000500123n + BigInt(i),
            fileId: String(i),
            birthNs: i % 3 === 0 ? 0n : 1763000000000000123n + BigInt(i),
            attributes: i % 4,
            mode: i % 5 === 0 ? -1 : 0o640 + (i % 8),
          },
          'ab'.repeat(32),
          `v${i}`,
        ),
      );
    }
    await index.save();
    const again = await ArchiveIndex.load(state);
    expect(again.found).toEqual({ state: 'loaded' });
    expect([...again.entries]).toEqual([...index.entries]);
    const file = path.join(state, 'archive-index.json');
    writeFileSync(file, readFileSync(file).subarray(0, 100_000));
    expect((await ArchiveIndex.load(state)).found).toMatchObject({ state: 'corrupt' });
  });

  test('GIVEN the parallel scan used for UNC shares WHEN it walks a tree (pausing when asked) THEN it finds exactly what the local scan finds', async () => {
    const { archive } = setUp('scan');
    for (let i = 0; i < 300; i++) write(archive, `U${i % 7}/2026.${(i % 12) + 1}/d${i}.txt`, `doc ${i}`);
    mkdirSync(path.join(archive, 'EMPTY', 'deeper'), { recursive: true });
    const collect = async (options: Parameters<typeof scanRoot>[2]) => {
      const seen: string[] = [];
      await scanRoot(
        archive,
        {
          file: (f) => seen.push(`${f.relative}:${f.size}`),
          emptyFolder: (p) => seen.push(`${p}/`),
          link: (l) => seen.push(`${l.relative} -> ${l.target}`),
          unreadable: (p) => seen.push(`!${p}`),
          folder: (p, facts) => seen.push(`${p}/ ${facts.mtimeNs} ${facts.mode.toString(8)}`),
        },
        options,
      );
      return seen.sort();
    };
    let pauses = 0;
    const local = await collect({});
    const parallel = await collect({
      parallel: 8,
      pause: () => (++pauses % 5 === 0 ? new Promise((resolve) => setTimeout(resolve, 5)) : undefined),
    });
    expect(parallel).toEqual(local);
    expect(local).toHaveLength(301 + 7 + 7 * 12 + 2); // files and the empty folder; every folder with its time and mode
    expect(local).toContain('EMPTY/deeper/');
    expect(isNetworkPath('\\\\fileserver\\SO_ARC')).toBe(true);
    expect(isNetworkPath('D:\\SO_ARC')).toBe(false);
  });

  test('the snapshot is a multi-member gzip that one gunzip reads whole', async () => {
    const files = Array.from({ length: 2_500 }, (_, i) => ({
      root: 'SO_ARC',
      path: `f${i}`,
      key: `archive/acme/SO_ARC/f${i}`,
      versionId: `v${i}`,
      size: i,
      mtimeMs: i,
      sha256: 'a'.repeat(64),
      uploaded: false,
    }));
    const parsed = archiveSnapshotSchema.parse(
      JSON.parse(gunzipSync(Buffer.concat(await gzipSnapshot('acme-2026-11-25-daily', files, []))).toString('utf8')),
    );
    expect(parsed.files).toEqual(files);
  });
});

describe('archive mirror: the backup window', () => {
  const roots = (archive: string) => [{ name: 'SO_ARC', path: archive }];

  test('GIVEN the window ends while two files are being sent WHEN the mirror goes on THEN both finish whole and are recorded, no further file starts, the rest is pending, and progress says so', async () => {
    const { archive, state } = setUp('window-in-flight');
    for (let i = 1; i <= 5; i++) write(archive, `ANNA/document ${i}.pdf`, `document ${i} `.repeat(i * 10));
    const gates: Array<() => void> = [];
    class GatedStore extends MemoryObjectStore {
      override async putFile(...args: Parameters<MemoryObjectStore['putFile']>) {
        await new Promise<void>((resolve) => gates.push(resolve));
        return super.putFile(...args);
      }
    }
    const store = new GatedStore();
    const windowEndsAt = new Date('2026-11-30T06:00:00Z');
    let clock = windowEndsAt.getTime() - 1;
    const details: string[] = [];
    const index = await ArchiveIndex.load(state);
    const mirroring = mirrorArchive('acme', roots(archive), store, index, {
      concurrency: 2,
      windowEndsAt,
      now: () => clock,
      onProgress: (done, _bytes, window) => details.push(archiveDetail(done, window)),
    });
    while (gates.length < 2) await new Promise((resolve) => setImmediate(resolve));
    clock = windowEndsAt.getTime(); // the window ends with two files in flight
    gates.shift()!();
    while (!details.some((d) => d.startsWith('window ended'))) await new Promise((resolve) => setImmediate(resolve));
    expect(details).toContain('window ended: finishing 1 file(s) in flight');
    gates.shift()!();
    const result = await mirroring;
    expect(gates).toHaveLength(0); // no third file started
    expect(store.calls.putFile).toBe(2);
    expect(result).toMatchObject({ uploadedFiles: 2, files: 2, pending: { files: 3 } });
    expect(details.at(-1)).toBe('window ended: nothing more is sent; 3 file(s) left for the next run so far');
    // The two sent files are whole in S3 and in the index; the next run sends only the other three.
    for (const file of result.snapshotFiles()) expect(store.current(file.key)!.length).toBe(file.size);
    await index.save();
    const next = await mirrorArchive('acme', roots(archive), new MemoryObjectStore(), await ArchiveIndex.load(state));
    expect(next).toMatchObject({ uploadedFiles: 3, files: 5, pending: { files: 0, bytes: 0 } });
  });

  test("GIVEN a window ending on this machine's clock while a large file is in flight WHEN the alarm rings THEN the store is asked to pause between parts, the file counts as pending, and one sent in one PUT finishes", async () => {
    const { archive, state } = setUp('window-alarm');
    write(archive, 'ANNA/large scan.tif', 'y'.repeat(1_000));
    write(archive, 'ANNA/offer.docx', 'a small offer');
    let asked = 0;
    class PartsStore extends MemoryObjectStore {
      override async putFile(...args: Parameters<MemoryObjectStore['putFile']>) {
        const [key, , options] = args;
        if (!key.endsWith('large scan.tif')) {
          await new Promise((resolve) => setTimeout(resolve, 400)); // in flight at the window's end: finishes
          return super.putFile(...args);
        }
        // "Parts" of 10 ms; between each, the store asks whether to pause (as S3ObjectStore does).
        for (;;) {
          asked++;
          if (options?.pause?.()) throw new UploadPaused(key, 300, { inStore: 3, of: 10 });
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }
    const details: string[] = [];
    const result = await mirrorArchive('acme', roots(archive), new PartsStore(), await ArchiveIndex.load(state), {
      concurrency: 2,
      windowEndsAt: new Date(Date.now() + 150), // no `now` injected: the real clock and its timer
      onProgress: (done, _bytes, window) => details.push(archiveDetail(done, window)),
    });
    expect(asked).toBeGreaterThan(1);
    expect(result).toMatchObject({ uploadedFiles: 1, files: 1, pending: { files: 1, bytes: 1_000, partsBytes: 300 } });
    expect([...result.snapshotFiles()].map((f) => f.path)).toEqual(['ANNA/offer.docx']);
    expect(details.some((d) => d.startsWith('window ended'))).toBe(true);
  });

  test('GIVEN a window and a slow bandwidth limit WHEN files are sent THEN no more are in flight than the limit sends in 10 s (at least one), so few are left to finish when the window ends', async () => {
    const { archive, state } = setUp('window-in-flight-bytes');
    for (let i = 1; i <= 6; i++) write(archive, `ANNA/document ${i}.pdf`, 'x'.repeat(100));
    write(archive, 'ANNA/large scan.tif', 'y'.repeat(1_000)); // more than the limit sends in 10 s: goes alone
    const gates: Array<() => void> = [];
    let most = 0;
    const partBudgets = new Set<number | null | undefined>();
    class GatedStore extends MemoryObjectStore {
      override async putFile(...args: Parameters<MemoryObjectStore['putFile']>) {
        partBudgets.add(args[2]?.partBytesInFlight?.());
        await new Promise<void>((resolve) => {
          gates.push(resolve);
          most = Math.max(most, gates.length);
        });
        return super.putFile(...args);
      }
    }
    const store = new GatedStore();
    const mirroring = mirrorArchive('acme', roots(archive), store, await ArchiveIndex.load(state), {
      concurrency: 24,
      windowEndsAt: new Date('2026-11-30T06:00:00Z'),
      now: () => new Date('2026-11-30T01:00:00Z').getTime(),
      uploadRate: () => 25, // 250 bytes in 10 s: two 100-byte documents at once
    });
    let settled = false;
    void mirroring.finally(() => (settled = true));
    while (!settled) {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      gates.shift()?.();
    }
    const result = await mirroring;
    expect(most).toBe(2);
    expect(result).toMatchObject({ uploadedFiles: 7, pending: { files: 0 } });
    // A large file's parts are held to the same budget (t20b N4: 6 parts of 5 MiB went at once at any limit).
    expect([...partBudgets]).toEqual([250]);
  });

  test('GIVEN a window already past WHEN a renamed, a deleted, an unchanged and a new file are mirrored THEN the rename is copied inside S3 and the deletion marked (nothing sent), only the new file is pending', async () => {
    const { archive, state, store } = setUp('window-past');
    write(archive, 'ANNA/offer.docx', 'offer');
    write(archive, 'ANNA/old mail.eml', 'old mail');
    write(archive, 'PER/notes.txt', 'notes');
    await run(store, state, archive, 'acme-2026-11-28-daily');
    renameSync(path.join(archive, 'ANNA', 'offer.docx'), path.join(archive, 'ANNA', 'offer (signed).docx'));
    rmSync(path.join(archive, 'ANNA', 'old mail.eml'));
    write(archive, 'PER/new scan.pdf', 'a new scan');
    const before = { ...store.calls };
    const summary = await backupArchive({ tenantId: 'acme', runId: 'acme-2026-11-29-daily' }, roots(archive), {
      store,
      stateDir: state,
      logger,
      ...windowAfter(0),
    });
    // The old name of the renamed file and the deleted mail get delete markers.
    expect(since(before, store.calls)).toEqual({ copyVersion: 1, markDeleted: 2 });
    expect(summary).toMatchObject({
      files: 2,
      copiedFiles: 1,
      deletedFiles: 2,
      readFiles: 0,
      pending: { files: 1, bytes: 'a new scan'.length, reason: 'window' },
    });
  });

  test('GIVEN files left pending WHEN the next nights delete some, re-send a changed one and add new ones THEN only sending a file the night before left pending counts as backlog sent (t20b N1/N2: the seeding is judged by it)', async () => {
    const { archive, state, store } = setUp('window-backlog');
    // Two roots, scanned in order: the file that keeps changing is always the first to go.
    const mail = path.join(path.dirname(archive), 'MAIL');
    const both = [
      { name: 'MAIL', path: mail },
      { name: 'SO_ARC', path: archive },
    ];
    const night = (runId: string, sends: number) =>
      backupArchive({ tenantId: 'acme', runId }, both, { store, stateDir: state, logger, concurrency: 1, ...windowAfter(sends) });
    const pendingIds = () => JSON.parse(readFileSync(path.join(state, 'archive-pending.json'), 'utf8')).ids.sort();
    write(mail, 'inbox.eml', 'mail');
    for (const name of ['a', 'b', 'c']) write(archive, `SEED/${name}.pdf`, name.repeat(100));
    // Night 1: no record of an earlier night, so no count (the cloud's first-run rule applies).
    const first = await night('acme-2026-11-27-daily', 1);
    expect(first).toMatchObject({ uploadedFiles: 1, pending: { files: 3, bytes: 300 } });
    expect(first.backlogSent).toBeUndefined();
    expect(pendingIds()).toEqual(['SO_ARC/SEED/a.pdf', 'SO_ARC/SEED/b.pdf', 'SO_ARC/SEED/c.pdf']);
    // Night 2: a pending file deleted, the mail changed and sent again; the backlog waits: no backlog sent.
    rmSync(path.join(archive, 'SEED', 'a.pdf'));
    write(mail, 'inbox.eml', 'mail, changed');
    const second = await night('acme-2026-11-28-daily', 1);
    expect(second).toMatchObject({ uploadedFiles: 1, pending: { files: 2, bytes: 200 }, backlogSent: { files: 0, bytes: 0 } });
    // Night 3: a bulk import of new files; everything goes: two backlog files, the new ones are not backlog.
    for (let i = 0; i < 5; i++) write(archive, `IMPORT/new ${i}.pdf`, 'n'.repeat(50));
    const third = await night('acme-2026-11-29-daily', 100);
    expect(third).toMatchObject({ uploadedFiles: 7, backlogSent: { files: 2, bytes: 200 } });
    expect(third.pending).toBeUndefined();
    expect(pendingIds()).toEqual([]);
  });
});
