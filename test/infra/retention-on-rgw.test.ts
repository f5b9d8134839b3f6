import { CreateBucketCommand, ListObjectVersionsCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SoBackupStack } from '../../infra/lib/so-backup-stack';
import { lifecycleRulesFromTemplate } from '../../local/cloud/provision';

/**
 * The stack's own lifecycle rules, applied to a real Ceph RGW whose lifecycle "day" is 10 s
 * (`rgw lc debug interval`): when backups stop, the last N database backups are never expired.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const CHROOT_READY = existsSync('/var/cache/so-backup/ceph-root/.so-backup-ready');
const KEYS = { accessKeyId: 'SOBACKUPTESTLIFECYC1', secretAccessKey: 'so-backup-lifecycle-test-key-not-for-production' };
const PORT = 48_680;
const DAY_SECONDS = 10;
const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-lc-'));
const ceph = (...args: string[]) => execFileSync('bash', [path.join(ROOT, 'scripts', 'ceph-rgw.sh'), ...args], {
  stdio: 'pipe', env: { ...process.env, SO_BACKUP_RGW_LC_DEBUG_INTERVAL: String(DAY_SECONDS) },
}).toString();

(CHROOT_READY ? describe : describe.skip)(`retention on Ceph RGW (a lifecycle day = ${DAY_SECONDS} s)`, () => {
  jest.setTimeout(300_000);
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${PORT}`, region: 'us-east-1', forcePathStyle: true, credentials: KEYS });
  const bucket = 'backups';

  beforeAll(async () => {
    ceph('start', path.join(dir, 'ceph'), String(PORT), String(PORT - 70), KEYS.accessKeyId, KEYS.secretAccessKey);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const template = Template.fromStack(new SoBackupStack(app, 'Retention', { dailyBackupsKept: 3 }));
    const [backupBucket] = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }));
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: lifecycleRulesFromTemplate(backupBucket!.Properties as Record<string, unknown>) } }));
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

  test('GIVEN 6 daily backups and then none WHEN many lifecycle days pass THEN exactly the newest 3 survive; archive versions younger than their retention stay', async () => {
    const db = 'db/daily/acme/SuperOffice.bak';
    const written: string[] = [];
    for (let day = 1; day <= 6; day++) {
      const out = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: db, Body: `backup of day ${day}` }));
      written.push(out.VersionId!);
    }
    const archive = 'archive/acme/SO_ARC/ANNA/offer.docx';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: archive, Body: 'offer v1' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: archive, Body: 'offer v2' }));

    // Backups stop. Let lifecycle days pass and run lifecycle processing until it settles.
    let kept = await versionsOf(db);
    for (let round = 0; round < 12 && kept.length > 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, (DAY_SECONDS + 2) * 1000));
      ceph('lc-process', path.join(dir, 'ceph'));
      kept = await versionsOf(db);
    }
    expect(kept.map((v) => v.VersionId).sort()).toEqual(written.slice(-3).sort());
    // More days without backups change nothing: the last 3 are never expired.
    await new Promise((resolve) => setTimeout(resolve, (DAY_SECONDS * 2 + 2) * 1000));
    ceph('lc-process', path.join(dir, 'ceph'));
    expect((await versionsOf(db)).map((v) => v.VersionId).sort()).toEqual(written.slice(-3).sort());
    expect(await versionsOf(archive)).toHaveLength(2); // 90 "days" of archive retention have not passed
  });
});
