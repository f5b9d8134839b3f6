import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { runBackupJob } from '../../connector/src/backup';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { type ArchiveSnapshot, manifestSchema } from '../../protocol';
import { connectorConfigFor } from '../helpers/connector-config';
import { MemoryObjectStore } from '../helpers/memory-object-store';
import { testBackupJob } from '../helpers/backup-job';

const job = testBackupJob;

function tree(root: string, prefix = ''): Record<string, string> {
  return Object.fromEntries(
    readdirSync(path.join(root, prefix), { withFileTypes: true }).flatMap((entry) => {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      return entry.isDirectory() ? Object.entries(tree(root, relative)) : [[relative, readFileSync(path.join(root, relative), 'utf8')]];
    }),
  );
}

describe('point in time: a past snapshot materialized exactly', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-pit-'));
  const archive = path.join(dir, 'SO_ARC');
  const store = new MemoryObjectStore();
  const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
  const backup = async (runId: string) => {
    const pointer = await runBackupJob(job(runId), {
      config,
      connectorVersion: 'test',
      store,
      logger: pino({ level: 'silent' }),
      report: () => undefined,
    });
    const manifest = manifestSchema.parse(JSON.parse(store.current(pointer.key)!.toString()));
    return JSON.parse(gunzipSync(store.current(manifest.archive!.snapshot.key)!).toString()) as ArchiveSnapshot;
  };

  test('GIVEN three days of changes WHEN day one is materialized THEN the folder equals the tree as it was that day, byte for byte', async () => {
    mkdirSync(path.join(archive, 'ANNA', '2026.11'), { recursive: true });
    writeFileSync(path.join(archive, 'ANNA', '2026.11', 'Tilbud – æøå.docx'), 'offer v1');
    writeFileSync(path.join(archive, 'ANNA', 'mail.eml'), 'mail');
    writeFileSync(path.join(archive, 'empty.txt'), '');
    const dayOne = tree(archive);
    const snapshotOne = await backup('acme-2026-11-25-daily');

    writeFileSync(path.join(archive, 'ANNA', '2026.11', 'Tilbud – æøå.docx'), 'offer v2, longer');
    utimesSync(path.join(archive, 'ANNA', '2026.11', 'Tilbud – æøå.docx'), new Date(), new Date(Date.now() + 60_000));
    rmSync(path.join(archive, 'ANNA', 'mail.eml'));
    writeFileSync(path.join(archive, 'new.pdf'), 'new');
    const dayTwo = tree(archive);
    const snapshotTwo = await backup('acme-2026-11-26-daily');

    const restoreOne = path.join(dir, 'restore-1');
    expect(await materializeSnapshot(snapshotOne.files, store, restoreOne)).toEqual({
      files: 3,
      bytes: 12,
      links: 0,
      folders: 0,
      unchanged: 0,
      renamed: [],
      failed: [],
    });
    expect(tree(path.join(restoreOne, 'SO_ARC'))).toEqual(dayOne);
    const restoreTwo = path.join(dir, 'restore-2');
    await materializeSnapshot(snapshotTwo.files, store, restoreTwo);
    expect(tree(path.join(restoreTwo, 'SO_ARC'))).toEqual(dayTwo);
    const original = snapshotOne.files.find((f) => f.path === 'ANNA/mail.eml')!;
    expect(statSync(path.join(restoreOne, 'SO_ARC', 'ANNA', 'mail.eml')).mtimeMs).toBeCloseTo(original.mtimeMs, -1);
  });

  test('GIVEN one file asked for WHEN materialized THEN only it is written', async () => {
    const snapshot = await backup('acme-2026-11-27-daily');
    const one = path.join(dir, 'restore-one');
    expect((await materializeSnapshot(snapshot.files, store, one, { filter: (f) => f.path === 'new.pdf' })).files).toBe(1);
    expect(tree(one)).toEqual({ 'SO_ARC/new.pdf': 'new' });
  });

  test('GIVEN a version whose bytes differ from the snapshot WHEN materialized THEN it fails and leaves no partial file', async () => {
    const snapshot = await backup('acme-2026-11-28-daily');
    const file = snapshot.files.find((f) => f.path === 'new.pdf')!;
    const lying = [{ ...file, sha256: 'f'.repeat(64) }];
    const target = path.join(dir, 'restore-bad');
    await expect(materializeSnapshot(lying, store, target)).rejects.toMatchObject({ code: 'RESTORE_CHECKSUM_MISMATCH' });
    expect(tree(target)).toEqual({});
    await expect(materializeSnapshot([{ ...file, path: '../../escape.txt' }], store, target)).rejects.toMatchObject({
      code: 'SNAPSHOT_PATH_INVALID',
    });
  });
});

describe('files that cannot be read consistently', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-skip-'));
  const archive = path.join(dir, 'SO_ARC');
  const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });

  test('GIVEN a file that keeps changing while read and one that vanishes WHEN mirrored THEN they are retried, then listed as skipped with reasons; the rest is backed up', async () => {
    mkdirSync(archive, { recursive: true });
    writeFileSync(path.join(archive, 'steady.txt'), 'steady');
    writeFileSync(path.join(archive, 'busy.log'), 'v0');
    writeFileSync(path.join(archive, 'vanishing.tmp'), 'x');
    // A store double that changes busy.log during every upload of it, and deletes vanishing.tmp before it is read.
    const inner = new MemoryObjectStore();
    let busyAttempts = 0;
    const store = Object.assign(Object.create(inner) as MemoryObjectStore, {
      putFile: async (key: string, file: string) => {
        if (file.endsWith('busy.log')) {
          busyAttempts++;
          const stored = await inner.putFile(key, file);
          writeFileSync(file, `v${busyAttempts}-longer`);
          return stored;
        }
        if (file.endsWith('vanishing.tmp')) {
          rmSync(file, { force: true });
          throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
        }
        return inner.putFile(key, file);
      },
    });
    const pointer = await runBackupJob(job('acme-2026-11-25-daily'), {
      config,
      connectorVersion: 'test',
      store,
      logger: pino({ level: 'silent' }),
      report: () => undefined,
    });
    const manifest = manifestSchema.parse(JSON.parse(inner.current(pointer.key)!.toString()));
    expect(busyAttempts).toBe(3);
    expect(manifest.archive).toMatchObject({ files: 1, skippedFiles: 2 });
    expect(manifest.archive!.skipped).toEqual(
      expect.arrayContaining([
        { root: 'SO_ARC', path: 'busy.log', reason: 'changed while being read (3 attempts)' },
        { root: 'SO_ARC', path: 'vanishing.tmp', reason: 'deleted while the backup ran' },
      ]),
    );
  });
});
