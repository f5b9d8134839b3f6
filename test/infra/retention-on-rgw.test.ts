import { rgwOwnerKey, type S3Key } from '../../local/ceph-rgw';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3ObjectStore } from '../../connector/src/store';
import { S3VersionCopier } from '../../functions/src/finalize-run/s3-version-copier';
import { finalizeRun } from '../../functions/src/finalize-run/finalize-run';
import type { RunRecord, TenantRecord } from '../../core';
import { keyLayout, type Manifest, type ManifestPointer, manifestSchema, STAGING_PREFIX } from '../../protocol';
import { SoBackupStack } from '../../infra/lib/so-backup-stack';
import { lifecycleRulesFromTemplate } from '../../local/cloud/provision';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';
import { cephChroot, describeWith } from '../helpers/prerequisites';
import { cephRgw } from '../helpers/ceph-rgw';
import { databaseBackup } from '../helpers/database-backup';

/**
 * The stack's own lifecycle rules, applied to a real Ceph RGW whose lifecycle "day" is 10 s
 * (`rgw lc debug interval`): when backups stop, the last N backups of every tier are never
 * expired; uploads that never validated stay in staging, expire there, and never displace a
 * validated backup. And the server-side copies finalize makes to promote and to copy tiers.
 */
/** The bucket owner's key, made by RGW when the cluster starts (filled in beforeAll; the client below reads it when it signs). */
const KEYS: S3Key = { accessKeyId: '', secretAccessKey: '' };
const PORT = TEST_PORT_BLOCKS.retentionRgw + 80;
const DAY_SECONDS = 10;
const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-lc-'));
const ceph = (...args: string[]) => cephRgw(args, { SO_BACKUP_RGW_LC_DEBUG_INTERVAL: String(DAY_SECONDS) });

/** The manifest a connector (version "test") stages for a run started and finished at `at`: these databases, these failures. */
function connectorManifest(
  runId: string,
  tenantId: string,
  at: string,
  databases: Manifest['databases'],
  failures: Manifest['failures'],
): Manifest {
  return {
    kind: 'so-backup-manifest',
    v: 1,
    runId,
    tenantId,
    connectorVersion: 'test',
    startedAt: at,
    finishedAt: at,
    failures,
    databases,
  };
}

describeWith([cephChroot], `retention on Ceph RGW (a lifecycle day = ${DAY_SECONDS} s)`, () => {
  jest.setTimeout(300_000);
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${PORT}`, region: 'us-east-1', forcePathStyle: true, credentials: KEYS });
  const bucket = 'backups';

  beforeAll(async () => {
    ceph('start', path.join(dir, 'ceph'), String(PORT), String(TEST_PORT_BLOCKS.retentionRgw + 10));
    Object.assign(KEYS, rgwOwnerKey(path.join(dir, 'ceph')));
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const template = Template.fromStack(
      new SoBackupStack(app, 'Retention', { dailyBackupsKept: 3, weeklyBackupsKept: 2, monthlyBackupsKept: 2 }),
    );
    const [backupBucket] = Object.values(
      template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }),
    );
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: lifecycleRulesFromTemplate(backupBucket!.Properties as Record<string, unknown>) },
      }),
    );
  });
  afterAll(() => {
    s3.destroy();
    ceph('stop', path.join(dir, 'ceph'));
    rmSync(dir, { recursive: true, force: true });
  });

  const versionsOf = async (key: string) => {
    const out = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    return (out.Versions ?? []).filter((v) => v.Key === key);
  };

  test('GIVEN 6 backups in each GFS tier and then none WHEN many lifecycle days pass THEN exactly the newest N of each tier (and of its manifests) survive; archive versions younger than their retention stay', async () => {
    const kept = { daily: 3, weekly: 2, monthly: 2 };
    const keys = Object.keys(kept).flatMap((tier) => [`db/${tier}/acme/SuperOffice.bak`, `manifests/${tier}/acme/manifest.json`]);
    const written = new Map<string, string[]>(keys.map((key) => [key, []]));
    for (let day = 1; day <= 6; day++) {
      for (const key of keys) {
        const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${key} of backup ${day}` }));
        written.get(key)!.push(out.VersionId!);
      }
    }
    const archive = 'archive/acme/SO_ARC/ANNA/offer.docx';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: archive, Body: 'offer v1' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: archive, Body: 'offer v2' }));
    const keptOf = (key: string) => kept[key.split('/')[1] as keyof typeof kept];
    const survivors = async () =>
      Object.fromEntries(
        await Promise.all(keys.map(async (key) => [key, (await versionsOf(key)).map((v) => v.VersionId).sort()] as const)),
      );
    const expected = Object.fromEntries(keys.map((key) => [key, written.get(key)!.slice(-keptOf(key)).sort()]));

    // Backups stop. Let lifecycle days pass and run lifecycle processing until it settles.
    let now = await survivors();
    for (let round = 0; round < 12 && JSON.stringify(now) !== JSON.stringify(expected); round++) {
      await new Promise((resolve) => setTimeout(resolve, (DAY_SECONDS + 2) * 1000));
      ceph('lc-process', path.join(dir, 'ceph'));
      now = await survivors();
    }
    expect(now).toEqual(expected);
    // More days without backups change nothing: the last N of every tier are never expired.
    await new Promise((resolve) => setTimeout(resolve, (DAY_SECONDS * 2 + 2) * 1000));
    ceph('lc-process', path.join(dir, 'ceph'));
    expect(await survivors()).toEqual(expected);
    expect(await versionsOf(archive)).toHaveLength(2); // 90 "days" of archive retention have not passed
  });

  test('GIVEN 3 validated days and then 14 days whose uploads failed validation (dailyBackupsKept 3) WHEN lifecycle days pass THEN the 3 validated backups stay in the daily tier and every failed upload expires from staging', async () => {
    const endpoint = `http://127.0.0.1:${PORT}`;
    const tenantId = 'good';
    const copier = new S3VersionCopier(s3, bucket);
    const bak = path.join(dir, 'daily.bak');
    const records = new Map<string, Partial<RunRecord>>();
    const promoted: string[] = [];
    for (let day = 1; day <= 17; day++) {
      const runId = `good-2026-11-${String(day).padStart(2, '0')}-daily`;
      // The connector's upload, with a session that may write only this run's staging prefix (see upload-credentials.ts).
      const store = new S3ObjectStore(
        { bucket, region: 'us-east-1', endpoint, forcePathStyle: true },
        { ...KEYS, expiration: new Date(Date.now() + 3600_000).toISOString() },
      );
      writeFileSync(bak, `SuperOffice backup of day ${day}`);
      const artifact = await store.putFile(keyLayout.stagedDatabaseBackup(tenantId, runId, 'SuperOffice'), bak);
      const now = new Date().toISOString();
      const manifest = connectorManifest(runId, tenantId, now, [databaseBackup('SuperOffice', artifact, now)], []);
      const staged = await store.putBuffer(
        keyLayout.stagedManifest(tenantId, runId),
        Buffer.from(JSON.stringify(manifest)),
        'application/json',
      );
      if (day > 3) continue; // validation failed: finalize never runs, nothing is promoted
      const run = { runId, tenantId, trigger: 'schedule' as const, startedAt: now };
      const validation = {
        ok: true,
        promotable: true as const,
        checks: 5,
        totalBytes: artifact.size,
        databases: [{ database: 'SuperOffice', size: artifact.size }],
        artifacts: [{ kind: 'database' as const, name: 'SuperOffice', ok: true, problems: [] }],
      };
      await finalizeRun(
        {
          runs: {
            get: async (id) => records.get(id) as RunRecord | undefined,
            update: async (id, fields) => void records.set(id, { ...records.get(id), ...fields }),
          },
          tenants: {
            get: async () => undefined,
            recordSuccess: async () => undefined,
            recordPromotion: async () => undefined,
            recordSeeding: async () => undefined,
          },
          copier,
          readManifest: async (pointer) =>
            manifestSchema.parse(
              JSON.parse(
                await (
                  await s3.send(new GetObjectCommand({ Bucket: bucket, Key: pointer.key, VersionId: pointer.versionId }))
                ).Body!.transformToString(),
              ),
            ),
          kept: { weekly: 0, monthly: 0 },
        },
        run,
        { key: staged.key, versionId: staged.versionId },
        validation,
      );
      promoted.push(records.get(runId)!.validatedManifest!.versionId);
    }
    const dailyBackups = async () => (await versionsOf(keyLayout.databaseBackup(tenantId, 'SuperOffice'))).map((v) => v.VersionId).sort();
    const dailyManifests = async () => (await versionsOf(keyLayout.manifest(tenantId))).map((v) => v.VersionId).sort();
    const validatedBackups = await dailyBackups();
    expect(validatedBackups).toHaveLength(3);
    expect(await dailyManifests()).toEqual([...promoted].sort());
    const staging = async () => {
      const out = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `${STAGING_PREFIX}${tenantId}/` }));
      return { versions: out.Versions?.length ?? 0, deleteMarkers: out.DeleteMarkers?.length ?? 0 };
    };
    expect(await staging()).toEqual({ versions: 17 * 2, deleteMarkers: 3 }); // the 3 promoted .bak copies are retired at once

    // The failed days keep coming; lifecycle runs day after day.
    for (let round = 0; round < 15 && JSON.stringify(await staging()) !== JSON.stringify({ versions: 0, deleteMarkers: 0 }); round++) {
      await new Promise((resolve) => setTimeout(resolve, (DAY_SECONDS + 2) * 1000));
      ceph('lc-process', path.join(dir, 'ceph'));
    }
    expect(await staging()).toEqual({ versions: 0, deleteMarkers: 0 });
    expect(await dailyBackups()).toEqual(validatedBackups);
    expect(await dailyManifests()).toEqual([...promoted].sort());
  });

  test("GIVEN SuperOffice validating every day while 2two fails for more days than are kept (dailyBackupsKept 3) WHEN lifecycle days pass THEN 2two's last validated backup is still named by the newest daily manifest and still restorable", async () => {
    const endpoint = `http://127.0.0.1:${PORT}`;
    const tenantId = 'partly';
    const copier = new S3VersionCopier(s3, bucket);
    const records = new Map<string, Partial<RunRecord>>();
    let tenant: TenantRecord = { tenantId, displayName: 'Partly', enabled: true, keys: [], createdAt: new Date().toISOString() };
    const readManifest = async (pointer: ManifestPointer) =>
      manifestSchema.parse(
        JSON.parse(
          await (
            await s3.send(new GetObjectCommand({ Bucket: bucket, Key: pointer.key, VersionId: pointer.versionId }))
          ).Body!.transformToString(),
        ),
      );
    const promoted: string[] = [];
    const days = 6; // 2two fails on days 2–6: 5 days, more than the 3 kept
    for (let day = 1; day <= days; day++) {
      const runId = `partly-2026-11-${String(day).padStart(2, '0')}-daily`;
      const store = new S3ObjectStore(
        { bucket, region: 'us-east-1', endpoint, forcePathStyle: true },
        { ...KEYS, expiration: new Date(Date.now() + 3600_000).toISOString() },
      );
      const now = new Date().toISOString();
      const databases = [];
      for (const name of day === 1 ? ['SuperOffice', '2two'] : ['SuperOffice']) {
        const bak = path.join(dir, `${name}.bak`);
        writeFileSync(bak, `${name} backup of day ${day}`);
        const artifact = await store.putFile(keyLayout.stagedDatabaseBackup(tenantId, runId, name), bak);
        databases.push(databaseBackup(name, artifact, now));
      }
      const failures =
        day === 1
          ? []
          : [{ kind: 'database' as const, name: '2two', error: { code: 'SQL_DATABASE_OFFLINE', message: 'database "2two" is OFFLINE' } }];
      const manifest = connectorManifest(runId, tenantId, now, databases, failures);
      const staged = await store.putBuffer(
        keyLayout.stagedManifest(tenantId, runId),
        Buffer.from(JSON.stringify(manifest)),
        'application/json',
      );
      const validation = {
        ok: true,
        promotable: true as const,
        checks: 5,
        totalBytes: 1,
        databases: databases.map((db) => ({ database: db.database, size: db.artifact.size })),
        artifacts: databases.map((db) => ({ kind: 'database' as const, name: db.database, ok: true, problems: [] })),
      };
      await finalizeRun(
        {
          runs: {
            get: async (id) => records.get(id) as RunRecord | undefined,
            update: async (id, fields) => void records.set(id, { ...records.get(id), ...fields }),
          },
          tenants: {
            get: async () => tenant,
            recordSuccess: async () => undefined,
            recordSeeding: async () => undefined,
            recordPromotion: async (_id, dailyManifest, tierMarks) => void (tenant = { ...tenant, dailyManifest, tierMarks }),
          },
          copier,
          readManifest,
          kept: { weekly: 0, monthly: 0 },
        },
        { runId, tenantId, trigger: 'schedule', startedAt: now },
        { key: staged.key, versionId: staged.versionId },
        validation,
      );
      promoted.push(records.get(runId)!.validatedManifest!.versionId);
    }
    const versionIds = async (key: string) => (await versionsOf(key)).map((v) => v.VersionId!).sort();
    const twoTwo = await versionIds(keyLayout.databaseBackup(tenantId, '2two'));
    expect(twoTwo).toHaveLength(1);
    expect(await versionIds(keyLayout.manifest(tenantId))).toEqual([...promoted].sort());

    // Lifecycle days pass: the daily tier settles to the newest 3 manifests and SuperOffice backups.
    const settled = async () =>
      (await versionIds(keyLayout.manifest(tenantId))).length === 3 &&
      (await versionIds(keyLayout.databaseBackup(tenantId, 'SuperOffice'))).length === 3;
    for (let round = 0; round < 15 && !(await settled()); round++) {
      await new Promise((resolve) => setTimeout(resolve, (DAY_SECONDS + 2) * 1000));
      ceph('lc-process', path.join(dir, 'ceph'));
    }
    expect(await versionIds(keyLayout.manifest(tenantId))).toEqual(promoted.slice(-3).sort());
    expect(await versionIds(keyLayout.databaseBackup(tenantId, '2two'))).toEqual(twoTwo);
    // The newest daily manifest — what restores, drills and shares read — names 2two's backup of day 1, and it reads back.
    const newest = await readManifest({ key: keyLayout.manifest(tenantId), versionId: promoted.at(-1)! });
    const carried = newest.databases.find((db) => db.database === '2two')!;
    expect(carried).toMatchObject({
      carriedFrom: 'partly-2026-11-01-daily',
      artifact: { key: keyLayout.databaseBackup(tenantId, '2two'), versionId: twoTwo[0] },
    });
    const body = await (
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: carried.artifact.key, VersionId: carried.artifact.versionId }))
    ).Body!.transformToString();
    expect(body).toBe('2two backup of day 1');
    expect(newest.databases.find((db) => db.database === 'SuperOffice')!.carriedFrom).toBeUndefined();
  });

  test("GIVEN a backup stored in one PUT and one stored in parts WHEN copied to a tier THEN each copy has its source's S3 SHA-256 and a new version", async () => {
    const endpoint = `http://127.0.0.1:${PORT}`;
    const store = new S3ObjectStore(
      { bucket, region: 'us-east-1', endpoint, forcePathStyle: true },
      { ...KEYS, expiration: new Date(Date.now() + 3600_000).toISOString() },
    );
    const small = path.join(dir, 'small.bak');
    const large = path.join(dir, 'large.bak');
    writeFileSync(small, Buffer.alloc(1 << 20, 7));
    writeFileSync(large, Buffer.concat([Buffer.alloc(6 << 20, 1), Buffer.alloc(6 << 20, 2), Buffer.alloc(1000, 3)]));
    const copier = new S3VersionCopier(s3, bucket);
    for (const [file, type] of [
      [small, 'FULL_OBJECT'],
      [large, 'COMPOSITE'],
    ] as const) {
      const source = await store.putFile(`db/daily/copy/${path.basename(file)}`, file);
      expect(source.s3Checksum.type).toBe(type);
      const copy = await copier.copy(source, `db/weekly/copy/${path.basename(file)}`);
      expect(copy).toMatchObject({
        key: `db/weekly/copy/${path.basename(file)}`,
        size: source.size,
        sha256: source.sha256,
        s3Checksum: source.s3Checksum,
      });
      expect(copy.versionId).not.toBe(source.versionId);
      const again = await copier.copy(source, copy.key);
      expect(again.versionId).not.toBe(copy.versionId); // each promotion is a new version of the tier key
    }
    // A source version that does not exist fails the copy; nothing is left behind half-made.
    const source = await store.putFile('db/daily/copy/large2.bak', large);
    await expect(copier.copy({ ...source, versionId: 'no-such-version' }, 'db/monthly/copy/large2.bak')).rejects.toThrow();
    expect(await versionsOf('db/monthly/copy/large2.bak')).toEqual([]);
  });
});
