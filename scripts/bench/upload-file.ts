// One upload by the connector's uploader (S3ObjectStore), for the benchmark and the resume test; prints JSON.
import { BandwidthLimiter } from '../../connector/src/bandwidth/bandwidth-limiter';
import { S3ObjectStore } from '../../connector/src/store/s3-object-store';

/** SO_BACKUP_BENCH_LIMIT ("40 Mbit/s"): the connector's bandwidth limit, as the configuration file would set it. */
function limiter(): BandwidthLimiter | undefined {
  const limit = process.env.SO_BACKUP_BENCH_LIMIT;
  return limit ? new BandwidthLimiter({ config: limit }) : undefined;
}

async function main(): Promise<void> {
  const [endpoint, bucket, key, file] = process.argv.slice(2);
  if (!endpoint || !bucket || !key || !file) throw new Error('usage: upload-file ENDPOINT BUCKET KEY FILE');
  const store = new S3ObjectStore(
    { bucket, region: 'us-east-1', endpoint, forcePathStyle: true },
    {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      expiration: new Date(Date.now() + 3600_000).toISOString(),
    },
    { checkpointDir: process.env.SO_BACKUP_CHECKPOINT_DIR, bandwidth: limiter() },
  );
  const started = process.hrtime.bigint();
  const stored = await store.putFile(key, file);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      size: stored.size,
      s3Checksum: stored.s3Checksum.value,
      maxRssKiB: process.resourceUsage().maxRSS,
      resumedParts: stored.resumedParts ?? 0,
      artifact: stored,
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
