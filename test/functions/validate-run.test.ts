import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { compositeChecksum } from '../../connector/src/store/object-store';
import { validateRun } from '../../functions/src/validate-run/validate-run';
import { randomBytes } from 'node:crypto';
import { backupFile, databasePages } from '../../local/tds/mtf-backup-file';
import { type Artifact, keyLayout, type Manifest, pathFields, type SnapshotFile } from '../../protocol';
import { describeWithMssqlFixtures, mssqlFixture } from '../helpers/fixtures';
import { MemoryArtifactReader } from '../helpers/memory-artifact-reader';
import { databaseBackup } from '../helpers/database-backup';

const run = {
  runId: 'acme-2026-11-25-daily',
  tenantId: 'acme',
  trigger: 'schedule' as const,
  startedAt: new Date(Date.now() - 60_000).toISOString(),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest();
/** Where the run's connector uploads a database backup: its own staging prefix. */
const stagedBak = (tenant: string, database = 'SuperOffice') => keyLayout.stagedDatabaseBackup(tenant, run.runId, database);

function artifactOf(reader: MemoryArtifactReader, key: string, body: Buffer): Artifact {
  const stored = reader.put(key, body);
  return {
    key,
    versionId: stored.versionId,
    size: body.length,
    sha256: sha(body).toString('hex'),
    s3Checksum: { algorithm: 'SHA256', type: 'FULL_OBJECT', value: stored.checksum },
  };
}

/** A bucket holding one honest run: a database backup, two archive files, snapshot and manifest. */
function honestRun(edit: (m: Manifest, reader: MemoryArtifactReader) => void = () => undefined) {
  const reader = new MemoryArtifactReader();
  const bak = backupFile(
    { database: 'SuperOffice', server: 'SQL01', backupSetName: 'x', startedAt: new Date() },
    Buffer.concat([...databasePages('seed', 100_000)]),
  );
  const fileA = Buffer.from('document A');
  const fileB = Buffer.from('document B, unchanged since an earlier run');
  const b = artifactOf(reader, keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/b.docx'), fileB); // sent by an earlier run
  const a = artifactOf(reader, keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/a.docx'), fileA);
  const files: SnapshotFile[] = [
    { root: 'SO_ARC', path: 'ADM/a.docx', key: a.key, versionId: a.versionId, size: a.size, mtimeMs: 1, sha256: a.sha256, uploaded: true },
    { root: 'SO_ARC', path: 'ADM/b.docx', key: b.key, versionId: b.versionId, size: b.size, mtimeMs: 1, sha256: b.sha256, uploaded: false },
  ];
  const snapshot = artifactOf(
    reader,
    keyLayout.stagedSnapshot('acme', run.runId),
    gzipSync(JSON.stringify({ kind: 'so-backup-archive-snapshot', v: 1, runId: run.runId, files })),
  );
  const now = new Date().toISOString();
  const manifest: Manifest = {
    kind: 'so-backup-manifest',
    v: 1,
    runId: run.runId,
    tenantId: 'acme',
    connectorVersion: '0.1.0',
    startedAt: now,
    finishedAt: now,
    databases: [
      databaseBackup('SuperOffice', artifactOf(reader, stagedBak('acme'), bak), now, {
        serverVersion: '16.0',
        header: {
          serverName: 'SQL01',
          firstLsn: '37000000012345600001',
          lastLsn: '37000000012345601001',
          backupSize: bak.length,
          verified: true,
        },
      }),
    ],
    archive: {
      roots: [{ name: 'SO_ARC', path: 'C:\\SO_ARC' }],
      files: 2,
      bytes: fileA.length + fileB.length,
      uploadedFiles: 1,
      uploadedBytes: fileA.length,
      deletedFiles: 0,
      copiedFiles: 0,
      skippedFiles: 0,
      skipped: [],
      snapshot,
    },
  };
  edit(manifest, reader);
  const pointer = reader.put(keyLayout.stagedManifest('acme', run.runId), Buffer.from(JSON.stringify(manifest)));
  return { reader, pointer: { key: pointer.key, versionId: pointer.versionId }, manifest, files };
}

/** The previous validated run's snapshot: the given files, keyed as the validator keys them. */
const previousOf = (files: SnapshotFile[]) => ({ runId: 'acme-2026-11-24-daily', files: new Map(files.map((f) => [f.key, f])) });

describe('validateRun', () => {
  test('GIVEN an honest run WHEN validated THEN every artifact checks out', async () => {
    const { reader, pointer } = honestRun();
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.databases[0]?.header).toMatchObject({ format: 'MTF', database: 'SuperOffice' });
    expect(report.archive).toEqual({
      files: 2,
      bytes: expect.any(Number),
      uploadedFiles: 1,
      uploadedBytes: 10,
      skippedFiles: 0,
      pendingFiles: 0,
      pendingBytes: 0,
      verifiedFiles: 2,
      added: 2,
      changed: 0,
      removed: 0,
      comparedWith: undefined,
    });
  });

  test('GIVEN a backup truncated after upload WHEN validated THEN size and checksum both fail', async () => {
    const { reader, pointer, manifest } = honestRun();
    const db = manifest.databases[0]!.artifact;
    const stored = reader.objects.get(`${db.key}@${db.versionId}`)!;
    stored.body = stored.body.subarray(0, 1000);
    stored.checksum = sha(stored.body).toString('base64');
    const report = await validateRun(reader, run, pointer);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/is 1000 bytes in S3, manifest says/);
    expect(report.problems.join('\n')).toMatch(/S3's SHA-256 .* differs/);
  });

  test("GIVEN a manifest that lies about an archive file's checksum WHEN validated THEN the file fails", async () => {
    const { reader, pointer } = honestRun((m, r) => {
      const snapshotBody = JSON.stringify({
        kind: 'so-backup-archive-snapshot',
        v: 1,
        runId: run.runId,
        files: [
          {
            root: 'SO_ARC',
            path: 'ADM/a.docx',
            key: keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/a.docx'),
            versionId: 'v2',
            size: 10,
            mtimeMs: 1,
            sha256: 'f'.repeat(64),
            uploaded: true,
          },
        ],
      });
      m.archive = {
        ...m.archive!,
        files: 1,
        bytes: 10,
        snapshot: artifactOf(r, keyLayout.stagedSnapshot('acme', run.runId), gzipSync(snapshotBody)),
      };
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/ADM\/a.docx: S3's SHA-256 .* differs/);
  });

  test('GIVEN exact names (a Latin-1 name and a 1,041-byte path, both under derived keys) WHEN validated THEN they check out; a key that is not the one the exact path gives, or a path that contradicts its bytes, fails', async () => {
    const latin1 = Buffer.from('ADM/caf\xe9.txt', 'latin1');
    const long = `${'Kunder og prosjekter/'.repeat(48)}${'x'.repeat(28)}.docx`;
    const snapshotWith = (entries: (r: MemoryArtifactReader) => SnapshotFile[]) =>
      honestRun((m, r) => {
        const files = entries(r);
        m.archive = {
          ...m.archive!,
          files: files.length,
          bytes: files.reduce((t, f) => t + f.size, 0),
          uploadedFiles: files.length,
          uploadedBytes: files.reduce((t, f) => t + f.size, 0),
          links: 0,
          snapshot: artifactOf(
            r,
            keyLayout.stagedSnapshot('acme', run.runId),
            gzipSync(JSON.stringify({ kind: 'so-backup-archive-snapshot', v: 1, runId: run.runId, files, links: [] })),
          ),
        };
      });
    const entry = (r: MemoryArtifactReader, fields: Pick<SnapshotFile, 'path' | 'pathBytes'>, key: string): SnapshotFile => {
      const a = artifactOf(r, key, Buffer.from(`content of ${fields.path.slice(0, 20)}`));
      return {
        root: 'SO_ARC',
        ...fields,
        key: a.key,
        versionId: a.versionId,
        size: a.size,
        mtimeMs: 1,
        mtimeNs: '1000000',
        sha256: a.sha256,
        uploaded: true,
      };
    };
    const good = snapshotWith((r) => [
      entry(r, pathFields(latin1), keyLayout.archiveFile('acme', 'SO_ARC', latin1)),
      entry(r, { path: long }, keyLayout.archiveFile('acme', 'SO_ARC', long)),
    ]);
    expect((await validateRun(good.reader, run, good.pointer)).problems).toEqual([]);
    const wrongKey = snapshotWith((r) => [entry(r, pathFields(latin1), keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/caf\ufffd.txt'))]);
    expect((await validateRun(wrongKey.reader, run, wrongKey.pointer)).problems.join('\n')).toMatch(
      /archive file SO_ARC\/ADM\/caf\ufffd.txt is at archive\/acme\/SO_ARC\/ADM\/caf\ufffd.txt, expected archive\/acme\/SO_ARC\/%hash\//,
    );
    const contradicting = snapshotWith((r) => [
      entry(r, { path: 'ADM/cafe.txt', pathBytes: latin1.toString('base64') }, keyLayout.archiveFile('acme', 'SO_ARC', latin1)),
    ]);
    expect((await validateRun(contradicting.reader, run, contradicting.pointer)).problems.join('\n')).toMatch(
      /its text and its exact bytes \(pathBytes\) disagree/,
    );
  });

  test('GIVEN a .bak that is not a SQL Server backup WHEN validated THEN it fails by its header', async () => {
    const { reader, pointer } = honestRun((m, r) => {
      m.databases[0]!.artifact = artifactOf(r, stagedBak('acme'), Buffer.from('PK\u0003\u0004 not a backup'));
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([
      expect.stringMatching(
        /is not a usable backup of SuperOffice: not a SQL Server backup: it starts "PK\u0003\u0004|is not a usable backup of SuperOffice: not a SQL Server backup: it starts with bytes 50 4b 03 04/,
      ),
    ]);
  });

  test('GIVEN a backup of another database WHEN validated THEN the name mismatch is named', async () => {
    const { reader, pointer } = honestRun((m, r) => {
      m.databases[0]!.artifact = artifactOf(
        r,
        stagedBak('acme'),
        backupFile({ database: 'master', server: 's', backupSetName: 'x', startedAt: new Date() }),
      );
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([expect.stringMatching(/backup of database "master", not "SuperOffice"/)]);
  });

  test("GIVEN an artifact under another tenant's prefix WHEN validated THEN it is refused", async () => {
    const { reader, pointer } = honestRun((m, r) => {
      m.databases[0]!.artifact = artifactOf(r, stagedBak('beta'), Buffer.from('TAPE'));
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([
      expect.stringMatching(
        /is at incoming\/beta\/acme-2026-11-25-daily\/db\/SuperOffice.bak, expected incoming\/acme\/acme-2026-11-25-daily\/db\/SuperOffice.bak/,
      ),
    ]);
  });

  test('GIVEN a missing artifact version WHEN validated THEN it is named', async () => {
    const { reader, pointer } = honestRun((m) => {
      m.databases[0]!.artifact.versionId = 'never-uploaded';
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([expect.stringMatching(/version never-uploaded does not exist/)]);
  });

  test('GIVEN archive totals that do not add up WHEN validated THEN the lie is named', async () => {
    const { reader, pointer } = honestRun((m) => {
      m.archive!.files = 5000;
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([expect.stringMatching(/snapshot holds 2 files .* manifest says 5000/)]);
  });

  test("GIVEN an archive the backup window's end left unfinished (archive.pending) WHEN validated THEN its snapshot is checked as always, it passes, and the pending files and bytes are reported (issue 20)", async () => {
    const { reader, pointer } = honestRun((m) => {
      m.archive!.pending = { files: 40, bytes: 12_000_000, reason: 'window' };
    });
    const windowed = { ...run, windowEndsAt: new Date(Date.now() - 1000).toISOString() };
    const report = await validateRun(reader, windowed, pointer);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.archive).toMatchObject({ files: 2, uploadedFiles: 1, pendingFiles: 40, pendingBytes: 12_000_000 });
    // Parts of paused uploads already in S3 are a share of the pending bytes, never more.
    const paused = honestRun((m) => {
      m.archive!.pending = { files: 40, bytes: 12_000_000, partsBytes: 10_485_760, reason: 'window' };
    });
    expect((await validateRun(paused.reader, windowed, paused.pointer)).ok).toBe(true);
    const tooMany = honestRun((m) => {
      m.archive!.pending = { files: 40, bytes: 12_000_000, partsBytes: 12_000_001, reason: 'window' };
    });
    expect((await validateRun(tooMany.reader, windowed, tooMany.pointer)).ok).toBe(false);
    // The snapshot is still held to its totals when files are pending.
    const lying = honestRun((m) => {
      m.archive!.pending = { files: 40, bytes: 12_000_000, reason: 'window' };
      m.archive!.files = 42;
    });
    expect((await validateRun(lying.reader, windowed, lying.pointer)).problems).toEqual([
      expect.stringMatching(/snapshot holds 2 files .* manifest says 42/),
    ]);
  });

  test('GIVEN archive.pending in a run that had no backup window WHEN validated THEN the archive fails, naming it; the database is kept', async () => {
    const { reader, pointer } = honestRun((m) => {
      m.archive!.pending = { files: 3, bytes: 300, reason: 'window' };
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.artifacts).toEqual([
      expect.objectContaining({ kind: 'database', ok: true }),
      expect.objectContaining({
        kind: 'archive',
        ok: false,
        problems: [
          expect.stringMatching(/3 files \/ 300 bytes left for the window's end, but run acme-2026-11-25-daily had no backup window/),
        ],
      }),
    ]);
    expect(report.promotable).toBe(true);
  });

  test('GIVEN a backlog sent larger than what the run sent WHEN validated THEN the archive fails, naming it (seeding progress is part of what was sent, t20b N1)', async () => {
    const honest = honestRun();
    const sent = { files: honest.manifest.archive!.uploadedFiles, bytes: honest.manifest.archive!.uploadedBytes };
    const within = honestRun((m) => {
      m.archive!.backlogSent = sent;
    });
    expect((await validateRun(within.reader, run, within.pointer)).problems).toEqual([]);
    const { reader, pointer } = honestRun((m) => {
      m.archive!.backlogSent = { files: sent.files, bytes: sent.bytes + 1 };
    });
    expect((await validateRun(reader, run, pointer)).problems).toEqual([expect.stringMatching(/bytes of backlog sent, more than it sent/)]);
  });

  test('GIVEN the previous validated snapshot WHEN validated THEN only versions it did not validate are checked in S3, and the difference is reported', async () => {
    const { reader, pointer, files } = honestRun();
    const gone = reader.put(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/gone.txt'), Buffer.from('deleted since'));
    reader.markDeleted(gone.key);
    const previous = previousOf([files[1]!, { ...files[1]!, path: 'ADM/gone.txt', key: gone.key, versionId: gone.versionId }]);
    const heads: string[] = [];
    const counting = Object.assign(Object.create(reader) as MemoryArtifactReader, {
      head: (key: string, versionId?: string) => (heads.push(key), reader.head(key, versionId)),
    });
    const report = await validateRun(counting, run, pointer, new Date(), previous);
    expect(report.problems).toEqual([]);
    expect(report.archive).toMatchObject({
      files: 2,
      verifiedFiles: 1,
      comparedWith: 'acme-2026-11-24-daily',
      added: 1,
      changed: 0,
      removed: 1,
    });
    expect(heads.filter((key) => key.startsWith('archive/')).sort()).toEqual([files[0]!.key, gone.key]); // b.docx was validated before: no HEAD
  });

  test('GIVEN a snapshot that lies about a validated version, re-marks it uploaded, or drops a file S3 still holds WHEN validated THEN each lie is named', async () => {
    const { reader, pointer, files } = honestRun();
    const kept = reader.put(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/kept.txt'), Buffer.from('still on disk'));
    const previous = previousOf([
      { ...files[1]!, sha256: 'e'.repeat(64) },
      { ...files[0]!, path: 'ADM/kept.txt', key: kept.key, versionId: kept.versionId },
      files[0]!,
    ]);
    const report = await validateRun(reader, run, pointer, new Date(), previous);
    expect(report.problems).toEqual([
      expect.stringMatching(/a\.docx is marked uploaded in this run, but version v\d+ was validated in run acme-2026-11-24-daily/),
      expect.stringMatching(/b\.docx version v\d+: the snapshot says .* run acme-2026-11-24-daily validated/),
      expect.stringMatching(/kept\.txt is missing from the snapshot but S3 still holds it as current/),
    ]);
  });

  test('GIVEN a manifest that breaks the schema WHEN validated THEN the schema error is reported', async () => {
    const reader = new MemoryArtifactReader();
    const stored = reader.put(keyLayout.stagedManifest('acme', run.runId), Buffer.from('{"kind":"so-backup-manifest","v":1}'));
    const report = await validateRun(reader, run, { key: stored.key, versionId: stored.versionId });
    expect(report.problems).toEqual([expect.stringMatching(/breaks the manifest schema/)]);
  });

  test('GIVEN a multipart artifact WHEN the composite checksum matches its parts THEN it validates', async () => {
    const { reader, pointer } = honestRun((m, r) => {
      const body = backupFile(
        { database: 'SuperOffice', server: 's', backupSetName: 'x', startedAt: new Date() },
        Buffer.concat([Buffer.alloc(5 << 20, 1), Buffer.alloc(1000, 2)]),
      );
      const partSize = 5 << 20;
      const chunks = [body.subarray(0, partSize), body.subarray(partSize)];
      const digests = chunks.map((c) => sha(c).toString('base64'));
      const stored = r.put(stagedBak('acme'), body);
      r.objects.get(`${stored.key}@${stored.versionId}`)!.checksum = compositeChecksum(digests);
      m.databases[0]!.artifact = {
        key: stored.key,
        versionId: stored.versionId,
        size: body.length,
        sha256: sha(body).toString('hex'),
        s3Checksum: { algorithm: 'SHA256', type: 'COMPOSITE', value: compositeChecksum(digests), partSize, parts: digests },
      };
    });
    const report = await validateRun(reader, run, pointer);
    expect(report.problems).toEqual([]);
  });
});

/** The run with its database artifact replaced by `body`; the manifest states body's true size and checksum. */
async function validateWithBackup(body: Buffer) {
  const { reader, pointer } = honestRun((m, r) => {
    m.databases[0]!.artifact = artifactOf(r, stagedBak('acme'), body);
  });
  return validateRun(reader, run, pointer);
}

const standIn = (options: Partial<Parameters<typeof backupFile>[0]> = {}, pages = randomBytes(200_000)) =>
  backupFile(
    { database: 'SuperOffice', server: 'SO-SQL01', backupSetName: 'SuperOffice-Full Database Backup', startedAt: new Date(), ...options },
    pages,
  );

describe('validateRun: the backup file check cannot be fooled', () => {
  const full = standIn();
  test.each([
    ['a compressed full backup of SuperOffice', standIn({ compressed: true }), undefined],
    ['a copy-only full backup', standIn({ copyOnly: true }), undefined],
    ['the first 1 KiB of a backup', full.subarray(0, 1024), /the file ends at 1024 bytes/],
    [
      'a backup cut before its end of set',
      full.subarray(0, full.length - 512),
      /the file ends at \d+ bytes, inside the end of the backup set/,
    ],
    ['a backup cut in the middle', full.subarray(0, 100 * 1024), /the file ends at 102400 bytes, inside the data/],
    ['a backup cut at an odd size', full.subarray(0, full.length - 100), /not a whole number of 512-byte blocks/],
    [
      'a backup with 0x600–0x6FF zeroed',
      Buffer.concat([full.subarray(0, 0x600), Buffer.alloc(0x100), full.subarray(0x700)]),
      /no valid MTF block header at 0x600/,
    ],
    ['random bytes after TAPE', Buffer.concat([Buffer.from('TAPE'), randomBytes(full.length - 4)]), /the TAPE block at 0 is damaged/],
    [
      'random bytes after MSSQLBAK',
      Buffer.concat([Buffer.from('MSSQLBAK'), randomBytes(full.length - 8)]),
      /no compressed chunk at offset 0x1e0/,
    ],
    [
      'a compressed backup of another database',
      standIn({ compressed: true, database: 'Other' }),
      /backup of database "Other", not "SuperOffice"/,
    ],
    ['a differential backup', standIn({ backupType: 'differential' }), /a differential backup, not a full one/],
    ['a log backup', standIn({ backupType: 'log' }), /a transaction log backup, not a full one/],
    [
      'one stripe of two',
      standIn({ family: { count: 2, number: 1, mediaSetId: randomBytes(16) } }),
      /family 1 of 2 of a striped backup: the backup set is incomplete/,
    ],
    [
      'a start and an end from two backups',
      Buffer.concat([full.subarray(0, 100 * 1024), standIn({ database: 'Other' }).subarray(100 * 1024)]),
      /the end of the file is from another backup|does not close the set/,
    ],
  ])('GIVEN %s WHEN validated THEN the verdict is right', async (_, body, reason) => {
    const report = await validateWithBackup(body);
    if (reason === undefined) {
      expect(report.problems).toEqual([]);
      expect(report.databases[0]?.header).toMatchObject({ database: 'SuperOffice', backupType: 'full', complete: true });
    } else {
      expect(report.problems).toEqual([expect.stringMatching(/is not a usable backup of SuperOffice: /)]);
      expect(report.problems[0]).toMatch(reason);
      expect(
        report.databases[0]?.header?.complete &&
          report.databases[0]?.header?.backupType === 'full' &&
          report.databases[0]?.header?.database === 'SuperOffice' &&
          report.problems.length === 0,
      ).toBe(false);
    }
  });
});

describeWithMssqlFixtures('validateRun on real SQL Server backups', () => {
  test('GIVEN a real compressed backup of SharePoint_Config under the name SuperOffice WHEN validated THEN it fails by its decoded name', async () => {
    const report = await validateWithBackup(mssqlFixture('sharepoint-config-compressed.bak'));
    expect(report.problems).toEqual([expect.stringMatching(/backup of database "SharePoint_Config", not "SuperOffice"/)]);
    expect(report.databases[0]?.header).toMatchObject({
      format: 'MSSQLBAK',
      compressed: true,
      backupType: 'full',
      complete: true,
      server: 'SQLCLUSTER',
    });
  });

  test.each([
    ['difftest-diff1.bak', /a differential backup, not a full one/],
    ['db1-log.trn', /a transaction log backup, not a full one/],
  ])('GIVEN the real %s WHEN validated THEN its type is named', async (file, reason) => {
    expect((await validateWithBackup(mssqlFixture(file))).problems[0]).toMatch(reason);
  });

  test('GIVEN the first 1 KiB of a real backup with that size in the manifest WHEN validated THEN it fails', async () => {
    expect((await validateWithBackup(mssqlFixture('singlerestore-full.bak').subarray(0, 1024))).problems[0]).toMatch(
      /the file ends at 1024 bytes/,
    );
  });
});

describe('validateRun: each database and the archive is judged on its own', () => {
  test('GIVEN two databases where one is not a backup of itself, and a failure the connector reported WHEN validated THEN the others pass and the run can keep them', async () => {
    const { reader, pointer } = honestRun((m, r) => {
      const other = backupFile(
        { database: 'master', server: 'SQL01', backupSetName: 'x', startedAt: new Date() },
        Buffer.concat([...databasePages('o', 10_000)]),
      );
      m.databases.push({ ...m.databases[0]!, database: "O'Brien CRM", artifact: artifactOf(r, stagedBak('acme', "O'Brien CRM"), other) });
      m.failures = [{ kind: 'database', name: '2two', error: { code: 'SQL_DATABASE_OFFLINE', message: 'database "2two" is OFFLINE' } }];
    });
    const report = await validateRun(reader, run, pointer);
    expect(report).toMatchObject({ ok: false, promotable: true, failures: [{ kind: 'database', name: '2two' }] });
    expect(report.artifacts.map((a) => [a.kind, a.name, a.ok])).toEqual([
      ['database', 'SuperOffice', true],
      ['database', "O'Brien CRM", false],
      ['archive', 'SO_ARC', true],
    ]);
    expect(report.artifacts[1]!.problems).toEqual([expect.stringMatching(/backup of database "master", not "O'Brien CRM"/)]);
  });

  test('GIVEN a manifest for another run WHEN validated THEN nothing can be kept, whatever its artifacts', async () => {
    const { reader, pointer } = honestRun((m) => {
      m.runId = 'acme-2026-11-24-daily';
    });
    const report = await validateRun(reader, run, pointer);
    expect(report).toMatchObject({ ok: false, promotable: false, artifacts: [] });
    expect(report.problems).toEqual(['manifest is for run acme-2026-11-24-daily, not acme-2026-11-25-daily']);
  });

  test("GIVEN a manifest at a tier key (an old connector, or a forged pointer) WHEN validated THEN it is refused: only the run's staging prefix is read", async () => {
    const { reader } = honestRun();
    const stored = reader.put(keyLayout.manifest('acme'), Buffer.from('{}'));
    const report = await validateRun(reader, run, { key: stored.key, versionId: stored.versionId });
    expect(report).toMatchObject({
      promotable: false,
      problems: ['manifest is at manifests/daily/acme/manifest.json, expected incoming/acme/acme-2026-11-25-daily/manifest.json'],
    });
  });
});

/*
 * Issue 16 review: the middle of a backup was never read (a compressed daily with ~22 MB of its
 * middle zeroed or randomized validated and was promotable), and the validator must still never
 * download a whole backup (DESIGN.md): bounded ranged reads, and a report that says what they prove.
 */
describe('validateRun: the middle of a backup is sampled, with bounded ranged reads, and the report says what was proven', () => {
  const pages = Buffer.concat([...databasePages('SuperOffice', 16 * 1024 * 1024)]);
  const daily = standIn({ compressed: true }, pages);
  const middle = [1024 * 1024, daily.length - 1024 * 1024] as const;

  async function validateCounting(body: Buffer) {
    const { reader, pointer } = honestRun((m, r) => {
      m.databases[0]!.artifact = artifactOf(r, stagedBak('acme'), body);
    });
    const ranges: number[] = [];
    const read = reader.read.bind(reader);
    reader.read = async (key, versionId, range) => {
      if (key === stagedBak('acme')) ranges.push(range ? range.end - range.start + 1 : Number.POSITIVE_INFINITY);
      return read(key, versionId, range);
    };
    return { report: await validateRun(reader, run, pointer), ranges };
  }

  test('GIVEN a healthy compressed daily WHEN validated THEN ok, every range at most 1 MiB, a few MiB in all, and the report says what was and was not read', async () => {
    const { report, ranges } = await validateCounting(daily);
    expect(report.problems).toEqual([]);
    expect(Math.max(...ranges)).toBeLessThanOrEqual(1024 * 1024);
    expect(ranges.reduce((n, r) => n + r, 0)).toBeLessThan(daily.length / 2);
    const checked = report.artifacts.find((a) => a.kind === 'database')!.checked!;
    expect(checked).toMatch(/all \d+ blocks walked from TAPE to the final filemark/);
    expect(checked).toMatch(/a random sample of the middle: 8 windows/);
    expect(checked).toMatch(/Not read here: about \d+ bytes of data pages .*RESTORE VERIFYONLY/);
  }, 60_000);

  test.each([
    ['zeroed', (b: Buffer) => Buffer.from(b).fill(0, ...middle)],
    [
      'randomized',
      (b: Buffer) => {
        const out = Buffer.from(b);
        randomBytes(middle[1] - middle[0]).copy(out, middle[0]);
        return out;
      },
    ],
  ])(
    'GIVEN the compressed daily with all but 1 MiB at each end %s WHEN validated THEN the backup fails and is not kept',
    async (_, damage) => {
      const { report, ranges } = await validateCounting(damage(daily));
      expect(Math.max(...ranges)).toBeLessThanOrEqual(1024 * 1024);
      expect(report.artifacts.find((a) => a.kind === 'database')).toMatchObject({
        ok: false,
        problems: [
          expect.stringMatching(
            /is not a usable backup of SuperOffice: .*(middle of the compressed file|does not decode|no compressed chunk)/,
          ),
        ],
      });
    },
    60_000,
  );
});

describe('validateRun: one backup file that cannot be read costs only its own artifact (issue 16 review)', () => {
  test('GIVEN S3 answers a ranged read of the backup with the wrong number of bytes WHEN validated THEN that database fails, naming why, and the archive is still kept', async () => {
    const { reader, pointer } = honestRun();
    const read = reader.read.bind(reader);
    reader.read = async (key, versionId, range) => {
      const bytes = await read(key, versionId, range);
      return key === stagedBak('acme') && range ? bytes.subarray(0, bytes.length - 1) : bytes;
    };
    const report = await validateRun(reader, run, pointer);
    expect(report.artifacts.find((a) => a.kind === 'database')).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/could not be read as a backup: .*S3 returned \d+ bytes for a \d+-byte range/)],
    });
    expect(report.artifacts.find((a) => a.kind === 'archive')).toMatchObject({ ok: true });
    expect(report.promotable).toBe(true);
  });

  test('GIVEN S3 itself fails (an SDK error with its HTTP metadata) WHEN validated THEN the error propagates: the step is retried, nothing is judged', async () => {
    const { reader, pointer } = honestRun();
    const read = reader.read.bind(reader);
    reader.read = async (key, versionId, range) => {
      if (key === stagedBak('acme') && range)
        throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
          name: 'InternalError',
          $metadata: { httpStatusCode: 500 },
        });
      return read(key, versionId, range);
    };
    await expect(validateRun(reader, run, pointer)).rejects.toMatchObject({ name: 'InternalError' });
  });
});
