import { gunzipSync } from 'node:zlib';
import type { z } from 'zod';
import { type ArchiveSnapshot, archiveSnapshotSchema, type Manifest, manifestSchema } from './manifest';

/**
 * The one decoder of each document a run stores in S3 (docs/architecture.md): the manifest (UTF-8
 * JSON, manifestSchema) and the archive snapshot (gzip JSON, possibly several concatenated gzip
 * members as RFC 1952 allows, archiveSnapshotSchema). Every reader — the connector's restore and
 * archive rebuild, the validator, finalize, the operator CLI, local mode — goes through these.
 */

/** Why stored bytes are not the document: not gzip (snapshots), not JSON, or JSON that breaks the schema (`error` is then a ZodError). */
export type DecodeFailure =
  | { success: false; stage: 'gzip' | 'json'; error: Error }
  | { success: false; stage: 'schema'; error: z.ZodError };
export type Decoded<T> = { success: true; data: T } | DecodeFailure;

/** A stored manifest, checked, without throwing: the stage at which it failed and why. */
export function decodeManifest(bytes: Uint8Array | string): Decoded<Manifest> {
  return decodeJson(bytes, manifestSchema);
}

/** A stored snapshot (gzip JSON), checked, without throwing: the stage at which it failed and why. */
export function decodeSnapshot(gzipped: Uint8Array): Decoded<ArchiveSnapshot> {
  let text: string;
  try {
    text = gunzipSync(gzipped).toString('utf8');
  } catch (error) {
    return { success: false, stage: 'gzip', error: error as Error };
  }
  return decodeJson(text, archiveSnapshotSchema);
}

/**
 * A stored manifest, checked. Throws the JSON SyntaxError or the ZodError (schema) as they are, so
 * a caller's message stays the parser's.
 */
export function parseManifest(bytes: Uint8Array | string): Manifest {
  return orThrow(decodeManifest(bytes));
}

/** A stored snapshot, checked. Throws zlib's error (not gzip), the JSON SyntaxError or the ZodError. */
export function parseSnapshot(gzipped: Uint8Array): ArchiveSnapshot {
  return orThrow(decodeSnapshot(gzipped));
}

function decodeJson<T>(bytes: Uint8Array | string, schema: z.ZodType<T>): Decoded<T> {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    return { success: false, stage: 'json', error: error as Error };
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, stage: 'schema', error: parsed.error };
}

function orThrow<T>(decoded: Decoded<T>): T {
  if (!decoded.success) throw decoded.error;
  return decoded.data;
}
