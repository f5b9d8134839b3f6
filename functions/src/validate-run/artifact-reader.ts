import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** What S3 says about one object version. */
export interface ObjectFacts {
  size: number;
  /** S3's stored SHA-256 checksum (base64, "-N" suffix for multipart), if any. */
  checksumSha256?: string;
  checksumType?: string;
}

/** The validator's only view of S3: read-only, always at an exact version. */
export interface ArtifactReader {
  /** undefined when the version does not exist (without a version: when the current one is a delete marker or there is none). */
  head(key: string, versionId?: string): Promise<ObjectFacts | undefined>;
  read(key: string, versionId: string, range?: { start: number; end: number }): Promise<Buffer>;
}

export class S3ArtifactReader implements ArtifactReader {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async head(key: string, versionId?: string): Promise<ObjectFacts | undefined> {
    try {
      const out = await this.s3.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key, VersionId: versionId, ChecksumMode: 'ENABLED' }),
      );
      return { size: out.ContentLength ?? -1, checksumSha256: out.ChecksumSHA256, checksumType: out.ChecksumType };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || status === 400 || (error as Error).name === 'NotFound') return undefined;
      throw error;
    }
  }

  async read(key: string, versionId: string, range?: { start: number; end: number }): Promise<Buffer> {
    const out = await this.s3.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        VersionId: versionId,
        Range: range ? `bytes=${range.start}-${range.end}` : undefined,
      }),
    );
    return Buffer.from(await out.Body!.transformToByteArray());
  }
}
