import type { S3Checksum } from '../../../protocol';

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
}

export interface ObjectStore {
  /** Uploads a file (read once: hashed while it is sent). */
  putFile(key: string, path: string, options?: PutOptions): Promise<StoredObject>;
  putBuffer(key: string, body: Buffer, contentType?: string): Promise<StoredObject>;
  /** Hides the key behind a delete marker; no version is ever deleted. */
  markDeleted(key: string): Promise<void>;
  /** The content of one exact version, as a stream. */
  getVersion(key: string, versionId: string): Promise<NodeJS.ReadableStream>;
}
