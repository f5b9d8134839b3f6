import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Artifact, ManifestPointer } from '../../../protocol';
import type { VersionCopier } from './promote-to-tiers';

/** Parts copied at once in a multipart copy. */
const PART_COPY_CONCURRENCY = 8;

/**
 * Copies object versions inside the bucket without moving the bytes through Lambda: how
 * finalize promotes a validated upload from staging into the daily tier, and daily into weekly
 * and monthly. An object
 * stored in one PUT (at most 5 GB) is copied with CopyObject; one stored in parts (every backup
 * above 5 GB) with UploadPartCopy over the same part ranges. Either way the copy's S3 SHA-256 must
 * equal the source's: the same full-object digest, or the same composite of the same parts.
 */
export class S3VersionCopier implements VersionCopier {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async copy(source: Artifact, targetKey: string): Promise<Artifact> {
    const copySource = `${this.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}?versionId=${encodeURIComponent(source.versionId)}`;
    const versionId =
      source.s3Checksum.type === 'COMPOSITE'
        ? await this.copyInParts(copySource, targetKey, source.size, source.s3Checksum.partSize)
        : (
            await this.s3.send(
              new CopyObjectCommand({ Bucket: this.bucket, Key: targetKey, CopySource: copySource, ChecksumAlgorithm: 'SHA256' }),
            )
          ).VersionId;
    // Ceph RGW does not always return the new version id; the current version is then the copy.
    const head = await this.s3.send(
      new HeadObjectCommand({ Bucket: this.bucket, Key: targetKey, VersionId: versionId, ChecksumMode: 'ENABLED' }),
    );
    if (!head.VersionId) throw new Error(`S3 returned no version for ${targetKey}: bucket versioning must be on`);
    if (head.ContentLength !== source.size || head.ChecksumSHA256 !== source.s3Checksum.value) {
      throw new Error(
        `copy of ${source.key} (version ${source.versionId}) to ${targetKey} does not match its source: ${head.ContentLength} bytes, SHA-256 ${head.ChecksumSHA256 ?? 'none'}; expected ${source.size} bytes, ${source.s3Checksum.value}`,
      );
    }
    return { ...source, key: targetKey, versionId: head.VersionId };
  }

  async putJson(key: string, body: unknown): Promise<ManifestPointer> {
    const out = await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(body, null, 2),
        ContentType: 'application/json',
        ChecksumAlgorithm: 'SHA256',
      }),
    );
    const versionId = out.VersionId ?? (await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).VersionId;
    if (!versionId) throw new Error(`S3 returned no version for ${key}: bucket versioning must be on`);
    return { key, versionId };
  }

  async retire(keys: readonly string[]): Promise<void> {
    // A delete marker, never a version delete: the staged versions become noncurrent and expire.
    for (const key of keys) await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  private async copyInParts(copySource: string, key: string, size: number, partSize: number): Promise<string | undefined> {
    const { UploadId } = await this.s3.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ChecksumAlgorithm: 'SHA256' }),
    );
    try {
      const count = Math.max(1, Math.ceil(size / partSize));
      const parts: Array<{ PartNumber: number; ETag?: string; ChecksumSHA256?: string }> = new Array(count);
      await pLimit(PART_COPY_CONCURRENCY).map(parts.keys(), async (index) => {
        const start = index * partSize;
        const out = await this.s3.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId,
            PartNumber: index + 1,
            CopySource: copySource,
            CopySourceRange: `bytes=${start}-${Math.min(size, start + partSize) - 1}`,
          }),
        );
        parts[index] = { PartNumber: index + 1, ETag: out.CopyPartResult?.ETag, ChecksumSHA256: out.CopyPartResult?.ChecksumSHA256 };
      });
      const out = await this.s3.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
      );
      return out.VersionId;
    } catch (error) {
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId })).catch(() => undefined);
      throw error;
    }
  }
}
