import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ObjectStore, PutOptions, StoredObject } from '../../connector/src/store/object-store';

/** An in-memory versioned store for domain tests (the S3 store is tested against Ceph RGW). */
export class MemoryObjectStore implements ObjectStore {
  readonly versions = new Map<string, Array<{ versionId: string; body?: Buffer }>>();
  private counter = 0;

  async putFile(key: string, path: string, options: PutOptions = {}): Promise<StoredObject> {
    const stored = await this.putBuffer(key, await readFile(path));
    options.onProgress?.(stored.size);
    return stored;
  }

  async putBuffer(key: string, body: Buffer): Promise<StoredObject> {
    const versionId = `v${++this.counter}`;
    this.versions.set(key, [...(this.versions.get(key) ?? []), { versionId, body }]);
    const digest = createHash('sha256').update(body).digest();
    return { key, versionId, size: body.length, sha256: digest.toString('hex'), s3Checksum: { algorithm: 'SHA256', type: 'FULL_OBJECT', value: digest.toString('base64') } };
  }

  async markDeleted(key: string): Promise<void> {
    this.versions.set(key, [...(this.versions.get(key) ?? []), { versionId: `d${++this.counter}` }]);
  }

  async getVersion(key: string, versionId: string): Promise<NodeJS.ReadableStream> {
    const body = this.versions.get(key)?.find((v) => v.versionId === versionId)?.body;
    if (!body) throw new Error(`NoSuchVersion ${key} ${versionId}`);
    return Readable.from([body]);
  }

  current(key: string): Buffer | undefined {
    return this.versions.get(key)?.at(-1)?.body;
  }
}
