import { GetObjectCommand, PutObjectCommand, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cephChroot, describeWith } from '../helpers/prerequisites';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';
import { rgwOwnerKey } from '../../local/ceph-rgw';

/**
 * Ceph's own authentication (cephx) in local mode's and the tests' clusters: without it, anyone on
 * the machine could ask the monitor and the OSD for every pool (`rados -m 127.0.0.1:MON …`) — every
 * tenant's objects and RGW's keys — past RGW. A cluster an earlier version made without cephx is
 * upgraded at its next start, its data kept.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const CEPH_ROOT = process.env.SO_BACKUP_CEPH_ROOT ?? '/var/cache/so-backup/ceph-root';
const KEYS = { accessKeyId: 'SOBACKUPLOCALACCESS0', secretAccessKey: 'so-backup-local-secret-key-not-for-production' };
const RGW_PORT = TEST_PORT_BLOCKS.cephxUpgrade + 80;
const MON_PORT = TEST_PORT_BLOCKS.cephxUpgrade + 10;
/** scripts/ceph-rgw.sh as it was before cephx (origin/main when cephx came): it made clusters without keys. */
const BEFORE_CEPHX = '257ec1a';
const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-cephx-'));
const data = path.join(dir, 'ceph');
const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);
const script = (file: string, ...args: string[]) =>
  execFileSync('bash', [file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** Earlier versions took the bucket owner's key on the command line (a constant of the repository); the current script makes its own. */
const start = (file: string, keys: 'keys on the command line' | 'no keys') =>
  spawnSync(
    'bash',
    [file, 'start', data, String(RGW_PORT), String(MON_PORT), ...(keys === 'no keys' ? [] : [KEYS.accessKeyId, KEYS.secretAccessKey])],
    { encoding: 'utf8' },
  );

/** `rados lspools` as another local user would try it: the monitor's address and no key (auth none). */
function radosWithoutKey(): { status: number | null; out: string } {
  const conf = `/tmp/so-backup-anon-${process.pid}.conf`;
  writeFileSync(
    path.join(CEPH_ROOT, conf),
    `[global]\nmon host = [v1:127.0.0.1:${MON_PORT}]\nms bind msgr2 = false\nauth client required = none\nauth cluster required = none\nauth service required = none\n`,
  );
  try {
    const run = spawnSync('chroot', [CEPH_ROOT, 'timeout', '25', 'rados', '-c', conf, 'lspools'], { encoding: 'utf8' });
    return { status: run.status, out: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(path.join(CEPH_ROOT, conf), { force: true });
  }
}

describeWith([cephChroot], 'Ceph with cephx (v14 re-check)', () => {
  jest.setTimeout(300_000);
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${RGW_PORT}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: KEYS,
    maxAttempts: 3,
  });
  afterAll(() => {
    s3.destroy();
    spawnSync('bash', [path.join(ROOT, 'scripts', 'ceph-rgw.sh'), 'stop', data]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('GIVEN a cluster an earlier version made without cephx, holding a backup WHEN the current script starts it THEN cephx is on (no key, no pools), the constant bucket-owner key of the repository is replaced by one RGW makes (issue 14, F2), the keys are 0600 in a 0700 folder, and the backup is still there', async () => {
    const before = path.join(dir, 'ceph-rgw-before-cephx.sh');
    writeFileSync(before, execFileSync('git', ['show', `${BEFORE_CEPHX}:scripts/ceph-rgw.sh`], { cwd: ROOT }));
    const made = start(before, 'keys on the command line');
    expect(made.status).toBe(0);
    // The defect: without cephx anyone on the machine lists (and reads) the pools.
    expect(radosWithoutKey()).toMatchObject({ status: 0, out: expect.stringContaining('.rgw.root') });
    await s3.send(new CreateBucketCommand({ Bucket: 'upgrade' })).catch(() => undefined);
    const body = `backup ${createHash('sha256').update(dir).digest('hex')}`;
    await s3.send(new PutObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak', Body: body }));
    script(before, 'stop', data);

    const upgraded = start(path.join(ROOT, 'scripts', 'ceph-rgw.sh'), 'no keys');
    expect(upgraded.status).toBe(0);
    expect(upgraded.stderr).toContain('turning on cephx');
    const refused = radosWithoutKey();
    expect(refused.status).not.toBe(0);
    expect(refused.out).not.toContain('.rgw.root');
    // The bucket owner's key was the repository's constant: it is replaced by one RGW made, kept 0600.
    expect(upgraded.stderr).toContain('making a new S3 key for the bucket owner');
    await expect(s3.send(new GetObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak' }))).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });
    const owner = rgwOwnerKey(data);
    expect(owner.accessKeyId).not.toBe(KEYS.accessKeyId);
    expect(owner.secretAccessKey).not.toBe(KEYS.secretAccessKey);
    const asOwner = new S3Client({
      endpoint: `http://127.0.0.1:${RGW_PORT}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { ...owner },
      maxAttempts: 3,
    });
    expect(
      await (
        await asOwner.send(new GetObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak' }))
      ).Body!.transformToString(),
    ).toBe(body);
    expect({
      folder: mode(data),
      keyring: mode(path.join(data, 'keyring')),
      monitor: mode(path.join(data, 'mon', 'keyring')),
      conf: mode(path.join(data, 'ceph.conf')),
      ownerKey: mode(path.join(data, 'owner-key.json')),
    }).toEqual({ folder: '700', keyring: '600', monitor: '600', conf: '600', ownerKey: '600' });
    // Keys are never taken on the command line again (ps shows every process's).
    const withKeys = start(path.join(ROOT, 'scripts', 'ceph-rgw.sh'), 'keys on the command line');
    expect(withKeys.status).not.toBe(0);
    expect(withKeys.stderr).toContain('keys are no longer given on the command line');

    // And the next start is an ordinary one.
    script(path.join(ROOT, 'scripts', 'ceph-rgw.sh'), 'stop', data);
    const again = start(path.join(ROOT, 'scripts', 'ceph-rgw.sh'), 'no keys');
    expect(again.status).toBe(0);
    expect(again.stderr).not.toContain('turning on cephx');
    expect(again.stderr).not.toContain('making a new S3 key');
    expect(rgwOwnerKey(data)).toEqual(owner);
    expect(radosWithoutKey().status).not.toBe(0);
    expect(
      await (
        await asOwner.send(new GetObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak' }))
      ).Body!.transformToString(),
    ).toBe(body);
    asOwner.destroy();
  });
});
