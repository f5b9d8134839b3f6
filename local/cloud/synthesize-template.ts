import { App } from 'aws-cdk-lib';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SoBackupStack, type SoBackupStackProps } from '../../infra/lib/so-backup-stack';

export type CfnTemplate = { Resources: Record<string, CfnResource> };
export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Synthesizes the real stack in-process, as `cdk synth` would, but without bundling the
 * functions: for what only needs the template (its state machines, tables, policies).
 */
export function synthesizeTemplate(props: SoBackupStackProps = {}): CfnTemplate {
  const outdir = mkdtempSync(path.join(tmpdir(), 'so-backup-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SoBackupStack(app, 'SoBackup', props);
    return app.synth().getStackByName(stack.stackName).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** A synthesized cloud assembly: the template and the folder its function bundles are in. */
export interface SynthesizedStack {
  template: CfnTemplate;
  /** cdk.out: each function's bundle is `<assemblyDir>/<aws:asset:path>`. */
  assemblyDir: string;
}

/**
 * Synthesizes the stack as `cdk synth` does, functions bundled by esbuild (what `cdk deploy`
 * uploads), into a cache folder keyed by everything the output depends on (the stack's, the
 * functions' and the protocol's sources, the lock file and the props): the same sources are
 * bundled once, however many tests and local-mode runs use them.
 */
export function synthesizeStack(
  props: SoBackupStackProps = {},
  cacheDir = path.join(REPO_ROOT, 'node_modules', '.cache', 'so-backup-synth'),
): SynthesizedStack {
  const key = sourceHash(props);
  const assemblyDir = path.join(cacheDir, key);
  const templateFile = path.join(assemblyDir, 'SoBackup.template.json');
  if (!existsSync(templateFile)) {
    mkdirSync(cacheDir, { recursive: true });
    // One process bundles; others (parallel test workers) wait for its result rather than bundle too.
    const lock = path.join(cacheDir, `${key}.lock`);
    let mine = false;
    for (const until = Date.now() + 10 * 60_000; !existsSync(templateFile); ) {
      try {
        mkdirSync(lock);
        mine = true;
        break;
      } catch {
        if (Date.now() > until || Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 10 * 60_000)
          rmSync(lock, { recursive: true, force: true });
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      }
    }
    if (mine) {
      try {
        if (!existsSync(templateFile)) bundle(props, cacheDir, key, assemblyDir, templateFile);
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
      prune(cacheDir, key);
    }
  }
  return { template: JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate, assemblyDir };
}

function bundle(props: SoBackupStackProps, cacheDir: string, key: string, assemblyDir: string, templateFile: string): void {
  const building = mkdtempSync(path.join(cacheDir, `${key}.building-`));
  try {
    // As the CDK CLI does: asset metadata names each function's bundle folder.
    const app = new App({ outdir: building, context: { 'aws:cdk:enable-asset-metadata': true } });
    new SoBackupStack(app, 'SoBackup', props);
    app.synth();
    try {
      renameSync(building, assemblyDir);
    } catch (error) {
      if (!existsSync(templateFile)) throw error;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
}

function sourceHash(props: SoBackupStackProps): string {
  const hash = createHash('sha256')
    .update('assembly-v2')
    .update(
      JSON.stringify(props, (_, value: unknown) =>
        value && typeof value === 'object' && 'toSeconds' in value ? String((value as { toSeconds(): number }).toSeconds()) : value,
      ),
    );
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true })
      .flatMap((entry) => {
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? walk(full) : entry.name.endsWith('.ts') ? [full] : [];
      })
      .sort();
  for (const file of [
    ...['functions', 'protocol', 'infra'].flatMap((dir) => walk(path.join(REPO_ROOT, dir))),
    path.join(REPO_ROOT, 'package-lock.json'),
    path.join(REPO_ROOT, 'cdk.json'),
  ]) {
    hash.update(path.relative(REPO_ROOT, file)).update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 24);
}

/** Keeps the cache to the newest few assemblies (each is ~70 MB of bundles and source maps). */
function prune(cacheDir: string, keep: string): void {
  const entries = readdirSync(cacheDir)
    .filter((name) => name !== keep && !name.includes('.building-') && !name.endsWith('.lock'))
    .map((name) => ({ name, at: statSync(path.join(cacheDir, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of entries.slice(3)) rmSync(path.join(cacheDir, old.name), { recursive: true, force: true });
}
