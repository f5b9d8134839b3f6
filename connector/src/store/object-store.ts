import { createHash } from 'node:crypto';
import type { S3Checksum } from '../../../protocol';
import { ConnectorError } from '../errors';

/** What S3 stored: the exact version, and the checksums to prove it. */
export interface StoredObject {
  key: string;
  versionId: string;
  size: number;
  /** SHA-256 (hex) of the whole content, computed while reading it. */
  sha256: string;
  s3Checksum: S3Checksum;
  /** Parts of an interrupted upload that S3 already had and were not sent again. */
  resumedParts?: number;
}

export interface PutOptions {
  /** Called with bytes sent so far; cheap, may be called often. */
  onProgress?(bytesSent: number): void;
  signal?: AbortSignal;
  /**
   * Asked between the parts of a multipart upload (never during one): true pauses it there. Parts
   * in flight finish, no new one starts, the upload and its checkpoint are kept, and putFile
   * rejects with ConnectorError `UPLOAD_PAUSED`; the next putFile of the same file (same size and
   * mtime) sends only the parts S3 does not have (UploadPaused says how many bytes it holds). A file sent in one PUT, or a store without
   * checkpoints, is never paused. @default never pauses
   */
  pause?(): boolean;
  /**
   * Bytes of parts a multipart upload may have in flight at once, asked before each part (at
   * least one part always goes; null: the store's part concurrency). With a backup window and a
   * bandwidth limit the archive passes about what the limit sends in 10 s, so the parts that must
   * finish after the window's end take about that long. @default null
   */
  partBytesInFlight?(): number | null;
}

/**
 * putFile paused between parts when `pause` asked it to: the upload and its checkpoint are kept,
 * and `bytesInStore` (whole parts) are in S3 for the next attempt, which does not send them again.
 */
export class UploadPaused extends ConnectorError {
  constructor(
    readonly key: string,
    readonly bytesInStore: number,
    parts: { inStore: number; of: number },
  ) {
    super(
      'UPLOAD_PAUSED',
      `the upload of ${key} paused between parts: ${parts.inStore} of ${parts.of} part(s), ${bytesInStore} bytes, are in S3; the next attempt sends the rest`,
    );
    this.name = 'UploadPaused';
  }
}

/** The current (latest, not deleted) version of a key, as a listing shows it. */
export interface LatestVersion {
  versionId: string;
  size: number;
  lastModified: Date;
}

/** What S3 reports of one version: its size and its own SHA-256 checksum (absent if it has none). */
export interface VersionFacts {
  versionId: string;
  size: number;
  s3Checksum?: { type: 'FULL_OBJECT' | 'COMPOSITE'; value: string };
}

export interface ObjectStore {
  /** The part size putFile uses for a file of this size (Infinity: always one part); S3's COMPOSITE checksum depends on it. */
  partSizeFor(size: number): number;
  /** Bytes of memory putFile holds while it uploads a file of this size (for callers that budget memory). */
  bufferBytesFor(size: number): number;
  /** Uploads a file (read once: hashed while it is sent); a Buffer path is a name that is not text (files/file-names.ts). */
  putFile(key: string, path: string | Buffer, options?: PutOptions): Promise<StoredObject>;
  /** Uploads bytes held in memory; a body given in pieces is sent as one object without joining them. */
  putBuffer(key: string, body: Buffer | readonly Buffer[], contentType?: string): Promise<StoredObject>;
  /** Hides the key behind a delete marker; no version is ever deleted. */
  markDeleted(key: string): Promise<void>;
  /** The content of one exact version, whole or a byte range (inclusive), as a stream. */
  getVersion(key: string, versionId: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream>;
  /** Size and S3's checksum of one version (the current one when versionId is omitted); undefined if there is none. */
  head(key: string, versionId?: string): Promise<VersionFacts | undefined>;
  /** Every key under the prefix whose current version is not a delete marker, with that version. */
  latestVersions(prefix: string): Promise<Map<string, LatestVersion>>;
  /** Copies one version to another key inside the store (no bytes through the connector); returns the new version's facts. */
  copyVersion(sourceKey: string, sourceVersionId: string, targetKey: string): Promise<VersionFacts>;
}

/** S3's checksum of a multipart object: SHA-256 over the concatenated part digests, "-<parts>". */
export function compositeChecksum(partDigestsBase64: string[]): string {
  const hash = createHash('sha256');
  for (const digest of partDigestsBase64) hash.update(Buffer.from(digest, 'base64'));
  return `${hash.digest('base64')}-${partDigestsBase64.length}`;
}

/** One exact version, read whole into memory (manifests, snapshots, small files). */
export async function readObject(store: Pick<ObjectStore, 'getVersion'>, key: string, versionId: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.getVersion(key, versionId))
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as unknown as Uint8Array));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
