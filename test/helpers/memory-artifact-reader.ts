import { createHash } from 'node:crypto';
import type { ArtifactReader, ObjectFacts } from '../../functions/src/validate-run/artifact-reader';

/** An in-memory bucket for validator tests; objects can be tampered with after "upload". */
export class MemoryArtifactReader implements ArtifactReader {
  readonly objects = new Map<string, { body: Buffer; checksum: string; deleteMarker?: boolean }>();
  private counter = 0;

  put(key: string, body: Buffer): { key: string; versionId: string; checksum: string } {
    const versionId = `v${++this.counter}`;
    const checksum = createHash('sha256').update(body).digest('base64');
    this.objects.set(`${key}@${versionId}`, { body, checksum });
    return { key, versionId, checksum };
  }

  /** Hides the key behind a delete marker (its versions stay). */
  markDeleted(key: string): void {
    this.objects.set(`${key}@d${++this.counter}`, { body: Buffer.alloc(0), checksum: '', deleteMarker: true });
  }

  async head(key: string, versionId?: string): Promise<ObjectFacts | undefined> {
    const object = versionId
      ? this.objects.get(`${key}@${versionId}`)
      : [...this.objects].filter(([id]) => id.startsWith(`${key}@`)).at(-1)?.[1];
    if (object?.deleteMarker) return undefined;
    return object && { size: object.body.length, checksumSha256: object.checksum, checksumType: 'FULL_OBJECT' };
  }

  async read(key: string, versionId: string, range?: { start: number; end: number }): Promise<Buffer> {
    const object = this.objects.get(`${key}@${versionId}`);
    if (!object) throw new Error(`NoSuchVersion ${key}@${versionId}`);
    return range ? object.body.subarray(range.start, range.end + 1) : object.body;
  }
}
