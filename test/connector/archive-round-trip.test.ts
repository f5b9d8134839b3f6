import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { backupArchive } from '../../connector/src/backup';
import type { HiddenAttribute } from '../../connector/src/files/file-attributes';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { runRestoreDrill } from '../../connector/src/restore/restore-drill';
import { restoreRun } from '../../connector/src/restore/restore-run';
import { defaultSemantics } from '../../connector/src/restore/target-paths';
import { ConnectorError } from '../../connector/src/errors';
import { archiveSnapshotSchema, keyLayout, manifestSchema } from '../../protocol';
import { runQuietBackupJob, testBackupJob } from '../helpers/backup-job';
import { connectorConfigFor } from '../helpers/connector-config';
import { exactTree, writeBytes } from '../helpers/exact-tree';
import { MemoryObjectStore } from '../helpers/memory-object-store';

/**
 * Issue 17, on Linux: each failing input is a test, backed up and restored through the
 * connector's own code (the store is in memory here; test/e2e/archive-round-trip.test.ts runs
 * one tree with all of them through Ceph RGW).
 */
const logger = pino({ level: 'silent' });
const job = testBackupJob;

function setUp(name: string) {
  const dir = mkdtempSync(path.join(tmpdir(), `so-backup-exact-${name}-`));
  const archive = path.join(dir, 'SO_ARC');
  mkdirSync(archive);
  return { dir, archive, state: path.join(dir, 'state'), store: new MemoryObjectStore() };
}

async function backup(store: MemoryObjectStore, state: string, archive: string, runId: string, options: { hidden?: HiddenAttribute } = {}) {
  const summary = await backupArchive({ tenantId: 'acme', runId }, [{ name: 'SO_ARC', path: archive }], {
    store,
    stateDir: state,
    logger,
    hiddenAttribute: options.hidden,
  });
  const snapshot = archiveSnapshotSchema.parse(JSON.parse(gunzipSync(store.current(summary.snapshot.key)!).toString('utf8')));
  // The cloud validated the run and promoted its snapshot into the daily tier, where an index rebuild reads it.
  await store.putBuffer(keyLayout.snapshot('acme'), store.current(summary.snapshot.key)!);
  return { summary, snapshot };
}

async function restore(
  store: MemoryObjectStore,
  snapshot: Awaited<ReturnType<typeof backup>>['snapshot'],
  to: string,
  more: Parameters<typeof materializeSnapshot>[3] = {},
) {
  return materializeSnapshot(snapshot.files, store, to, { emptyFolders: snapshot.emptyFolders, links: snapshot.links, ...more });
}

describe('issue 17: every document comes back exactly (Linux)', () => {
  test('1. GIVEN documents with 249- and 255-byte names WHEN restored (and drilled) THEN they come back: the temporary file has a short name of its own', async () => {
    const { dir, archive, store } = setUp('longname');
    const name249 = `${'Tilbud til kunde '.repeat(14)}${'x'.repeat(6)}.docx`;
    const name255 = `${'ø'.repeat(125)}.docx`;
    expect([Buffer.byteLength(name249), Buffer.byteLength(name255)]).toEqual([249, 255]);
    writeFileSync(path.join(archive, name249), 'long name');
    writeFileSync(path.join(archive, name255), 'longest name');
    const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
    const manifest = await runQuietBackupJob(job('acme-2026-11-25-daily'), { config, store });
    const grant = { runId: 'acme-2026-11-25-daily', startedAt: new Date().toISOString(), manifest };
    const restored = await restoreRun(
      { store, grant, progress: () => undefined },
      { archiveTo: path.join(dir, 'restored'), liveRoots: config.archive!.roots },
    );
    expect(restored.archive).toMatchObject({ files: 2, renamed: [], failed: [] });
    expect(readFileSync(path.join(dir, 'restored', 'SO_ARC', name249), 'utf8')).toBe('long name');
    expect(readdirSync(path.join(dir, 'restored', 'SO_ARC')).sort()).toEqual([name249, name255].sort());
    const drill = await runRestoreDrill(
      {
        type: 'drill-job',
        v: 1,
        drillId: 'acme-drill-0001',
        runId: grant.runId,
        startedAt: grant.startedAt,
        manifest,
        target: job('x').target,
        credentials: job('x').credentials,
        database: false,
        sampleFiles: 2,
      },
      { store, stagingFolder: path.join(dir, 'staging') },
    );
    expect(drill).toMatchObject({ ok: true, archive: { sampled: 2, verified: 2 } });
  });

  test('2. GIVEN a document at a 1,041-byte path WHEN backed up THEN it goes under a derived key with its true path in the snapshot, the run succeeds, and it is restored; a key S3 still refuses is one skipped file, never a failed run', async () => {
    const { dir, archive, state, store } = setUp('longpath');
    const folders = Array.from({ length: 4 }, (_, i) => `${i} ${'Kunder og prosjekter '.repeat(11)}`.slice(0, 230));
    const relative = `${folders.join('/')}/${'d'.repeat(1041 - folders.join('/').length - 6)}.docx`;
    expect(Buffer.byteLength(relative)).toBe(1041);
    writeFileSync(path.join(archive, 'short.txt'), 'short');
    writeBytes(archive, Buffer.from(relative), 'deep document');
    const { summary, snapshot } = await backup(store, state, archive, 'acme-2026-11-25-daily');
    const entry = snapshot.files.find((f) => f.path === relative)!;
    expect(entry.key).toMatch(/^archive\/acme\/SO_ARC\/%hash\/[0-9a-f]{64}$/);
    expect(summary).toMatchObject({ files: 2, skippedFiles: 0 });
    await restore(store, snapshot, path.join(dir, 'restored'));
    expect(readFileSync(path.join(dir, 'restored', 'SO_ARC', relative), 'utf8')).toBe('deep document');

    // S3 refusing one key (InvalidObjectName, as Ceph RGW says): that file is skipped with the reason; the rest and the run go on.
    writeFileSync(path.join(archive, 'refused.txt'), 'refused');
    writeFileSync(path.join(archive, 'accepted.txt'), 'accepted');
    const refusing = Object.assign(Object.create(store) as MemoryObjectStore, {
      putFile: async (key: string, file: string | Buffer) => {
        if (String(file).endsWith('refused.txt')) {
          throw new ConnectorError('S3_ERROR', `S3 refused uploading ${key}: InvalidObjectName (HTTP 400)`, {
            cause: Object.assign(new Error('InvalidObjectName'), { name: 'InvalidObjectName' }),
            permanent: true,
          });
        }
        return store.putFile(key, file);
      },
    });
    const next = await backupArchive({ tenantId: 'acme', runId: 'acme-2026-11-26-daily' }, [{ name: 'SO_ARC', path: archive }], {
      store: refusing,
      stateDir: state,
      logger,
    });
    expect(next).toMatchObject({
      files: 3,
      uploadedFiles: 1,
      skippedFiles: 1,
      skipped: [{ root: 'SO_ARC', path: 'refused.txt', reason: "S3 refused this file's key (InvalidObjectName)" }],
    });
  });

  test('3. GIVEN names that are not valid UTF-8 (a Latin-1 "café" file in a Latin-1 folder) WHEN backed up twice and restored THEN they are backed up byte-exact, never "deleted while the backup ran", not read again, and come back with the same bytes', async () => {
    const { dir, archive, state, store } = setUp('latin1');
    const folder = Buffer.from('Søknader', 'latin1');
    const name = Buffer.concat([folder, Buffer.from('/caf\xe9.txt', 'latin1')]);
    writeBytes(archive, name, 'café in Latin-1');
    writeFileSync(path.join(archive, 'café.txt'), 'café in UTF-8');
    const first = await backup(store, state, archive, 'acme-2026-11-25-daily');
    expect(first.summary).toMatchObject({ files: 2, skippedFiles: 0, skipped: [] });
    const odd = first.snapshot.files.find((f) => f.pathBytes !== undefined)!;
    expect(odd).toMatchObject({
      path: 'S\ufffdknader/caf\ufffd.txt',
      pathBytes: name.toString('base64'),
      key: expect.stringMatching(/%hash/),
    });
    const second = await backup(store, state, archive, 'acme-2026-11-26-daily');
    expect(second.summary).toMatchObject({ files: 2, uploadedFiles: 0, deletedFiles: 0, skippedFiles: 0, readFiles: 0 });
    await restore(store, second.snapshot, path.join(dir, 'restored'));
    expect(exactTree(path.join(dir, 'restored', 'SO_ARC'))).toEqual(exactTree(archive));
  });

  test('4. GIVEN a symlinked folder of 3 documents outside the root, a file symlink, a link loop, a dangling link and a FIFO WHEN backed up THEN every link is in the snapshot, what is left out is in the skipped list with its reason (never "0 skipped"), and links come back as links', async () => {
    const { dir, archive, state, store } = setUp('links');
    const outside = path.join(dir, 'elsewhere');
    mkdirSync(outside);
    for (const n of [1, 2, 3]) writeFileSync(path.join(outside, `doc${n}.docx`), `outside ${n}`);
    writeFileSync(path.join(archive, 'real.docx'), 'the one real document');
    symlinkSync(outside, path.join(archive, 'linked folder'));
    symlinkSync('real.docx', path.join(archive, 'file link.docx'));
    symlinkSync('loop-b', path.join(archive, 'loop-a'));
    symlinkSync('loop-a', path.join(archive, 'loop-b'));
    symlinkSync('/nowhere/at/all', path.join(archive, 'dangling'));
    execFileSync('mkfifo', [path.join(archive, 'pipe')]);
    const { summary, snapshot } = await backup(store, state, archive, 'acme-2026-11-25-daily');
    expect(snapshot.files.map((f) => f.path)).toEqual(['real.docx']);
    expect(snapshot.links.map((l) => [l.path, l.target, l.kind]).sort()).toEqual([
      ['dangling', '/nowhere/at/all', 'file'],
      ['file link.docx', 'real.docx', 'file'],
      ['linked folder', outside, 'dir'],
      ['loop-a', 'loop-b', 'file'],
      ['loop-b', 'loop-a', 'file'],
    ]);
    expect(summary.links).toBe(5);
    expect(summary.skippedFiles).toBe(2);
    expect(summary.skipped).toEqual(
      expect.arrayContaining([
        { root: 'SO_ARC', path: 'pipe', reason: 'a named pipe (FIFO): no document, not backed up' },
        {
          root: 'SO_ARC',
          path: 'linked folder',
          reason: expect.stringMatching(
            /^a link to .*elsewhere, outside the archive: the link is kept, what it points to is not backed up/,
          ),
        },
      ]),
    );
    const restored = await restore(store, snapshot, path.join(dir, 'restored'));
    expect(restored).toMatchObject({ files: 1, links: 5, failed: [] });
    expect(readlinkSync(path.join(dir, 'restored', 'SO_ARC', 'linked folder'))).toBe(outside);
    expect(readFileSync(path.join(dir, 'restored', 'SO_ARC', 'file link.docx'), 'utf8')).toBe('the one real document');
    expect(lstatSync(path.join(dir, 'restored', 'SO_ARC', 'loop-a')).isSymbolicLink()).toBe(true);
  });

  test('5. GIVEN modification times with sub-millisecond parts WHEN restored after a server loss THEN they come back as exactly as Linux can set them, and the first run on the new server (no index) reads and sends no file', async () => {
    const { dir, archive, state, store } = setUp('times');
    const times = ['1764000000.123456789', '1764000000.999999900', '1764000001.000000001', '1700000000.5'];
    times.forEach((t, i) => {
      const file = path.join(archive, `doc${i}.docx`);
      writeFileSync(file, `document ${i}`);
      execFileSync('touch', ['-m', '-d', `@${t}`, file]);
    });
    const { snapshot } = await backup(store, state, archive, 'acme-2026-11-25-daily');
    expect(snapshot.files.map((f) => f.mtimeNs).sort()).toEqual([
      '1700000000500000000',
      '1764000000123456789',
      '1764000000999999900',
      '1764000001000000001',
    ]);
    const newServer = path.join(dir, 'new-server');
    await restore(store, snapshot, newServer);
    for (const f of snapshot.files) {
      const restoredNs = statSync(path.join(newServer, 'SO_ARC', f.path), { bigint: true }).mtimeNs;
      const off = restoredNs - BigInt(f.mtimeNs!);
      expect(off < 1000n && off > -1000n).toBe(true);
    }
    const next = await backupArchive(
      { tenantId: 'acme', runId: 'acme-2026-11-26-daily' },
      [{ name: 'SO_ARC', path: path.join(newServer, 'SO_ARC') }],
      { store, stateDir: path.join(dir, 'new-state'), logger },
    );
    expect(next).toMatchObject({ files: 4, readFiles: 0, uploadedFiles: 0, deletedFiles: 0, skippedFiles: 0 });
  });

  test('8. GIVEN live files another program holds (Linux: immutable; Windows: EBUSY) WHEN restored --into-live THEN each is reported by name, no partial file is left, the others are restored', async () => {
    const { dir, archive, store } = setUp('locked');
    for (const name of ['a.docx', 'b.docx', 'c.docx']) writeFileSync(path.join(archive, name), `${name} v1`);
    const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
    const manifest = await runQuietBackupJob(job('acme-2026-11-25-daily'), { config, store });
    for (const name of ['a.docx', 'b.docx', 'c.docx']) writeFileSync(path.join(archive, name), `${name} damaged`);
    execFileSync('chattr', ['+i', path.join(archive, 'a.docx')]);
    const realRename = fs.renameSync;
    const rename = jest.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(to).endsWith('b.docx'))
        throw Object.assign(new Error(`EBUSY: resource busy or locked, rename '${String(from)}' -> '${String(to)}'`), { code: 'EBUSY' });
      return realRename(from, to);
    });
    try {
      const grant = { runId: 'acme-2026-11-25-daily', startedAt: new Date().toISOString(), manifest };
      const summary = await restoreRun({ store, grant, progress: () => undefined }, { intoLive: true, liveRoots: config.archive!.roots });
      expect(summary.archive).toMatchObject({
        files: 1,
        failed: expect.arrayContaining([
          { path: 'SO_ARC/a.docx', reason: expect.stringMatching(/^access denied/) },
          { path: 'SO_ARC/b.docx', reason: expect.stringMatching(/^in use by another program \(locked\)/) },
        ]),
      });
    } finally {
      rename.mockRestore();
      execFileSync('chattr', ['-i', path.join(archive, 'a.docx')]);
    }
    expect(readdirSync(archive).sort()).toEqual(['a.docx', 'b.docx', 'c.docx']); // no temporary file left behind
    expect(readFileSync(path.join(archive, 'c.docx'), 'utf8')).toBe('c.docx v1');
    expect(readFileSync(path.join(archive, 'a.docx'), 'utf8')).toBe('a.docx damaged');
  });

  test('9. GIVEN NFD names, read-only and hidden files, and names that differ only in case WHEN restored THEN NFD stays NFD, attributes come back, and on a case-insensitive target the collision is reported, never merged, with an honest count', async () => {
    const { dir, archive, state, store } = setUp('attrs');
    const nfd = 'Tilbud Åse Müller.docx'.normalize('NFD');
    expect(nfd).not.toBe(nfd.normalize('NFC'));
    writeFileSync(path.join(archive, nfd), 'decomposed');
    writeFileSync(path.join(archive, 'locked.pdf'), 'read-only');
    fs.chmodSync(path.join(archive, 'locked.pdf'), 0o444);
    writeFileSync(path.join(archive, 'Desktop.ini'), 'hidden');
    writeFileSync(path.join(archive, 'Report.docx'), 'upper');
    writeFileSync(path.join(archive, 'report.docx'), 'lower');
    const hiddenSet: string[] = [];
    const hidden: HiddenAttribute = {
      hiddenBelow: async () => new Set(['Desktop.ini']),
      setHidden: async (file) => hiddenSet.push(String(file)) > 0,
    };
    const { snapshot } = await backup(store, state, archive, 'acme-2026-11-25-daily', { hidden });
    expect(snapshot.files.find((f) => f.path === 'locked.pdf')!.attributes).toEqual({ readOnly: true });
    expect(snapshot.files.find((f) => f.path === 'Desktop.ini')!.attributes).toEqual({ hidden: true });
    expect(snapshot.files.find((f) => f.path === nfd)!.key).toBe(keyLayout.archiveFile('acme', 'SO_ARC', nfd));

    const linux = await restore(store, snapshot, path.join(dir, 'on-linux'), { hiddenAttribute: hidden });
    expect(linux).toMatchObject({ files: 5, renamed: [], failed: [] });
    expect(readdirSync(path.join(dir, 'on-linux', 'SO_ARC'))).toContain(nfd);
    expect(statSync(path.join(dir, 'on-linux', 'SO_ARC', 'locked.pdf')).mode & 0o777).toBe(0o444);
    expect(hiddenSet).toEqual([path.join(dir, 'on-linux', 'SO_ARC', 'Desktop.ini')]);

    const windowsLike = await restore(store, snapshot, path.join(dir, 'case-insensitive'), {
      semantics: defaultSemantics('win32'),
      hiddenAttribute: hidden,
    });
    expect(windowsLike).toMatchObject({
      files: 5,
      failed: [],
      renamed: [
        {
          path: 'SO_ARC/report.docx',
          restoredAs: 'SO_ARC/report (conflict 2).docx',
          reason: expect.stringMatching(/one name on this file system/),
        },
      ],
    });
  });

  test("the manifest of a run lists links and files read, and the validator's schema accepts what the connector writes", async () => {
    const { dir, archive, store } = setUp('manifest');
    writeFileSync(path.join(archive, 'a.txt'), 'a');
    symlinkSync('a.txt', path.join(archive, 'l'));
    const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
    const pointer = await runQuietBackupJob(job('acme-2026-11-25-daily'), { config, store });
    expect(manifestSchema.parse(JSON.parse(store.current(pointer.key)!.toString())).archive).toMatchObject({
      files: 1,
      links: 1,
      readFiles: 1,
    });
  });
});
