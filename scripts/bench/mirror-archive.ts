// One archive run by the connector's own code (mirror, snapshot, index), for the benchmark; prints JSON.
//   mirror-archive ENDPOINT BUCKET TENANT ROOT_PATH STATE_DIR RUN_ID
import pino from 'pino';
import { backupArchive } from '../../connector/src/backup/archive-backup';
import { BandwidthLimiter } from '../../connector/src/bandwidth/bandwidth-limiter';
import { S3ObjectStore } from '../../connector/src/store/s3-object-store';

/** SO_BACKUP_BENCH_LIMIT ("40 Mbit/s"): the connector's bandwidth limit, as the configuration file would set it. */
function limiter(): BandwidthLimiter | undefined {
  const limit = process.env.SO_BACKUP_BENCH_LIMIT;
  return limit ? new BandwidthLimiter({ config: limit }) : undefined;
}

async function main(): Promise<void> {
  const [endpoint, bucket, tenantId, rootPath, stateDir, runId] = process.argv.slice(2);
  if (!endpoint || !bucket || !tenantId || !rootPath || !stateDir || !runId)
    throw new Error('usage: mirror-archive ENDPOINT BUCKET TENANT ROOT_PATH STATE_DIR RUN_ID');
  const store = new S3ObjectStore(
    { bucket, region: 'us-east-1', endpoint, forcePathStyle: true },
    {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      expiration: new Date(Date.now() + 3600_000).toISOString(),
    },
    { bandwidth: limiter() },
  );
  const started = process.hrtime.bigint();
  const summary = await backupArchive({ tenantId, runId }, [{ name: 'SO_ARC', path: rootPath }], {
    store,
    stateDir,
    logger: pino({ level: 'warn' }, pino.destination(2)),
    concurrency: process.env.SO_BACKUP_BENCH_CONCURRENCY ? Number(process.env.SO_BACKUP_BENCH_CONCURRENCY) : undefined,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { roots: _roots, skipped: _skipped, snapshot: _snapshot, ...counts } = summary;
  process.stdout.write(`${JSON.stringify({ seconds, ...counts, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
