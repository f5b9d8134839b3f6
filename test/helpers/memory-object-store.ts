import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ConnectorError } from '../../connector/src/errors';
import type { LatestVersion, ObjectStore, PutOptions, StoredObject, VersionFacts } from '../../connector/src/store/object-store';

/** An in-memory versioned store for domain tests (the S3 store is tested against Ceph RGW). */
export class MemoryObjectStore implements ObjectStore {
  readonly versions = new Map<string, Array<{ versionId: string; body?: Buffer }>>();
  /** Every call by name, to show what a run did and did not send. */
  readonly calls: Record<string, number> = {};
  private counter = 0;

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }

  partSizeFor(): number {
    return Infinity;
  }

  bufferBytesFor(size: number): number {
    return size;
  }

  async putFile(key: string, path: string | Buffer, options: PutOptions = {}): Promise<StoredObject> {
    this.count('putFile');
    const stored = await this.putBuffer(key, await readFile(path));
    options.onProgress?.(stored.size);
    return stored;
  }

  async putBuffer(key: string, pieces: Buffer | readonly Buffer[]): Promise<StoredObject> {
    refuseBadKey(key);
    const body = Buffer.isBuffer(pieces) ? pieces : Buffer.concat(pieces);
    const versionId = `v${++this.counter}`;
    this.versions.set(key, [...(this.versions.get(key) ?? []), { versionId, body }]);
    const digest = createHash('sha256').update(body).digest();
    return {
      key,
      versionId,
      size: body.length,
      sha256: digest.toString('hex'),
      s3Checksum: { algorithm: 'SHA256', type: 'FULL_OBJECT', value: digest.toString('base64') },
    };
  }

  async markDeleted(key: string): Promise<void> {
    refuseBadKey(key);
    this.count('markDeleted');
    this.versions.set(key, [...(this.versions.get(key) ?? []), { versionId: `d${++this.counter}` }]);
  }

  async getVersion(key: string, versionId: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream> {
    const body = this.versions.get(key)?.find((v) => v.versionId === versionId)?.body;
    if (!body) throw new Error(`NoSuchVersion ${key} ${versionId}`);
    return Readable.from([range ? body.subarray(range.start, range.end + 1) : body]);
  }

  async head(key: string, versionId?: string): Promise<VersionFacts | undefined> {
    this.count('head');
    const versions = this.versions.get(key) ?? [];
    const version = versionId ? versions.find((v) => v.versionId === versionId) : versions.at(-1);
    if (!version?.body) return undefined;
    return {
      versionId: version.versionId,
      size: version.body.length,
      s3Checksum: { type: 'FULL_OBJECT', value: createHash('sha256').update(version.body).digest('base64') },
    };
  }

  async latestVersions(prefix: string): Promise<Map<string, LatestVersion>> {
    this.count('latestVersions');
    const latest = new Map<string, LatestVersion>();
    for (const [key, versions] of this.versions) {
      const last = versions.at(-1);
      if (key.startsWith(prefix) && last?.body)
        latest.set(key, { versionId: last.versionId, size: last.body.length, lastModified: new Date(Number(last.versionId.slice(1))) });
    }
    return latest;
  }

  async copyVersion(sourceKey: string, sourceVersionId: string, targetKey: string): Promise<VersionFacts> {
    this.count('copyVersion');
    const body = this.versions.get(sourceKey)?.find((v) => v.versionId === sourceVersionId)?.body;
    if (!body) throw new Error(`NoSuchVersion ${sourceKey} ${sourceVersionId}`);
    const stored = await this.putBuffer(targetKey, body);
    return { versionId: stored.versionId, size: stored.size, s3Checksum: { type: 'FULL_OBJECT', value: stored.s3Checksum.value } };
  }

  current(key: string): Buffer | undefined {
    return this.versions.get(key)?.at(-1)?.body;
  }
}

/** As strict as S3: a key is at most 1,024 bytes of UTF-8 (KeyTooLongError, HTTP 400). */
function refuseBadKey(key: string): void {
  if (/\p{Cs}/u.test(key) || Buffer.byteLength(key, 'utf8') > 1024) {
    const cause = Object.assign(new Error('Your key is too long'), { name: 'KeyTooLongError', $metadata: { httpStatusCode: 400 } });
    throw new ConnectorError('S3_ERROR', `S3 refused uploading ${key.slice(0, 60)}…: KeyTooLongError (HTTP 400): Your key is too long`, {
      cause,
      permanent: true,
    });
  }
}
