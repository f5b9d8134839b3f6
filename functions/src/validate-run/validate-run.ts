import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { z } from 'zod';
import {
  type Artifact,
  type ArtifactFailure,
  type BackupFileFacts,
  decodeManifest,
  decodeSnapshot,
  exactPathBytes,
  isTenantArchiveKey,
  keyLayout,
  type Manifest,
  type ManifestPointer,
  pathFieldsConsistent,
  type S3Checksum,
  type SnapshotFile,
} from '../../../protocol';
import type { RunRef } from '../shared';
import type { ArtifactReader } from './artifact-reader';
import { checkBackupFile } from './backup-file-check';

/** One artifact's verdict: a database backup, or the archive (its snapshot and files). */
export interface ArtifactValidation {
  kind: 'database' | 'archive';
  /** The database's name; for the archive, its roots' names. */
  name: string;
  ok: boolean;
  /** What is wrong with it, each naming the object; empty when ok. */
  problems: string[];
  /** A database backup: what its validation read and proves, and what it leaves to other checks (backup-file-check.ts, describeChecked). */
  checked?: string;
}

export interface ValidationReport {
  /** Everything the manifest lists passed, and nothing is wrong with the run as a whole. */
  ok: boolean;
  /** Nothing is wrong with the run as a whole and at least one artifact passed: those are kept. */
  promotable: boolean;
  /** Individual facts checked against S3. */
  checks: number;
  /** Every problem (the run's and each artifact's), each naming the object and what is wrong. */
  problems: string[];
  artifacts: ArtifactValidation[];
  /** What the connector reported it could not back up (not validation problems, but the run failed). */
  failures: ArtifactFailure[];
  /** What each database's backup file says about itself (protocol/backup-file-reader.ts). */
  databases: Array<{ database: string; size: number; header?: BackupFileFacts }>;
  archive?: {
    files: number;
    bytes: number;
    uploadedFiles: number;
    uploadedBytes: number;
    skippedFiles: number;
    /** Files and bytes the backup window's end left for the next run (seeding; `archive.pending` in the manifest). */
    pendingFiles: number;
    pendingBytes: number;
    /** Files whose version was checked against S3 in this validation (every one not validated before). */
    verifiedFiles: number;
    /** The validated run this snapshot was compared with, and the difference. */
    comparedWith?: string;
    added: number;
    changed: number;
    removed: number;
  };
  totalBytes: number;
}

type Check = (condition: boolean, text: string) => boolean;

const CONCURRENCY = 32;
/** Clock difference tolerated between the connector and the cloud. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Problems kept per artifact (a flood of bad archive files is summarized, not listed). */
const PROBLEMS_PER_ARTIFACT = 100;

/**
 * Checks a run's upload without trusting the connector: every artifact must exist at the
 * manifest's version with the stated size and S3-verified SHA-256, under the run's own staging
 * keys (archive files under the tenant's archive); database backups must be SQL Server backups
 * of the named database; the archive snapshot's totals must add up and every file uploaded in
 * this run must check out. Each database and the archive gets its own verdict, so one bad
 * artifact never costs the others; a problem with the run as a whole (manifest missing, for
 * another run or tenant) fails them all.
 */
export async function validateRun(
  reader: ArtifactReader,
  run: RunRef,
  pointer: ManifestPointer,
  now = new Date(),
  previous?: PreviousSnapshot,
): Promise<ValidationReport> {
  const report: ValidationReport = {
    ok: false,
    promotable: false,
    checks: 0,
    problems: [],
    artifacts: [],
    failures: [],
    databases: [],
    totalBytes: 0,
  };
  const runProblems: string[] = [];
  const checker =
    (problems: string[]): Check =>
    (condition, text) => {
      report.checks++;
      if (!condition) problems.push(text);
      return condition;
    };
  const check = checker(runProblems);

  const expectedManifestKey = keyLayout.stagedManifest(run.tenantId, run.runId);
  if (!check(pointer.key === expectedManifestKey, `manifest is at ${pointer.key}, expected ${expectedManifestKey}`))
    return finish(report, runProblems);
  const manifest = await readManifest(reader, pointer, (text) => runProblems.push(text));
  if (!manifest) return finish(report, runProblems);
  check(manifest.runId === run.runId, `manifest is for run ${manifest.runId}, not ${run.runId}`);
  check(manifest.tenantId === run.tenantId, `manifest is for tenant ${manifest.tenantId}, not ${run.tenantId}`);
  check(manifest.databases.length > 0 || manifest.archive !== undefined, 'manifest lists no database and no archive');
  const names = manifest.databases.map((db) => db.database);
  check(new Set(names).size === names.length, `manifest lists a database more than once: ${names.join(', ')}`);
  report.failures = manifest.failures ?? [];
  if (runProblems.length > 0) return finish(report, runProblems);

  for (const db of manifest.databases) {
    const artifact = startArtifact(report, 'database', db.database);
    const check = checker(artifact.problems);
    const expectedKey = keyLayout.stagedDatabaseBackup(run.tenantId, run.runId, db.database);
    if (!check(db.artifact.key === expectedKey, `backup of ${db.database} is at ${db.artifact.key}, expected ${expectedKey}`)) continue;
    if (!(await checkArtifact(reader, db.artifact, check))) continue;
    report.totalBytes += db.artifact.size;
    // A daily backup must be a complete, readable full backup of this database: bounded ranged reads (structure, start, end, a sample of the middle).
    let file: Awaited<ReturnType<typeof checkBackupFile>>;
    try {
      file = await checkBackupFile(reader, db.artifact, db.artifact.size, { database: db.database, backupType: 'full' });
    } catch (error) {
      // S3 or the network failing is the run's to retry; anything else reading this one file fails this artifact only.
      if (isServiceError(error)) throw error;
      check(false, `${db.artifact.key} could not be read as a backup: ${(error as Error).message ?? String(error)}`);
      continue;
    }
    report.databases.push({ database: db.database, size: db.artifact.size, header: file.report.facts });
    artifact.checked = file.checked;
    check(file.verdict.ok, `${db.artifact.key} is not a usable backup of ${db.database}: ${file.verdict.reasons.join('; ')}`);
    const started = Date.parse(run.startedAt) - CLOCK_SKEW_MS;
    const finished = Date.parse(db.finishedAt);
    check(
      finished >= started && finished <= now.getTime() + CLOCK_SKEW_MS,
      `backup of ${db.database} finished at ${db.finishedAt}, outside this run (started ${run.startedAt})`,
    );
  }

  if (manifest.archive) {
    const summary = manifest.archive;
    const artifact = startArtifact(report, 'archive', summary.roots.map((root) => root.name).join(', ') || 'archive');
    const check = checker(artifact.problems);
    const snapshotKey = keyLayout.stagedSnapshot(run.tenantId, run.runId);
    // Files left pending are seeding (core/seeding.ts): the snapshot is checked as always. Only a
    // run that had a backup window can have reached its end; a claim otherwise is the connector's mistake.
    if (summary.pending)
      check(
        run.windowEndsAt !== undefined,
        `archive reports ${summary.pending.files} files / ${summary.pending.bytes} bytes left for the window's end, but run ${run.runId} had no backup window`,
      );
    // The backlog sent (seeding progress) is part of what was sent, never more.
    if (summary.backlogSent)
      check(
        summary.backlogSent.files <= summary.uploadedFiles - summary.copiedFiles && summary.backlogSent.bytes <= summary.uploadedBytes,
        `archive reports ${summary.backlogSent.files} files / ${summary.backlogSent.bytes} bytes of backlog sent, more than it sent (${summary.uploadedFiles - summary.copiedFiles} files / ${summary.uploadedBytes} bytes)`,
      );
    if (
      check(summary.snapshot.key === snapshotKey, `archive snapshot is at ${summary.snapshot.key}, expected ${snapshotKey}`) &&
      (await checkArtifact(reader, summary.snapshot, check))
    ) {
      const snapshot = decodeSnapshot(await reader.read(summary.snapshot.key, summary.snapshot.versionId));
      if (
        check(
          snapshot.success,
          `archive snapshot ${snapshotKey} is not a valid snapshot${snapshot.success ? '' : `: ${snapshot.stage === 'schema' ? z.prettifyError(snapshot.error).split('\n')[0] : `not gzip-compressed JSON (${snapshot.error.message})`}`}`,
        ) &&
        snapshot.success
      ) {
        const files = snapshot.data.files;
        const uploaded = files.filter((f) => f.uploaded);
        const sum = (list: typeof files) => list.reduce((total, f) => total + f.size, 0);
        check(snapshot.data.runId === run.runId, `archive snapshot is for run ${snapshot.data.runId}`);
        check(
          files.length === summary.files && sum(files) === summary.bytes,
          `archive snapshot holds ${files.length} files / ${sum(files)} bytes, manifest says ${summary.files} / ${summary.bytes}`,
        );
        check(
          uploaded.length === summary.uploadedFiles && sum(uploaded) === summary.uploadedBytes,
          `archive snapshot marks ${uploaded.length} files / ${sum(uploaded)} bytes uploaded, manifest says ${summary.uploadedFiles} / ${summary.uploadedBytes}`,
        );
        for (const file of files) {
          // The key follows from the exact path (a derived key for a path with no plain one), and the path's text from its bytes.
          if (
            !check(pathFieldsConsistent(file), `archive file ${file.root}/${file.path}: its text and its exact bytes (pathBytes) disagree`)
          )
            continue;
          const expectedKey = keyLayout.archiveFile(run.tenantId, file.root, exactPathBytes(file));
          check(
            file.key === expectedKey && isTenantArchiveKey(run.tenantId, file.key),
            `archive file ${file.root}/${file.path} is at ${file.key}, expected ${expectedKey}`,
          );
        }
        if (summary.links !== undefined)
          check(
            snapshot.data.links.length === summary.links,
            `archive snapshot holds ${snapshot.data.links.length} links, manifest says ${summary.links}`,
          );
        for (const entry of [...snapshot.data.links, ...snapshot.data.emptyFolders, ...snapshot.data.folders]) {
          check(
            pathFieldsConsistent(entry),
            `archive ${'target' in entry ? 'link' : 'folder'} ${entry.root}/${entry.path}: its text and its exact bytes (pathBytes) disagree`,
          );
        }
        const diff = await compareWithPrevious(reader, files, previous, check);
        await pLimit(CONCURRENCY).map(diff.toVerify, (file) =>
          checkArtifact(
            reader,
            {
              key: file.key,
              versionId: file.versionId,
              size: file.size,
              sha256: file.sha256,
              s3Checksum: file.s3Checksum ?? {
                algorithm: 'SHA256',
                type: 'FULL_OBJECT',
                value: Buffer.from(file.sha256, 'hex').toString('base64'),
              },
            },
            check,
          ),
        );
        report.archive = {
          files: files.length,
          bytes: sum(files),
          uploadedFiles: uploaded.length,
          uploadedBytes: sum(uploaded),
          skippedFiles: summary.skippedFiles,
          pendingFiles: summary.pending?.files ?? 0,
          pendingBytes: summary.pending?.bytes ?? 0,
          verifiedFiles: diff.toVerify.length,
          comparedWith: previous?.runId,
          added: diff.added,
          changed: diff.changed,
          removed: diff.removed,
        };
        report.totalBytes += sum(uploaded);
      }
    }
  }
  return finish(report, runProblems);
}

/** An error of S3 or of the network (the AWS SDK's, with its HTTP metadata, or a socket's errno code): worth a retry of the whole step. */
function isServiceError(error: unknown): boolean {
  const e = error as { $metadata?: unknown; code?: unknown };
  return e.$metadata !== undefined || (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code));
}

function startArtifact(report: ValidationReport, kind: ArtifactValidation['kind'], name: string): ArtifactValidation {
  const artifact: ArtifactValidation = { kind, name, ok: false, problems: [] };
  report.artifacts.push(artifact);
  return artifact;
}

/** The archive snapshot of the tenant's last validated run: what this run is compared with. */
export interface PreviousSnapshot {
  runId: string;
  files: Map<string, SnapshotFile>;
}

/** Deleted files checked in S3 per run (deletions are rare; a flood is reported, not checked one by one). */
const REMOVED_CHECKED = 1000;

/**
 * This snapshot against the last validated one. A version the previous validation checked must
 * keep its size and SHA-256; every other version (new, changed, or from a run that never
 * validated) is checked against S3; a file marked uploaded must be a new version; a file gone
 * since must be gone in S3 too (its current version a delete marker), or the snapshot dropped it.
 */
async function compareWithPrevious(reader: ArtifactReader, files: SnapshotFile[], previous: PreviousSnapshot | undefined, check: Check) {
  const toVerify: SnapshotFile[] = [];
  let added = 0;
  let changed = 0;
  const present = new Set<string>();
  for (const file of files) {
    present.add(file.key);
    const before = previous?.files.get(file.key);
    if (!before) added++;
    else if (before.versionId !== file.versionId) changed++;
    if (before && before.versionId === file.versionId) {
      check(
        !file.uploaded,
        `${file.key} is marked uploaded in this run, but version ${file.versionId} was validated in run ${previous!.runId}`,
      );
      check(
        before.size === file.size && before.sha256 === file.sha256,
        `${file.key} version ${file.versionId}: the snapshot says ${file.size} bytes / SHA-256 ${file.sha256}, run ${previous!.runId} validated ${before.size} / ${before.sha256}`,
      );
    } else {
      toVerify.push(file);
    }
  }
  const removed = previous ? [...previous.files.keys()].filter((key) => !present.has(key)) : [];
  await pLimit(CONCURRENCY).map(removed.slice(0, REMOVED_CHECKED), async (key) => {
    const current = await reader.head(key);
    check(
      current === undefined,
      `${key} is missing from the snapshot but S3 still holds it as current (no delete marker): the snapshot dropped a file`,
    );
  });
  return { toVerify, added, changed, removed: removed.length };
}

/** Loads the snapshot of a validated run from its manifest; undefined if it has none or cannot be read. */
export async function loadPreviousSnapshot(
  reader: ArtifactReader,
  runId: string,
  manifest: ManifestPointer,
): Promise<PreviousSnapshot | undefined> {
  try {
    const parsed = decodeManifest(await reader.read(manifest.key, manifest.versionId));
    const pointer = parsed.success ? parsed.data.archive?.snapshot : undefined;
    if (!pointer) return undefined;
    const snapshot = decodeSnapshot(await reader.read(pointer.key, pointer.versionId));
    return snapshot.success ? { runId, files: new Map(snapshot.data.files.map((f) => [f.key, f])) } : undefined;
  } catch {
    return undefined;
  }
}

function finish(report: ValidationReport, runProblems: string[]): ValidationReport {
  for (const artifact of report.artifacts) {
    artifact.ok = artifact.problems.length === 0 && runProblems.length === 0;
    if (artifact.problems.length > PROBLEMS_PER_ARTIFACT)
      artifact.problems.splice(
        PROBLEMS_PER_ARTIFACT,
        Infinity,
        `… and ${artifact.problems.length - PROBLEMS_PER_ARTIFACT} more problem(s)`,
      );
  }
  report.problems = [...runProblems, ...report.artifacts.flatMap((a) => a.problems)];
  report.ok = runProblems.length === 0 && report.artifacts.length > 0 && report.artifacts.every((a) => a.ok);
  report.promotable = runProblems.length === 0 && report.artifacts.some((a) => a.ok);
  return report;
}

async function readManifest(
  reader: ArtifactReader,
  pointer: ManifestPointer,
  problem: (text: string) => void,
): Promise<Manifest | undefined> {
  const facts = await reader.head(pointer.key, pointer.versionId);
  if (!facts) {
    problem(`manifest ${pointer.key} version ${pointer.versionId} does not exist`);
    return undefined;
  }
  const parsed = decodeManifest(await reader.read(pointer.key, pointer.versionId));
  if (parsed.success) return parsed.data;
  problem(
    parsed.stage === 'schema'
      ? `manifest ${pointer.key} breaks the manifest schema: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`
      : `manifest ${pointer.key} is not valid JSON`,
  );
  return undefined;
}

/** One artifact: exists at its version, same size, and S3's own checksum agrees with the manifest. */
async function checkArtifact(reader: ArtifactReader, artifact: Artifact, check: Check): Promise<boolean> {
  const facts = await reader.head(artifact.key, artifact.versionId);
  if (!check(facts !== undefined, `${artifact.key} version ${artifact.versionId} does not exist`) || !facts) return false;
  let ok = check(facts.size === artifact.size, `${artifact.key} is ${facts.size} bytes in S3, manifest says ${artifact.size}`);
  ok = check(facts.checksumSha256 !== undefined, `${artifact.key} has no SHA-256 checksum in S3`) && ok;
  if (facts.checksumSha256 !== undefined) {
    ok =
      check(
        facts.checksumSha256 === artifact.s3Checksum.value,
        `${artifact.key}: S3's SHA-256 ${facts.checksumSha256} differs from the manifest's ${artifact.s3Checksum.value}`,
      ) && ok;
  }
  ok = check(checksumConsistent(artifact.s3Checksum, artifact), `${artifact.key}: the manifest's checksums contradict each other`) && ok;
  return ok;
}

/** The manifest's S3 checksum must follow from its own data (whole-file SHA-256, or part digests). */
function checksumConsistent(checksum: S3Checksum, artifact: Artifact): boolean {
  if (checksum.type === 'FULL_OBJECT') return checksum.value === Buffer.from(artifact.sha256, 'hex').toString('base64');
  const expectedParts = Math.max(1, Math.ceil(artifact.size / checksum.partSize));
  const hash = createHash('sha256');
  for (const part of checksum.parts) hash.update(Buffer.from(part, 'base64'));
  return checksum.parts.length === expectedParts && checksum.value === `${hash.digest('base64')}-${checksum.parts.length}`;
}
