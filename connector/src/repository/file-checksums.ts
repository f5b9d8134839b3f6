import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { S3Checksum } from '../../../protocol';
import { compositeChecksum } from '../store/object-store';

/** SHA-256 of a file, and the checksum S3 would store for it uploaded in parts of `partSize`. */
export async function hashFile(file: string | Buffer, partSize: number): Promise<{ sha256: string; s3Checksum: S3Checksum } | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const whole = createHash('sha256');
    const parts: string[] = [];
    let part = createHash('sha256');
    let inPart = 0;
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const want = Number.isFinite(partSize) ? Math.min(buffer.length, partSize - inPart) : buffer.length;
      const { bytesRead } = await handle.read(buffer, 0, want, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      whole.update(chunk);
      part.update(chunk);
      inPart += bytesRead;
      if (inPart === partSize) {
        parts.push(part.digest('base64'));
        part = createHash('sha256');
        inPart = 0;
      }
    }
    const digest = whole.digest();
    if (!Number.isFinite(partSize))
      return { sha256: digest.toString('hex'), s3Checksum: { algorithm: 'SHA256', type: 'FULL_OBJECT', value: digest.toString('base64') } };
    if (inPart > 0) parts.push(part.digest('base64'));
    return {
      sha256: digest.toString('hex'),
      s3Checksum: { algorithm: 'SHA256', type: 'COMPOSITE', value: compositeChecksum(parts), partSize, parts },
    };
  } finally {
    await handle.close();
  }
}
