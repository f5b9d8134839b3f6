import { GetObjectCommand, PutObjectCommand, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cephChroot, describeWith } from '../helpers/prerequisites';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';

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
const start = (file: string) =>
  spawnSync('bash', [file, 'start', data, String(RGW_PORT), String(MON_PORT), KEYS.accessKeyId, KEYS.secretAccessKey], {
    encoding: 'utf8',
  });

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

  test('GIVEN a cluster an earlier version made without cephx, holding a backup WHEN the current script starts it THEN cephx is on (no key, no pools), the keys are 0600 in a 0700 folder, and the backup is still there', async () => {
    const before = path.join(dir, 'ceph-rgw-before-cephx.sh');
    writeFileSync(before, execFileSync('git', ['show', `${BEFORE_CEPHX}:scripts/ceph-rgw.sh`], { cwd: ROOT }));
    const made = start(before);
    expect(made.status).toBe(0);
    // The defect: without cephx anyone on the machine lists (and reads) the pools.
    expect(radosWithoutKey()).toMatchObject({ status: 0, out: expect.stringContaining('.rgw.root') });
    await s3.send(new CreateBucketCommand({ Bucket: 'upgrade' })).catch(() => undefined);
    const body = `backup ${createHash('sha256').update(dir).digest('hex')}`;
    await s3.send(new PutObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak', Body: body }));
    script(before, 'stop', data);

    const upgraded = start(path.join(ROOT, 'scripts', 'ceph-rgw.sh'));
    expect(upgraded.status).toBe(0);
    expect(upgraded.stderr).toContain('turning on cephx');
    const refused = radosWithoutKey();
    expect(refused.status).not.toBe(0);
    expect(refused.out).not.toContain('.rgw.root');
    expect(
      await (await s3.send(new GetObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak' }))).Body!.transformToString(),
    ).toBe(body);
    expect({
      folder: mode(data),
      keyring: mode(path.join(data, 'keyring')),
      monitor: mode(path.join(data, 'mon', 'keyring')),
      conf: mode(path.join(data, 'ceph.conf')),
    }).toEqual({ folder: '700', keyring: '600', monitor: '600', conf: '600' });

    // And the next start is an ordinary one.
    script(path.join(ROOT, 'scripts', 'ceph-rgw.sh'), 'stop', data);
    const again = start(path.join(ROOT, 'scripts', 'ceph-rgw.sh'));
    expect(again.status).toBe(0);
    expect(again.stderr).not.toContain('turning on cephx');
    expect(radosWithoutKey().status).not.toBe(0);
    expect(
      await (await s3.send(new GetObjectCommand({ Bucket: 'upgrade', Key: 'db/daily/acme/SuperOffice.bak' }))).Body!.transformToString(),
    ).toBe(body);
  });
});
