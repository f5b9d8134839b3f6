import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { ArchiveIndex, backupArchive, mirrorArchive } from '../../connector/src/backup';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { archiveSnapshotSchema } from '../../protocol';
import { windowAfter } from '../helpers/window-clock';
import { BandwidthLimiter } from '../../connector/src/bandwidth';
import { compositeChecksum, readObject, S3ObjectStore } from '../../connector/src/store';
import type { PutOptions } from '../../connector/src/store/object-store';
import { databasePages } from '../../local/tds/mtf-backup-file';
import { cephChroot, describeWith } from '../helpers/prerequisites';
import { startSlowDownProxy } from '../helpers/slow-down-proxy';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';
import { USER_NODE } from '../../local/daemons';
import { cephRgw, startCephRgw } from '../helpers/ceph-rgw';
import type { S3Key } from '../../local/ceph-rgw';

/** The uploader against a real S3 (its own Ceph RGW cluster on loopback). */
const ROOT = path.resolve(__dirname, '..', '..');
/** The bucket owner's key, made by RGW when the cluster starts (filled in beforeAll; the clients below read it when they sign). */
const KEYS: S3Key = { accessKeyId: '', secretAccessKey: '' };
const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-s3-'));
const PORT = TEST_PORT_BLOCKS.s3ObjectStoreRgw + 80;
const endpoint = `http://127.0.0.1:${PORT}`;
const logger = pino({ level: 'silent' });

/** A run's archive snapshot as stored in S3. */
async function snapshotOf(store: S3ObjectStore, stored: { key: string; versionId: string }) {
  return archiveSnapshotSchema.parse(JSON.parse(gunzipSync(await readObject(store, stored.key, stored.versionId)).toString()));
}

describeWith([cephChroot], 'S3ObjectStore on Ceph RGW', () => {
  jest.setTimeout(180_000);
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: KEYS });
  const target = { bucket: 'uploads', region: 'us-east-1', endpoint, forcePathStyle: true };
  const credentials = { ...KEYS, expiration: new Date(Date.now() + 3600_000).toISOString() };

  beforeAll(async () => {
    Object.assign(
      credentials,
      Object.assign(KEYS, startCephRgw(path.join(dir, 'ceph'), { port: PORT, monitorPort: TEST_PORT_BLOCKS.s3ObjectStoreRgw + 10 })),
    );
    await s3.send(new CreateBucketCommand({ Bucket: 'uploads' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'uploads', VersioningConfiguration: { Status: 'Enabled' } }));
  });
  afterAll(() => {
    s3.destroy();
    cephRgw(['stop', path.join(dir, 'ceph')]);
    rmSync(dir, { recursive: true, force: true }); // the cluster's block file alone is ~800 MB
  });

  test('GIVEN a bandwidth limiter WHEN the store uploads (one PUT, parts, in-memory pieces) and downloads THEN every byte goes through its bucket', async () => {
    const limiter = new BandwidthLimiter({ config: '1 Gbit/s' });
    const store = new S3ObjectStore(target, credentials, { bandwidth: limiter });
    const small = path.join(dir, 'small.pdf');
    const large = path.join(dir, 'large.bak');
    writeFileSync(small, Buffer.alloc(300_000, 7));
    writeFileSync(large, Buffer.alloc(13 << 20, 9));
    const one = await store.putFile('limited/small.pdf', small);
    const parts = await store.putFile('limited/large.bak', large); // three parts through the SDK
    const pieces = await store.putBuffer('limited/manifest.json', [Buffer.from('{"a":'), Buffer.from('1}')]);
    expect(parts.s3Checksum.type).toBe('COMPOSITE');
    const sent = 300_000 + (13 << 20) + 7;
    // Request bodies only (headers are not counted); a retried request would count again.
    expect(limiter.upload.bytesTaken).toBe(sent);
    const before = limiter.download.bytesTaken;
    expect((await readObject(store, 'limited/large.bak', parts.versionId)).length).toBe(13 << 20);
    expect((await readObject(store, 'limited/small.pdf', one.versionId)).length).toBe(300_000);
    expect(await store.getVersion('limited/manifest.json', pieces.versionId, { start: 0, end: 2 })).toBeDefined();
    expect(limiter.download.bytesTaken - before).toBeGreaterThanOrEqual((13 << 20) + 300_000);
    limiter.stop();
  });

  test("GIVEN an upload killed mid-way WHEN the connector uploads again THEN only the missing parts are sent and S3's checksum matches the file", async () => {
    const file = path.join(dir, 'big.bak');
    writeFileSync(file, Buffer.concat([...databasePages('resume', 300 << 20)]));
    const checkpoints = path.join(dir, 'uploads');
    const uploader = path.join(ROOT, 'scripts', 'bench', 'upload-file.ts');
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: KEYS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
      SO_BACKUP_CHECKPOINT_DIR: checkpoints,
    };

    // First attempt: a separate process, killed (SIGKILL, like a crash) once S3 has a few parts.
    const child = spawn(USER_NODE, ['--import', 'tsx', uploader, endpoint, 'uploads', 'db/daily/acme/SuperOffice.bak', file], {
      env,
      stdio: 'ignore',
    });
    const partsSaved = () => {
      const [name] = existsSync(checkpoints) ? readdirSync(checkpoints).filter((f) => f.endsWith('.json')) : [];
      try {
        return name ? Object.keys((JSON.parse(readFileSync(path.join(checkpoints, name), 'utf8')) as { parts: object }).parts).length : 0;
      } catch {
        return 0;
      }
    };
    for (let i = 0; i < 3000 && partsSaved() < 8; i++) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = partsSaved();
    expect(before).toBeGreaterThanOrEqual(8);
    expect(before).toBeLessThan(60);

    // Second attempt, in this process: resumes.
    const stored = await new S3ObjectStore(target, credentials, { checkpointDir: checkpoints }).putFile(
      'db/daily/acme/SuperOffice.bak',
      file,
    );
    expect(stored.resumedParts).toBeGreaterThanOrEqual(before - 6); // parts in flight at the kill may be lost
    expect(stored.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: 'uploads', Key: stored.key, VersionId: stored.versionId, ChecksumMode: 'ENABLED' }),
    );
    expect(head.ContentLength).toBe(300 << 20);
    expect(stored.s3Checksum.type).toBe('COMPOSITE');
    expect(head.ChecksumSHA256).toBe(stored.s3Checksum.value);
    if (stored.s3Checksum.type === 'COMPOSITE') expect(compositeChecksum(stored.s3Checksum.parts)).toBe(head.ChecksumSHA256);
    expect(readdirSync(checkpoints).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  test('GIVEN a cancelled upload WHEN aborted THEN no parts are left behind and no checkpoint remains', async () => {
    const file = path.join(dir, 'cancel.bak');
    writeFileSync(file, Buffer.concat([...databasePages('cancel', 60 << 20)]));
    const checkpoints = path.join(dir, 'uploads-cancel');
    const abort = new AbortController();
    const store = new S3ObjectStore(target, credentials, { checkpointDir: checkpoints });
    const upload = store.putFile('db/daily/acme/Cancel.bak', file, {
      signal: abort.signal,
      onProgress: (sent) => sent > 10 << 20 && abort.abort(),
    });
    await expect(upload).rejects.toThrow();
    expect(existsSync(checkpoints) ? readdirSync(checkpoints).filter((f) => f.endsWith('.json')) : []).toEqual([]);
    const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads', Prefix: 'db/daily/acme/Cancel.bak' }));
    expect(open.Uploads ?? []).toEqual([]);
  });

  test("GIVEN an archive on RGW WHEN a file is renamed and the index is then lost THEN the rename is a server-side copy and the rebuild adopts every file by S3's own checksums", async () => {
    const archive = path.join(dir, 'SO_ARC');
    const state = path.join(dir, 'archive-state');
    mkdirSync(path.join(archive, 'ANNA'), { recursive: true });
    writeFileSync(path.join(archive, 'ANNA', 'small offer.docx'), 'small');
    writeFileSync(path.join(archive, 'ANNA', 'big attachment.pdf'), Buffer.concat([...databasePages('attachment', 7 << 20)])); // two parts: COMPOSITE
    const store = new S3ObjectStore(target, credentials);
    const roots = [{ name: 'SO_ARC', path: archive }];
    const fresh = await ArchiveIndex.load(state);
    expect(await mirrorArchive('acme', roots, store, fresh)).toMatchObject({ uploadedFiles: 2, files: 2 });
    await fresh.save(); // mirrorArchive leaves saving to its caller
    const index = await ArchiveIndex.load(state);

    renameSync(path.join(archive, 'ANNA', 'big attachment.pdf'), path.join(archive, 'ANNA', 'big attachment (2).pdf'));
    const renamed = await mirrorArchive('acme', roots, store, index);
    expect(renamed).toMatchObject({ uploadedFiles: 1, copiedFiles: 1, deletedFiles: 1 });
    const copy = [...renamed.snapshotFiles()].find((f) => f.path === 'ANNA/big attachment (2).pdf')!;
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: 'uploads', Key: copy.key, VersionId: copy.versionId, ChecksumMode: 'ENABLED' }),
    );
    expect(head.ContentLength).toBe(7 << 20);
    expect(head.ChecksumSHA256).toBe(copy.s3Checksum?.value ?? Buffer.from(copy.sha256, 'hex').toString('base64'));

    // No snapshot was stored (mirrorArchive alone): the rebuild reads each file and compares with S3's checksum.
    const rebuilt = await mirrorArchive('acme', roots, store, await ArchiveIndex.load(path.join(dir, 'no-index-here')));
    expect(rebuilt).toMatchObject({ uploadedFiles: 0, deletedFiles: 0, files: 2, rebuilt: { reason: 'index missing', adoptedFiles: 2 } });
    expect([...rebuilt.snapshotFiles()].map((f) => f.versionId).sort()).toEqual(
      [...renamed.snapshotFiles()].map((f) => f.versionId).sort(),
    );
  });

  test('GIVEN a backup window that ends mid-archive WHEN three nights run on RGW THEN night 1 sends part and reports the rest pending, night 2 sends only what is left as far as its window allows, night 3 completes; no file is sent twice and the complete snapshot restores byte for byte', async () => {
    const archive = path.join(dir, 'SO_ARC-window');
    const state = path.join(dir, 'window-state');
    const documents = new Map<string, Buffer>();
    for (let i = 0; i < 10; i++) documents.set(`USER${i % 3}/2026.${10 + (i % 2)}/document ${i}.pdf`, randomBytes(2_000 + i * 3_000));
    documents.set('USER0/scan.tif', Buffer.concat([...databasePages('scan', 11 << 20)])); // sent in parts
    for (const [relative, body] of documents) {
      mkdirSync(path.dirname(path.join(archive, relative)), { recursive: true });
      writeFileSync(path.join(archive, relative), body);
    }
    const roots = [{ name: 'SO_ARC', path: archive }];
    const total = [...documents.values()].reduce((sum, body) => sum + body.length, 0);
    const night = async (runId: string, sends?: number) => {
      const puts: string[] = [];
      const real = new S3ObjectStore(target, credentials);
      const store = new Proxy(real, {
        get: (object, name) =>
          name === 'putFile'
            ? (key: string, ...rest: [string]) => (puts.push(key), object.putFile(key, ...rest))
            : (Reflect.get(object, name, object) as unknown),
      });
      const window = sends === undefined ? {} : windowAfter(sends);
      const summary = await backupArchive({ tenantId: 'window', runId }, roots, {
        store,
        stateDir: state,
        logger,
        concurrency: 3,
        ...window,
      });
      const snapshot = await snapshotOf(real, summary.snapshot);
      return { summary, snapshot, puts };
    };

    const first = await night('window-2026-11-28-daily', 4);
    expect(first.puts).toHaveLength(4);
    expect(first.summary).toMatchObject({ files: 4, uploadedFiles: 4, pending: { files: 7, reason: 'window' } });
    expect(first.summary.bytes + first.summary.pending!.bytes).toBe(total);
    expect(first.snapshot.files.map((f) => f.key).sort()).toEqual([...first.puts].sort());

    const second = await night('window-2026-11-29-daily', 3);
    expect(second.puts).toHaveLength(3);
    expect(second.puts.filter((key) => first.puts.includes(key))).toEqual([]); // nothing sent twice
    expect(second.summary).toMatchObject({ files: 7, uploadedFiles: 3, pending: { files: 4 } });

    const third = await night('window-2026-11-30-daily');
    expect(third.puts).toHaveLength(4);
    expect(third.summary).toMatchObject({ files: 11, bytes: total, uploadedFiles: 4 });
    expect(third.summary.pending).toBeUndefined();

    // S3's own record: one version per document, so no byte was sent twice.
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'uploads', Prefix: 'archive/window/' }));
    expect((versions.Versions ?? []).length).toBe(11);
    expect(new Set((versions.Versions ?? []).map((v) => v.Key)).size).toBe(11);

    const restored = path.join(dir, 'window-restored');
    await materializeSnapshot(third.snapshot.files, new S3ObjectStore(target, credentials), restored);
    for (const [relative, body] of documents) expect(readFileSync(path.join(restored, 'SO_ARC', relative)).equals(body)).toBe(true);
  });

  test('GIVEN a large file in flight as parts WHEN the backup window ends THEN it pauses between parts (those in flight finish, none starts), keeps its upload and checkpoint, counts as pending; the next night sends only the other parts and the object is byte for byte', async () => {
    const archive = path.join(dir, 'SO_ARC-pause');
    const state = path.join(dir, 'pause-state');
    const checkpoints = path.join(dir, 'pause-uploads');
    mkdirSync(path.join(archive, 'SCANS'), { recursive: true });
    const big = Buffer.concat([...databasePages('big scan', 60 << 20)]); // 12 parts of 5 MiB
    writeFileSync(path.join(archive, 'SCANS', 'big scan.tif'), big);
    writeFileSync(path.join(archive, 'SCANS', 'note.txt'), 'a small note');
    const roots = [{ name: 'SO_ARC', path: archive }];
    const bigKey = `archive/pause/SO_ARC/SCANS/big scan.tif`;
    const windowEndsAt = new Date('2026-11-30T06:00:00.000Z');
    const night = async (runId: string, ringAfterParts?: number) => {
      const counted = { partsSent: 0, resumedParts: 0, pauseChecks: 0 };
      let ring: (() => void) | undefined;
      const real = new S3ObjectStore(target, credentials, { checkpointDir: checkpoints, partConcurrency: 2 });
      const store = new Proxy(real, {
        get: (object, name) =>
          name === 'putFile'
            ? async (key: string, file: string, options: PutOptions = {}) => {
                const stored = await object.putFile(key, file, {
                  ...options,
                  onProgress: () => key === bigKey && counted.partsSent++,
                  // The window's end comes while the big file is in flight: after `ringAfterParts` parts started.
                  pause: () => {
                    if (key === bigKey && ++counted.pauseChecks === (ringAfterParts ?? 0) + 1) ring?.();
                    return options.pause?.() ?? false;
                  },
                });
                if (key === bigKey) counted.resumedParts = stored.resumedParts ?? 0;
                return stored;
              }
            : (Reflect.get(object, name, object) as unknown),
      });
      const window =
        ringAfterParts === undefined
          ? {}
          : {
              windowEndsAt,
              now: () => windowEndsAt.getTime() - 1, // by the clock read between files, the window never ends: only the alarm ends it
              windowAlarm: (_end: Date, alarm: () => void) => ((ring = alarm), () => (ring = undefined)),
            };
      const summary = await backupArchive({ tenantId: 'pause', runId }, roots, {
        store,
        stateDir: state,
        logger,
        concurrency: 1,
        ...window,
      });
      const snapshot = await snapshotOf(real, summary.snapshot);
      return { summary, snapshot, counted };
    };

    const first = await night('pause-2026-11-28-daily', 3);
    expect(first.counted.partsSent).toBe(3); // the three parts started before the window's end finished; no fourth started
    expect(first.snapshot.files.map((f) => f.key)).not.toContain(bigKey);
    // All of the big file's bytes are pending (not a version yet); 3 whole parts of them are in S3 already.
    expect(first.summary.pending).toMatchObject({ reason: 'window', partsBytes: 3 * (5 << 20) });
    expect(first.summary.pending!.files).toBeGreaterThanOrEqual(1);
    expect(first.summary.files + first.summary.pending!.files).toBe(2);
    // The upload is kept in S3 and in its checkpoint, as a service stop keeps it.
    const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads', Prefix: bigKey }));
    expect(open.Uploads ?? []).toHaveLength(1);
    const kept = readdirSync(checkpoints).filter((f) => f.endsWith('.json'));
    expect(kept).toHaveLength(1);
    expect(Object.keys((JSON.parse(readFileSync(path.join(checkpoints, kept[0]!), 'utf8')) as { parts: object }).parts)).toHaveLength(3);

    const second = await night('pause-2026-11-29-daily');
    expect(second.counted).toMatchObject({ resumedParts: 3, partsSent: 9 }); // 3 + 9 = 12: no part sent twice
    expect(second.summary.pending).toBeUndefined();
    expect(second.summary).toMatchObject({ files: 2, bytes: big.length + 'a small note'.length });
    // Seeding progress: the backlog sent is the big file less the parts night 1 sent (and the note, if it waited too).
    const notePending = first.summary.pending!.files === 2;
    expect(second.summary.backlogSent).toEqual({
      files: notePending ? 2 : 1,
      bytes: big.length - 3 * (5 << 20) + (notePending ? 'a small note'.length : 0),
    });
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'uploads', Prefix: bigKey }));
    expect((versions.Versions ?? []).length).toBe(1);
    expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'uploads', Prefix: bigKey }))).Uploads ?? []).toEqual([]);
    expect(readdirSync(checkpoints).filter((f) => f.endsWith('.json'))).toEqual([]);
    const restored = path.join(dir, 'pause-restored');
    await materializeSnapshot(second.snapshot.files, new S3ObjectStore(target, credentials), restored);
    expect(readFileSync(path.join(restored, 'SO_ARC', 'SCANS', 'big scan.tif')).equals(big)).toBe(true);
    expect(readFileSync(path.join(restored, 'SO_ARC', 'SCANS', 'note.txt'), 'utf8')).toBe('a small note');
  });

  test('GIVEN a small object WHEN put with our own SigV4 signing THEN S3 stores it with its checksum; wrong keys and an unversioned bucket are refused clearly', async () => {
    const store = new S3ObjectStore(target, credentials);
    const body = Buffer.from('a small archived file: æøå, with a key that needs escaping');
    const stored = await store.putBuffer('archive/acme/SO_ARC/ÅSE/Tilbud (1) + vedlegg!.txt', body, 'text/plain');
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: 'uploads', Key: stored.key, VersionId: stored.versionId, ChecksumMode: 'ENABLED' }),
    );
    expect(head).toMatchObject({
      ContentLength: body.length,
      ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
      ContentType: 'text/plain',
    });

    const wrong = new S3ObjectStore(target, { ...credentials, secretAccessKey: 'not-the-secret' });
    await expect(wrong.putBuffer('archive/acme/x.txt', body)).rejects.toMatchObject({
      code: 'S3_ACCESS_DENIED',
      permanent: true,
      message: expect.stringMatching(/SignatureDoesNotMatch \(HTTP 403\)/),
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'unversioned' }));
    const unversioned = new S3ObjectStore({ ...target, bucket: 'unversioned' }, credentials);
    await expect(unversioned.putBuffer('archive/acme/x.txt', body)).rejects.toMatchObject({ code: 'S3_NOT_VERSIONED' });
  });
  test("GIVEN S3 answering 10 × 503 SlowDown in a row WHEN the connector puts, reads, heads and uploads in parts THEN every request rides it out; 12 in a row fail with S3's reason", async () => {
    const proxy = await startSlowDownProxy(endpoint);
    try {
      // The SDK's own strategy; only its backoff is shortened so the test does not wait ~75 s a request.
      const retry = { backoff: { computeNextBackoffDelay: () => 5, setDelayBase: () => undefined } };
      const store = new S3ObjectStore({ ...target, endpoint: proxy.endpoint }, credentials, { retry });
      const body = Buffer.from('a file sent while S3 scales the prefix');

      proxy.slowDown(10);
      const stored = await store.putBuffer('archive/acme/SO_ARC/slow.txt', body); // our own signed request
      expect(proxy.seen.filter((r) => r.status === 503)).toHaveLength(10);
      expect(proxy.seen.at(-1)).toMatchObject({ method: 'PUT', status: 200 });

      proxy.slowDown(10);
      expect(await readStream(await store.getVersion(stored.key, stored.versionId))).toEqual(body); // signed GET

      proxy.slowDown(10);
      expect(await store.head(stored.key, stored.versionId)).toMatchObject({ size: body.length }); // through the SDK

      const file = path.join(dir, 'slow.bak');
      writeFileSync(file, Buffer.concat([...databasePages('slow', 11 << 20)])); // three parts
      proxy.slowDown(10);
      const multipart = await store.putFile('db/daily/acme/Slow.bak', file); // SDK: create, parts, complete
      expect(multipart.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
      expect(proxy.seen.filter((r) => r.status === 503)).toHaveLength(40);

      proxy.slowDown(12);
      await expect(store.putBuffer('archive/acme/SO_ARC/never.txt', body)).rejects.toMatchObject({
        code: 'S3_ERROR',
        message: expect.stringMatching(/SlowDown \(HTTP 503\)/),
      });
    } finally {
      await proxy.stop();
    }
  }, 300_000); // the adaptive rate limiter slows every later request down after so much throttling, as it should

  test('GIVEN a byte budget for parts in flight (a window with a slow limit) WHEN a large file goes in parts THEN no more parts are in flight than the budget holds (at least one); without one, the store sends several at once (t20b N4)', async () => {
    const proxy = await startSlowDownProxy(endpoint);
    try {
      const store = new S3ObjectStore({ ...target, endpoint: proxy.endpoint }, credentials, { partConcurrency: 6 });
      const file = path.join(dir, 'budget.bak');
      writeFileSync(file, Buffer.concat([...databasePages('budget', 21 << 20)])); // five parts of 5 MiB
      const budgets: Array<number | null> = [];
      const limited = await store.putFile('db/daily/acme/Budget.bak', file, {
        partBytesInFlight: () => {
          budgets.push(3 << 20); // less than one part: still one at a time
          return 3 << 20;
        },
      });
      expect(limited.size).toBe(21 << 20);
      expect(budgets.length).toBeGreaterThanOrEqual(5); // asked before each part
      expect(proxy.concurrency.peak).toBe(1);
      proxy.concurrency.peak = 0;
      await store.putFile('db/daily/acme/Budget.bak', file, { partBytesInFlight: () => 10 << 20 });
      expect(proxy.concurrency.peak).toBe(2);
      proxy.concurrency.peak = 0;
      await store.putFile('db/daily/acme/Budget.bak', file);
      expect(proxy.concurrency.peak).toBeGreaterThan(2);
    } finally {
      await proxy.stop();
    }
  }, 120_000);
});

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
