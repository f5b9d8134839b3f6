// `npm run bench -- bak [--size 2G] [--rounds 2]`: the connector's uploader against Debian's AWS
// CLI v2 (`aws s3 cp`), uploading the same generated file to the same local Ceph RGW, alternating.
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { build } from 'esbuild';
import { httpAnswers, REPO_ROOT, runScript } from '../local/daemons';

const KEYS = { accessKeyId: 'SOBACKUPBENCHACCESS0', secretAccessKey: 'so-backup-bench-secret-key-not-for-production' };
const AWS = '/usr/bin/aws';
const TIME = '/usr/bin/time';

const size = (value: string) => {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('a size like 2G, 512M or 100000');
  return Math.round(Number(match[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G']);
};

interface Sample { tool: string; round: number; seconds: number; mbPerSecond: number; peakRssMiB: number }

async function generate(file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  const out = createWriteStream(file);
  const chunk = Buffer.alloc(8 << 20);
  for (let done = 0; done < bytes; done += chunk.length) {
    const piece = cipher.update(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
    if (!out.write(piece)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** Runs a command under GNU time; returns wall seconds and peak RSS. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv): { seconds: number; peakRssMiB: number; stdout: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(TIME, ['-v', command, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr.slice(-2000)}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1] ?? NaN);
  return { seconds, peakRssMiB: rss / 1024, stdout: result.stdout };
}

async function benchBak(options: { size: number; rounds: number; portBase: number }): Promise<void> {
  for (const tool of [AWS, TIME]) if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install awscli time`);
  const dataDir = path.join(REPO_ROOT, '.local', 'bench');
  const s3Port = options.portBase + 80;
  const endpoint = `http://127.0.0.1:${s3Port}`;
  // A new cluster each time: uploads of several GB would otherwise fill the OSD across runs.
  if (existsSync(path.join(dataDir, 'ceph'))) runScript('ceph-rgw.sh', ['stop', path.join(dataDir, 'ceph')]);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  runScript('ceph-chroot.sh', []);
  if (!(await httpAnswers(endpoint))) runScript('ceph-rgw.sh', ['start', path.join(dataDir, 'ceph'), String(s3Port), String(options.portBase + 10), KEYS.accessKeyId, KEYS.secretAccessKey]);
  try {
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: KEYS });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' })).catch(() => undefined);
    // Versioned like the backup bucket, so the uploads exercise the same path.
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'bench', VersioningConfiguration: { Status: 'Enabled' } }));
    s3.destroy();

    const file = path.join(dataDir, 'bench.bak');
    console.log(`generating ${(options.size / 1024 ** 3).toFixed(2)} GiB of incompressible data in ${file}`);
    await generate(file, options.size);
    // The connector ships as a bundle; measure the bundle, not the TypeScript loader.
    const uploader = path.join(dataDir, 'upload-file.js');
    await build({ entryPoints: [path.join(REPO_ROOT, 'scripts', 'bench', 'upload-file.ts')], outfile: uploader, bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' });

    const env = { AWS_ACCESS_KEY_ID: KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    // A fresh cluster is slow for its first gigabytes (allocation warm-up): warm it, unmeasured.
    timed(AWS, ['--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors', file, 's3://bench/warm-up.bak'], env);
    const samples: Sample[] = [];
    const mb = options.size / 1e6;
    for (let round = 1; round <= options.rounds; round++) {
      const ours = timed(process.execPath, [uploader, endpoint, 'bench', 'ours.bak', file], env);
      samples.push({ tool: 'so-connector uploader', round, seconds: ours.seconds, mbPerSecond: mb / ours.seconds, peakRssMiB: ours.peakRssMiB });
      const cli = timed(AWS, ['--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors', file, 's3://bench/cli.bak'], env);
      samples.push({ tool: 'aws s3 cp (CLI v2)', round, seconds: cli.seconds, mbPerSecond: mb / cli.seconds, peakRssMiB: cli.peakRssMiB });
    }
    console.log('\ntool                    round  seconds    MB/s  peak RSS MiB');
    for (const s of samples) console.log(`${s.tool.padEnd(22)}  ${String(s.round).padStart(5)}  ${s.seconds.toFixed(2).padStart(7)}  ${s.mbPerSecond.toFixed(1).padStart(6)}  ${s.peakRssMiB.toFixed(0).padStart(12)}`);
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const ours = samples.filter((s) => s.tool.startsWith('so-'));
    const cli = samples.filter((s) => s.tool.startsWith('aws'));
    const ratio = median(ours.map((s) => s.mbPerSecond)) / median(cli.map((s) => s.mbPerSecond));
    const peak = Math.max(...ours.map((s) => s.peakRssMiB));
    console.log(`\nthroughput ratio (ours / AWS CLI, medians): ${ratio.toFixed(2)}×   target ≥ 1.20× — ${ratio >= 1.2 ? 'met' : 'MISSED'}`);
    console.log(`our peak RSS: ${peak.toFixed(0)} MiB (AWS CLI ${Math.max(...cli.map((s) => s.peakRssMiB)).toFixed(0)} MiB)   target ≤ 150 MB — ${peak * 1.048576 <= 150 ? 'met' : 'MISSED'}`);
  } finally {
    runScript('ceph-rgw.sh', ['stop', path.join(dataDir, 'ceph')]);
    rmSync(path.join(dataDir, 'bench.bak'), { force: true });
  }
}

const program = new Command('bench').description('benchmarks, each against a named peer in the same run');
program.command('bak').description('upload a generated .bak: the connector\'s uploader vs the AWS CLI, to the local Ceph RGW')
  .option('--size <bytes>', 'file size (e.g. 2G, 512M)', size, 2 * 1024 ** 3)
  .option('--rounds <n>', 'alternating rounds per tool', (v) => Number(v), 3)
  .option('--port-base <n>', 'ports for the benchmark\'s own Ceph cluster (S3 on base+80)', (v) => Number(v), 49_000)
  .action((options: { size: number; rounds: number; portBase: number }) => benchBak(options));
program.parseAsync().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
