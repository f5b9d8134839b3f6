import {
  type Artifact,
  type BackupExpectation,
  type BackupFileFacts,
  type BackupFileReport,
  type BackupVerdict,
  type ByteSource,
  judgeBackupFile,
  readBackupFile,
} from '../../../protocol';
import type { ArtifactReader } from './artifact-reader';

/**
 * One database artifact's backup file at its exact S3 version, read by ranged GETs of at most
 * MAX_READ_BYTES (1 MiB) each, a few MiB in all whatever the object's size: never the whole object
 * (DESIGN.md: the validator runs in a 256 MB Lambda). `size` is the object's size as S3 reported it.
 */
export function artifactSource(reader: ArtifactReader, artifact: Pick<Artifact, 'key' | 'versionId'>, size: number): ByteSource {
  return {
    size,
    read: async (offset, length) => {
      if (length === 0) return new Uint8Array(0);
      const bytes = await reader.read(artifact.key, artifact.versionId, { start: offset, end: offset + length - 1 });
      if (bytes.length !== length)
        throw new Error(`${artifact.key}: S3 returned ${bytes.length} bytes for a ${length}-byte range at ${offset}`);
      return bytes;
    },
  };
}

/**
 * Whether the backup file of one database artifact is what the manifest says: a complete, readable
 * SQL Server backup (compressed or not) of the expected database and type, one whole backup set.
 * Anything the reader cannot read is a failure with its reason, never a skip.
 */
export async function checkBackupFile(
  reader: ArtifactReader,
  artifact: Pick<Artifact, 'key' | 'versionId'>,
  size: number,
  expected: BackupExpectation,
): Promise<{ report: BackupFileReport; verdict: BackupVerdict; checked: string }> {
  const report = await readBackupFile(artifactSource(reader, artifact, size), { depth: 'bounded' });
  return { report, verdict: judgeBackupFile(report, expected), checked: describeChecked(report.facts) };
}

/**
 * What the validation of one backup file proves, in one paragraph for the run's validation report
 * (docs/backup-files.md, "What the validator proves"): what was read and checked, and what was not
 * and which check covers it instead. Never claims more than the reader's coverage shows.
 */
export function describeChecked(facts: BackupFileFacts): string {
  const c = facts.coverage;
  if (facts.format === 'unknown') return `read ${c.bytesRead} of ${facts.size} bytes: not a SQL Server backup`;
  const blocks = Object.values(c.blocks).reduce((n, k) => n + k, 0);
  const parts = [
    `read ${c.bytesRead} of ${facts.size} bytes in ${c.reads} ranged reads (largest ${c.largestRead})`,
    c.structureWalked
      ? `the MTF structure: all ${blocks} blocks walked from TAPE to the final filemark, each where the one before ends`
      : `the MTF structure: ${blocks} blocks walked${c.notWalked ? ` (not walked: bytes ${c.notWalked.from}–${c.notWalked.to} of the ${facts.compressed ? 'decoded stream' : 'file'})` : ''}`,
    'the header blocks, the first data pages, the blocks after the data, the end of the set and its agreement with the start',
    `${c.pages.checked} page slots looked at, ${c.pages.verified} page checksums verified${c.chunksDecoded !== undefined ? `, ${c.chunksDecoded} compressed chunks decoded` : ''}`,
    `a random sample of the middle: ${c.sampledWindows ?? 0} windows, ${c.sampledBytes ?? 0} bytes`,
  ];
  const unread = Math.max(0, c.dataBytes - c.pages.checked * 8192);
  return `${parts.join('; ')}. Not read here: ${unread > 0 ? `about ${unread} bytes of data pages` : 'nothing of note'} — every byte is covered by S3's SHA-256 of the upload (compared with the connector's) and by SQL Server's RESTORE VERIFYONLY on the connector before the upload; \`so-backup verify-backup\` on a download reads every byte.`;
}
