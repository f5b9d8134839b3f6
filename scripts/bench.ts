// Benchmarks, each measured against a named peer in the same run on a fresh local Ceph RGW:
//   `npm run bench -- bak [--size 2G] [--rounds 3]`: the connector's uploader vs the AWS CLI v2.
//   `npm run bench -- archive [--files 20000] [--rss-files 100000]`: the SO_ARC mirror vs
//   rclone sync (same RGW) and restic (local repository): initial, no-change and daily runs.
//   `npm run bench -- restore [--files 20000] [--size 2G]`: restoring the archive tree and a .bak
//   vs a raw local copy, rclone copy (same RGW) and restic restore (local repository).
//   `npm run bench -- fleet --tenants N [--offline P]`: a fleet's nightly start through local mode's
//   cloud side with simulated connectors (scripts/bench/fleet.ts); target: every online tenant asked
//   within 300 s, nothing dropped.
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { build } from 'esbuild';
import { httpAnswers, REPO_ROOT, runScript } from '../local/daemons';
import { assertOutsideEphemeral, DEFAULT_BENCH_PORT_BASE, LOCAL_PORT_SPAN } from '../local/ports';
import { NODE_OPTIONS } from '../connector/src/install/service-definition';
import { formatRate, parseRate } from '../protocol';
import { generateArchiveTree, mutateArchiveTree, random } from './bench/archive-tree';
import { benchFleet } from './bench/fleet';
import { type S3Key, startCephRgw } from '../local/ceph-rgw';

/** The bench cluster's bucket owner key: made by RGW when the cluster starts (ceph/owner-key.json), filled in then. */
const KEYS: S3Key = { accessKeyId: '', secretAccessKey: '' };
const AWS = '/usr/bin/aws';
const TIME = '/usr/bin/time';

const size = (value: string) => {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('a size like 2G, 512M or 100000');
  return Math.round(Number(match[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G']);
};

interface Sample {
  tool: string;
  round: number;
  seconds: number;
  mbPerSecond: number;
  peakRssMiB: number;
}

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
function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  replaceEnv = false,
): { seconds: number; peakRssMiB: number; cpuSeconds: number; stdout: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(TIME, ['-v', command, ...args], {
    encoding: 'utf8',
    env: replaceEnv ? env : { ...process.env, ...env },
    maxBuffer: 16 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr.slice(-2000)}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1] ?? NaN);
  const cpu = ['User', 'System'].reduce(
    (total, kind) => total + Number(new RegExp(`${kind} time \\(seconds\\): ([\\d.]+)`).exec(result.stderr)?.[1] ?? 0),
    0,
  );
  return { seconds, peakRssMiB: rss / 1024, cpuSeconds: cpu, stdout: result.stdout };
}

interface BenchS3 {
  endpoint: string;
  dataDir: string;
  /** Environment for AWS-style clients (keys, region, no user config). */
  env: NodeJS.ProcessEnv;
  /** Requests RGW has served so far (its own counter). */
  requests(): number;
}

/** A fresh single-node Ceph cluster with a versioned bucket "bench", stopped afterwards. */
async function withBenchS3(portBase: number, name: string, work: (s3: BenchS3) => Promise<void>): Promise<void> {
  for (const tool of [AWS, TIME]) if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install awscli time`);
  const dataDir = path.join(REPO_ROOT, '.local', 'bench', name);
  const cephDir = path.join(dataDir, 'ceph');
  assertOutsideEphemeral(portBase, LOCAL_PORT_SPAN, 'the benchmark');
  const s3Port = portBase + 80;
  const endpoint = `http://127.0.0.1:${s3Port}`;
  // A new cluster each time: benchmarks write gigabytes that would otherwise fill the OSD across runs.
  if (existsSync(cephDir)) runScript('ceph-rgw.sh', ['stop', cephDir]);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  runScript('ceph-chroot.sh', []);
  if (await httpAnswers(endpoint)) throw new Error(`port ${s3Port} is in use; pick another --port-base`);
  Object.assign(KEYS, startCephRgw(cephDir, { s3: s3Port, mon: portBase + 10 }));
  try {
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: KEYS });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' })).catch(() => undefined);
    // Versioned like the backup bucket, so the uploads exercise the same path.
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'bench', VersioningConfiguration: { Status: 'Enabled' } }));
    s3.destroy();
    const env = {
      AWS_ACCESS_KEY_ID: KEYS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const requests = () =>
      Number(
        spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'ceph-rgw.sh'), 'requests', cephDir], { encoding: 'utf8' }).stdout.trim() || NaN,
      );
    await work({ endpoint, dataDir, env, requests });
  } finally {
    runScript('ceph-rgw.sh', ['stop', cephDir]);
    // Generated data and the cluster hold tens of GB: gone once measured.
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Bundles a benchmark entry point the way the connector ships (one file under plain node). */
async function bundle(entry: string, dataDir: string): Promise<string> {
  const outfile = path.join(dataDir, `${path.basename(entry, '.ts')}.js`);
  await build({
    entryPoints: [path.join(REPO_ROOT, 'scripts', 'bench', entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
  return outfile;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function benchBak(options: { size: number; rounds: number; portBase: number }): Promise<void> {
  await withBenchS3(options.portBase, 'bak', async ({ endpoint, dataDir, env }) => {
    const file = path.join(dataDir, 'bench.bak');
    console.log(`generating ${(options.size / 1024 ** 3).toFixed(2)} GiB of incompressible data in ${file}`);
    await generate(file, options.size);
    const uploader = await bundle('upload-file.ts', dataDir);
    // A fresh cluster is slow for its first gigabytes (allocation warm-up): warm it, unmeasured.
    timed(AWS, ['--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors', file, 's3://bench/warm-up.bak'], env);
    const samples: Sample[] = [];
    const mb = options.size / 1e6;
    for (let round = 1; round <= options.rounds; round++) {
      const ours = timed(process.execPath, [uploader, endpoint, 'bench', 'ours.bak', file], env);
      samples.push({
        tool: 'so-connector uploader',
        round,
        seconds: ours.seconds,
        mbPerSecond: mb / ours.seconds,
        peakRssMiB: ours.peakRssMiB,
      });
      const cli = timed(AWS, ['--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors', file, 's3://bench/cli.bak'], env);
      samples.push({ tool: 'aws s3 cp (CLI v2)', round, seconds: cli.seconds, mbPerSecond: mb / cli.seconds, peakRssMiB: cli.peakRssMiB });
    }
    console.log('\ntool                    round  seconds    MB/s  peak RSS MiB');
    for (const s of samples)
      console.log(
        `${s.tool.padEnd(22)}  ${String(s.round).padStart(5)}  ${s.seconds.toFixed(2).padStart(7)}  ${s.mbPerSecond.toFixed(1).padStart(6)}  ${s.peakRssMiB.toFixed(0).padStart(12)}`,
      );
    const ours = samples.filter((s) => s.tool.startsWith('so-'));
    const cli = samples.filter((s) => s.tool.startsWith('aws'));
    const ratio = median(ours.map((s) => s.mbPerSecond)) / median(cli.map((s) => s.mbPerSecond));
    const peak = Math.max(...ours.map((s) => s.peakRssMiB));
    console.log(`\nthroughput ratio (ours / AWS CLI, medians): ${ratio.toFixed(2)}×   target ≥ 1.20× — ${ratio >= 1.2 ? 'met' : 'MISSED'}`);
    console.log(
      `our peak RSS: ${peak.toFixed(0)} MiB (AWS CLI ${Math.max(...cli.map((s) => s.peakRssMiB)).toFixed(0)} MiB)   target ≤ 150 MB — ${peak * 1.048576 <= 150 ? 'met' : 'MISSED'}`,
    );
    rmSync(file, { force: true });
  });
}

/** A tree of `bytes` of incompressible documents, 64 KiB to 8 MiB each (small ones go in one PUT, large ones in parallel parts). */
function generateLimitTree(root: string, bytes: number): number {
  const next = random(20);
  let files = 0;
  for (let done = 0; done < bytes; files++) {
    const fileBytes = Math.min(bytes - done, Math.round(64 * 1024 * 2 ** (next() * 7)));
    const file = path.join(root, `user${files % 7}`, `${2020 + (files % 5)}.${1 + (files % 12)}`, `document ${files}.pdf`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16)).update(Buffer.alloc(fileBytes)));
    done += fileBytes;
  }
  return files;
}

/**
 * `npm run bench -- bak --limit 40Mbit [--archive]`: the bandwidth limit against itself: uploads
 * a .bak (one file, its parts in parallel) or an archive tree (many files through the archive
 * mirror's parallel uploads) with the connector's code under the limit, and compares the rate
 * achieved with the limit. The peer is the limit: within ±10 % over at least 30 s.
 */
async function benchLimit(options: { size: number; rounds: number; portBase: number; limit: string; archive: boolean }): Promise<void> {
  const limit = parseRate(options.limit);
  if (typeof limit === 'string' || limit === null) throw new InvalidArgumentError(`--limit: ${limit ?? 'give a rate, not "unlimited"'}`);
  const limitMbit = (limit * 8) / 1e6;
  const expected = options.size / limit;
  if (expected < 30)
    console.log(
      `note: ${formatRate(limit)} moves ${(options.size / 1024 ** 2).toFixed(0)} MiB in ${expected.toFixed(0)} s; use a larger --size for at least 30 s`,
    );
  await withBenchS3(options.portBase, 'limit', async ({ endpoint, dataDir, env }) => {
    const limited = { ...env, SO_BACKUP_BENCH_LIMIT: options.limit };
    const samples: Array<{ round: number; seconds: number; bytes: number; files: number; mbit: number }> = [];
    if (options.archive) {
      const tree = path.join(dataDir, 'SO_ARC');
      const files = generateLimitTree(tree, options.size);
      console.log(`generated ${files} documents, ${(options.size / 1024 ** 2).toFixed(0)} MiB, in ${tree}; limit ${formatRate(limit)}`);
      const mirror = await bundle('mirror-archive.ts', dataDir);
      for (let round = 1; round <= options.rounds; round++) {
        // A new tenant each round: every file is sent again (a first backup, as when seeding).
        const stateDir = path.join(dataDir, `state-${round}`);
        mkdirSync(stateDir, { recursive: true });
        const out = timed(
          process.execPath,
          [...NODE_OPTIONS, mirror, endpoint, 'bench', `limit-${round}`, tree, stateDir, `limit-run-${round}`],
          limited,
        );
        const result = JSON.parse(out.stdout.trim().split('\n').pop()!) as {
          seconds: number;
          uploadedBytes: number;
          uploadedFiles: number;
        };
        samples.push({
          round,
          seconds: result.seconds,
          bytes: result.uploadedBytes,
          files: result.uploadedFiles,
          mbit: (result.uploadedBytes * 8) / 1e6 / result.seconds,
        });
      }
    } else {
      const file = path.join(dataDir, 'bench.bak');
      await generate(file, options.size);
      console.log(`generated ${(options.size / 1024 ** 2).toFixed(0)} MiB in ${file}; limit ${formatRate(limit)}`);
      const uploader = await bundle('upload-file.ts', dataDir);
      for (let round = 1; round <= options.rounds; round++) {
        const out = timed(process.execPath, [uploader, endpoint, 'bench', `limited-${round}.bak`, file], limited);
        const result = JSON.parse(out.stdout.trim().split('\n').pop()!) as { seconds: number; size: number };
        samples.push({ round, seconds: result.seconds, bytes: result.size, files: 1, mbit: (result.size * 8) / 1e6 / result.seconds });
      }
    }
    console.log(`\n${options.archive ? 'archive' : '.bak'}  round  files  seconds  MiB sent  Mbit/s`);
    for (const s of samples)
      console.log(
        `${' '.repeat(options.archive ? 7 : 4)}  ${String(s.round).padStart(5)}  ${String(s.files).padStart(5)}  ${s.seconds.toFixed(1).padStart(7)}  ${(s.bytes / 1024 ** 2).toFixed(0).padStart(8)}  ${s.mbit.toFixed(2).padStart(6)}`,
      );
    const achieved = median(samples.map((s) => s.mbit));
    const deviation = achieved / limitMbit - 1;
    const shortest = Math.min(...samples.map((s) => s.seconds));
    console.log(
      `\nwithin ±10 % of the limit over ≥ 30 s: ${Math.abs(deviation) <= 0.1 && shortest >= 30 ? 'met' : 'MISSED'} (${(deviation * 100).toFixed(1)} %, shortest run ${shortest.toFixed(1)} s)`,
    );
    console.log(`limit: ${Number(limitMbit.toFixed(2))} Mbit/s, achieved ${achieved.toFixed(2)} Mbit/s`);
  });
}

type Phase = 'initial' | 'no-change' | 'daily';
interface ArchiveSample {
  tool: string;
  phase: Phase;
  round: number;
  seconds: number;
  filesPerSecond: number;
  mbPerSecond?: number;
  requests?: number;
  peakRssMiB: number;
}

/**
 * `npm run bench -- archive`: our connector's archive run against rclone sync (to the same RGW)
 * and restic (to a local repository) on the same SO_ARC-like tree: initial, no-change, daily.
 */
/** restic's environment for a bench run: a repository and cache under dataDir (restic reads these variables). */
function resticBenchEnv(dataDir: string): Record<string, string> {
  return {
    RESTIC_REPOSITORY: path.join(dataDir, 'restic-repo'),
    RESTIC_PASSWORD: 'so-backup-bench',
    RESTIC_CACHE_DIR: path.join(dataDir, 'restic-cache'),
  };
}

/** rclone's environment for a bench run: a remote named "bench" on the bench S3 at endpoint, without AWS_CA_BUNDLE. */
function rcloneBenchEnv(endpoint: string): NodeJS.ProcessEnv {
  const { AWS_CA_BUNDLE: _unset, ...withoutCaBundle } = process.env;
  return {
    ...withoutCaBundle,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: KEYS.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
  };
}

async function benchArchive(options: { files: number; portBase: number; rssFiles: number; rounds: number }): Promise<void> {
  for (const tool of ['/usr/bin/rclone', '/usr/bin/restic'])
    if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install rclone restic`);
  await withBenchS3(options.portBase, 'archive', async ({ endpoint, dataDir, env, requests }) => {
    const tree = path.join(dataDir, 'SO_ARC');
    let started = Date.now();
    const treeBytes = generateArchiveTree(tree, options.files);
    console.log(
      `generated ${options.files} files, ${(treeBytes / 1e9).toFixed(2)} GB in ${tree} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    // Run as the connector service runs: the bundle under plain node with the service's Node.js options.
    const mirror = await bundle('mirror-archive.ts', dataDir);
    const stateDir = path.join(dataDir, 'connector-state');
    const resticEnv = resticBenchEnv(dataDir);
    timed('/usr/bin/restic', ['init', '--quiet'], resticEnv);
    const rcloneEnv = rcloneBenchEnv(endpoint);
    const samples: ArchiveSample[] = [];
    let run = 0;
    const measure = (phase: Phase, round: number, changedBytes: number | undefined, files: number) => {
      const tools: Array<{ tool: string; s3: boolean; go: () => ReturnType<typeof timed> }> = [
        {
          tool: 'so-connector',
          s3: true,
          go: () =>
            timed(
              process.execPath,
              [...NODE_OPTIONS, mirror, endpoint, 'bench', 'bench-tenant', tree, stateDir, `run-bench-${++run}`],
              env,
            ),
        },
        {
          tool: 'rclone sync',
          s3: true,
          go: () =>
            timed('/usr/bin/rclone', ['sync', tree, 'bench:bench/rclone', '--transfers', '32', '--checkers', '32'], rcloneEnv, true),
        },
        { tool: 'restic (local)', s3: false, go: () => timed('/usr/bin/restic', ['backup', '--quiet', tree], resticEnv) },
      ];
      for (const { tool, s3, go } of tools) {
        const before = s3 ? requests() : 0;
        const out = go();
        samples.push({
          tool,
          phase,
          round,
          seconds: out.seconds,
          filesPerSecond: files / out.seconds,
          mbPerSecond: changedBytes === undefined ? undefined : changedBytes / 1e6 / out.seconds,
          requests: s3 ? requests() - before : undefined,
          peakRssMiB: out.peakRssMiB,
        });
        if (tool === 'so-connector') console.log(`  ${phase} ${round}: ${out.stdout.trim()}`);
      }
    };
    console.log('measuring: initial run');
    measure('initial', 1, treeBytes, options.files);
    let files = options.files;
    // The short runs are noisy on a shared machine: each is repeated, and medians are compared.
    for (let round = 1; round <= options.rounds; round++) {
      console.log(`measuring: no-change run ${round}`);
      measure('no-change', round, undefined, files);
    }
    for (let round = 1; round <= options.rounds; round++) {
      const day = mutateArchiveTree(tree, round);
      files += day.added - day.deleted;
      console.log(
        `day ${round} of activity: ${day.changed} changed, ${day.added} added, ${day.deleted} deleted (${(day.bytesWritten / 1e6).toFixed(1)} MB written)`,
      );
      measure('daily', round, day.bytesWritten, files);
    }

    console.log('\ntool            phase     round   seconds   files/s    MB/s  requests  peak RSS MiB');
    for (const s of samples) {
      console.log(
        `${s.tool.padEnd(14)}  ${s.phase.padEnd(9)}  ${String(s.round).padStart(4)}  ${s.seconds.toFixed(2).padStart(8)}  ${s.filesPerSecond.toFixed(0).padStart(8)}  ${s.mbPerSecond === undefined ? '     -' : s.mbPerSecond.toFixed(1).padStart(6)}  ${s.requests === undefined ? '       -' : String(s.requests).padStart(8)}  ${s.peakRssMiB.toFixed(0).padStart(12)}`,
      );
    }
    const seconds = (tool: string, phase: Phase) =>
      median(samples.filter((s) => s.tool === tool && s.phase === phase).map((s) => s.seconds));
    const targets: Array<[Phase, string, number]> = [
      ['daily', 'rclone sync', 0.2],
      ['daily', 'restic (local)', 1.0],
      ['no-change', 'rclone sync', 0.05],
      ['no-change', 'restic (local)', 0.5],
      ['initial', 'rclone sync', 1.0],
    ];
    console.log('\nratios (our seconds / peer seconds, medians; lower is better)');
    for (const [phase, peer, target] of targets) {
      const ratio = seconds('so-connector', phase) / seconds(peer, phase);
      console.log(
        `  ${phase.padEnd(9)} vs ${peer.padEnd(14)} ${ratio.toFixed(3).padStart(6)}×   target ≤ ${target.toFixed(2)}× — ${ratio <= target ? 'met' : `MISSED by ${(ratio / target).toFixed(2)}×`}`,
      );
    }
    if (options.rssFiles > 0) {
      // Memory depends on the number of files, not their sizes: a many-small-files tree.
      const big = path.join(dataDir, 'SO_ARC-many');
      started = Date.now();
      generateArchiveTree(big, options.rssFiles, 2, 8192);
      console.log(`\ngenerated ${options.rssFiles} small files for the memory check (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      const bigState = path.join(dataDir, 'connector-state-many');
      const initial = timed(process.execPath, [...NODE_OPTIONS, mirror, endpoint, 'bench', 'bench-many', big, bigState, 'run-many-1'], env);
      const again = timed(process.execPath, [...NODE_OPTIONS, mirror, endpoint, 'bench', 'bench-many', big, bigState, 'run-many-2'], env);
      const peak = Math.max(initial.peakRssMiB, again.peakRssMiB);
      console.log(
        `${options.rssFiles} files: initial ${initial.seconds.toFixed(1)} s, no-change ${again.seconds.toFixed(2)} s; peak RSS ${peak.toFixed(0)} MiB   target ≤ 200 MB — ${peak * 1.048576 <= 200 ? 'met' : 'MISSED'}`,
      );
    }
  });
}

/** Empties the page cache (as root) so that every tool reads from disk, not from memory; false when not allowed. */
function dropCaches(): boolean {
  return spawnSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' }).status === 0;
}

/**
 * `npm run bench -- restore`: our restore (the snapshot materialized, every file verified; the
 * .bak by parallel ranged GETs, verified) against a raw local copy of the same data, rclone copy
 * back from the same RGW, and restic restore from a local repository. Caches are dropped before
 * each measured run.
 */
async function benchRestore(options: { files: number; size: number; rounds: number; portBase: number }): Promise<void> {
  for (const tool of ['/usr/bin/rclone', '/usr/bin/restic'])
    if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install rclone restic`);
  await withBenchS3(options.portBase, 'restore', async ({ endpoint, dataDir, env }) => {
    const source = path.join(dataDir, 'source');
    const tree = path.join(source, 'SO_ARC');
    const bak = path.join(source, 'SuperOffice.bak');
    const treeBytes = generateArchiveTree(tree, options.files);
    await generate(bak, options.size);
    console.log(
      `generated ${options.files} files (${(treeBytes / 1e9).toFixed(2)} GB) and a ${(options.size / 1024 ** 3).toFixed(2)} GiB .bak in ${source}`,
    );
    // Setup, not measured: our backup of both to S3, and restic's of both to its repository.
    const mirror = await bundle('mirror-archive.ts', dataDir);
    const uploader = await bundle('upload-file.ts', dataDir);
    const restorer = await bundle('restore-from-s3.ts', dataDir);
    timed(
      process.execPath,
      [...NODE_OPTIONS, mirror, endpoint, 'bench', 'bench-tenant', tree, path.join(dataDir, 'connector-state'), 'run-restore-bench'],
      env,
    );
    const uploaded = JSON.parse(
      timed(process.execPath, [uploader, endpoint, 'bench', 'db/daily/bench-tenant/SuperOffice.bak', bak], env).stdout,
    ) as { artifact: { key: string } };
    const artifactFile = path.join(dataDir, 'bak-artifact.json');
    writeFileSync(artifactFile, JSON.stringify(uploaded.artifact));
    const resticEnv = resticBenchEnv(dataDir);
    timed('/usr/bin/restic', ['init', '--quiet'], resticEnv);
    timed('/usr/bin/restic', ['backup', '--quiet', tree, bak], resticEnv);
    const rcloneEnv = rcloneBenchEnv(endpoint);
    const dest = path.join(dataDir, 'restored');
    const cold = dropCaches();
    console.log(cold ? 'page cache dropped before each measured run' : 'cannot drop the page cache (not root): runs may read from memory');
    type Item = 'archive' | '.bak';
    const tools: Array<{ tool: string; run: (item: Item) => ReturnType<typeof timed> }> = [
      {
        tool: 'so-connector',
        run: (item) =>
          timed(
            process.execPath,
            [
              ...NODE_OPTIONS,
              restorer,
              endpoint,
              'bench',
              'bench-tenant',
              dest,
              ...(item === 'archive' ? ['archive'] : ['bak', artifactFile]),
            ],
            env,
          ),
      },
      { tool: 'raw copy (cp)', run: (item) => timed('/bin/cp', ['-a', item === 'archive' ? tree : bak, dest], {}) },
      {
        tool: 'rclone copy',
        run: (item) =>
          timed(
            '/usr/bin/rclone',
            [
              'copy',
              item === 'archive' ? 'bench:bench/archive/bench-tenant/SO_ARC' : 'bench:bench/db/daily/bench-tenant/SuperOffice.bak',
              item === 'archive' ? path.join(dest, 'SO_ARC') : dest,
              '--transfers',
              '32',
              '--checkers',
              '32',
            ],
            rcloneEnv,
            true,
          ),
      },
      {
        tool: 'restic restore',
        run: (item) =>
          timed('/usr/bin/restic', ['restore', 'latest', '--target', dest, '--include', item === 'archive' ? tree : bak], resticEnv),
      },
    ];
    const samples: Array<{
      tool: string;
      item: Item;
      round: number;
      seconds: number;
      cpuSeconds: number;
      mbPerSecond: number;
      peakRssMiB: number;
    }> = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const item of ['archive', '.bak'] as const) {
        const bytes = item === 'archive' ? treeBytes : options.size;
        for (const { tool, run } of round % 2 ? tools : [...tools].reverse()) {
          rmSync(dest, { recursive: true, force: true });
          mkdirSync(dest, { recursive: true });
          if (cold) dropCaches();
          const out = run(item);
          samples.push({
            tool,
            item,
            round,
            seconds: out.seconds,
            cpuSeconds: out.cpuSeconds,
            mbPerSecond: bytes / 1e6 / out.seconds,
            peakRssMiB: out.peakRssMiB,
          });
        }
      }
    }
    rmSync(dest, { recursive: true, force: true });
    console.log('\ntool             item     round   seconds  CPU s (own)     MB/s  peak RSS MiB');
    for (const s of samples)
      console.log(
        `${s.tool.padEnd(15)}  ${s.item.padEnd(7)}  ${String(s.round).padStart(5)}  ${s.seconds.toFixed(2).padStart(8)}  ${s.cpuSeconds.toFixed(2).padStart(11)}  ${s.mbPerSecond.toFixed(1).padStart(7)}  ${s.peakRssMiB.toFixed(0).padStart(12)}`,
      );
    const seconds = (tool: string, item?: Item) => {
      const items: Item[] = item ? [item] : ['archive', '.bak'];
      return items.reduce((total, i) => total + median(samples.filter((s) => s.tool === tool && s.item === i).map((s) => s.seconds)), 0);
    };
    console.log('\nratios (our seconds / peer seconds, medians; lower is better)');
    for (const [peer, target] of [
      ['raw copy (cp)', 2.0],
      ['rclone copy', 0.5],
      ['restic restore', 1.0],
    ] as const) {
      const parts = (['archive', '.bak'] as const)
        .map((item) => `${item} ${(seconds('so-connector', item) / seconds(peer, item)).toFixed(2)}×`)
        .join(', ');
      const ratio = seconds('so-connector') / seconds(peer);
      console.log(
        `  vs ${peer.padEnd(15)} ${ratio.toFixed(3).padStart(6)}× (${parts})   target ≤ ${target.toFixed(2)}× — ${ratio <= target ? 'met' : `MISSED by ${(ratio / target).toFixed(2)}×`}`,
      );
    }
  });
}

const program = new Command('bench').description('benchmarks, each against a named peer in the same run');
program
  .command('bak')
  .description("upload a generated .bak: the connector's uploader vs the AWS CLI, to the local Ceph RGW")
  .option('--size <bytes>', 'file size (e.g. 2G, 512M)', size, 2 * 1024 ** 3)
  .option('--rounds <n>', 'alternating rounds per tool', (v) => Number(v), 3)
  .option('--port-base <n>', "ports for the benchmark's own Ceph cluster (S3 on base+80)", (v) => Number(v), DEFAULT_BENCH_PORT_BASE)
  .option('--limit <rate>', 'instead: upload under this bandwidth limit (e.g. 40Mbit, "5 MB/s") and compare the rate achieved with it')
  .option('--archive', "with --limit: an archive tree of --size bytes in many files, through the archive mirror's parallel uploads")
  .action((options: { size: number; rounds: number; portBase: number; limit?: string; archive?: boolean }, command: Command) => {
    if (options.archive && !options.limit) throw new InvalidArgumentError('--archive goes with --limit');
    if (!options.limit) return benchBak(options);
    const rounds = command.getOptionValueSource('rounds') === 'default' ? 1 : options.rounds;
    return benchLimit({ ...options, limit: options.limit, archive: options.archive === true, rounds });
  });
program
  .command('archive')
  .description('SO_ARC mirror: the connector vs rclone sync (same RGW) and restic (local repository): initial, no-change, daily')
  .option('--files <n>', 'files in the generated tree', (v) => Number(v), 20_000)
  .option('--rss-files <n>', 'also check peak memory on a tree of this many small files (0: skip)', (v) => Number(v), 100_000)
  .option('--rounds <n>', 'no-change runs, and days of activity, per tool', (v) => Number(v), 3)
  .option('--port-base <n>', "ports for the benchmark's own Ceph cluster (S3 on base+80)", (v) => Number(v), DEFAULT_BENCH_PORT_BASE)
  .action((options: { files: number; portBase: number; rssFiles: number; rounds: number }) => benchArchive(options));
program
  .command('restore')
  .description(
    'restore the archive tree and a .bak: the connector vs a raw copy, rclone copy (same RGW) and restic restore (local repository)',
  )
  .option('--files <n>', 'files in the generated tree', (v) => Number(v), 20_000)
  .option('--size <bytes>', '.bak size (e.g. 2G, 512M)', size, 2 * 1024 ** 3)
  .option('--rounds <n>', 'alternating rounds per tool', (v) => Number(v), 2)
  .option('--port-base <n>', "ports for the benchmark's own Ceph cluster (S3 on base+80)", (v) => Number(v), DEFAULT_BENCH_PORT_BASE)
  .action((options: { files: number; size: number; rounds: number; portBase: number }) => benchRestore(options));
program
  .command('fleet')
  .description(
    "the nightly start of a fleet: local mode's real cloud side (shipped throttle) and N simulated connectors, every tenant due in the same quarter hour",
  )
  .option('--tenants <n>', 'tenants (each with its own key and simulated connector)', (v) => Number(v), 2000)
  .option('--offline <percent>', 'percent of tenants whose connector is offline', (v) => Number(v), 0)
  .option('--connect-rate <n>', 'connectors dialling per second before the quarter hour', (v) => Number(v), 40)
  .option('--deadline <seconds>', 'give up waiting for requests and results after this long', (v) => Number(v), 900)
  .option('--no-hourly-checks', 'skip measuring the hourly checks')
  .option(
    '--port-base <n>',
    'ports for the benchmark (dynalite base+1, gateway base+2, Step Functions base+3)',
    (v) => Number(v),
    DEFAULT_BENCH_PORT_BASE,
  )
  .action(
    async (options: {
      tenants: number;
      offline: number;
      connectRate: number;
      deadline: number;
      hourlyChecks: boolean;
      portBase: number;
    }) => {
      if (!(Number.isInteger(options.tenants) && options.tenants > 0))
        throw new InvalidArgumentError('--tenants must be a whole number above 0');
      if (!(options.offline >= 0 && options.offline <= 100)) throw new InvalidArgumentError('--offline is a percentage from 0 to 100');
      process.exit(
        await benchFleet({
          tenants: options.tenants,
          offlinePercent: options.offline,
          portBase: options.portBase,
          connectRate: options.connectRate,
          deadlineSeconds: options.deadline,
          hourlyChecks: options.hourlyChecks,
        }),
      );
    },
  );
program.parseAsync().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
