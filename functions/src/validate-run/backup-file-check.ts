import { type Artifact, type BackupExpectation, type BackupFileReport, type BackupVerdict, type ByteSource, judgeBackupFile, readBackupFile } from '../../../protocol';
import type { ArtifactReader } from './artifact-reader';

/**
 * One database artifact's backup file at its exact S3 version, read by ranged GETs: the header
 * blocks at the start and the end of the backup set at the end (a few requests, never the whole
 * object). `size` is the object's size as S3 reported it.
 */
export function artifactSource(reader: ArtifactReader, artifact: Pick<Artifact, 'key' | 'versionId'>, size: number): ByteSource {
  return {
    size,
    read: async (offset, length) => {
      if (length === 0) return new Uint8Array(0);
      const bytes = await reader.read(artifact.key, artifact.versionId, { start: offset, end: offset + length - 1 });
      if (bytes.length !== length) throw new Error(`${artifact.key}: S3 returned ${bytes.length} bytes for a ${length}-byte range at ${offset}`);
      return bytes;
    },
  };
}

/**
 * Whether the backup file of one database artifact is what the manifest says: a complete, readable
 * SQL Server backup (compressed or not) of the expected database and type, one whole backup set.
 * Anything the reader cannot read is a failure with its reason, never a skip.
 */
export async function checkBackupFile(reader: ArtifactReader, artifact: Pick<Artifact, 'key' | 'versionId'>, size: number, expected: BackupExpectation): Promise<{ report: BackupFileReport; verdict: BackupVerdict }> {
  const report = await readBackupFile(artifactSource(reader, artifact, size));
  return { report, verdict: judgeBackupFile(report, expected) };
}
