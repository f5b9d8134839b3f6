import { createHash } from 'node:crypto';
import { isUtf8 } from './archive-path';

/**
 * The S3 key layout, prefix first so that one lifecycle rule per prefix serves every tenant:
 *   incoming/<tenant>/<run>/db/<database>.bak      where a run's connector uploads (staging; expires by age)
 *   incoming/<tenant>/<run>/manifest.json           …its manifest and
 *   incoming/<tenant>/<run>/snapshot.json.gz        …its archive snapshot
 *   db/<tier>/<tenant>/<database>.bak               one key per database; each validated backup is a new version
 *   manifests/<tier>/<tenant>/manifest.json         one key per tenant; each validated run's manifest is a new version
 *   manifests/<tier>/<tenant>/snapshot.json.gz      the same for the run's archive snapshot
 *   archive/<tenant>/<root>/<relative path>         one key per file; each change is a new version
 *   archive/<tenant>/<root>/%hash/<SHA-256>         a file whose path has no plain key (see archiveFile)
 * The connector writes only its run's staging prefix and the archive. Finalize promotes what the
 * validator passed into the daily tier with server-side copies (and on into weekly and monthly),
 * so keep-last-N retention on the tier keys counts validated backups only: an upload that failed
 * validation, or an orphan of a crashed job, stays in staging and expires there. Tier keys never
 * depend on the run, and a tier's manifests expire by the same count as its database backups.
 */
export const RETENTION_TIERS = ['daily', 'weekly', 'monthly'] as const;
export type RetentionTier = (typeof RETENTION_TIERS)[number];

export const keyLayout = {
  databaseBackup: (tenantId: string, database: string, tier: RetentionTier = 'daily') =>
    `db/${tier}/${tenantId}/${databaseKeySegment(database)}.bak`,
  /**
   * One archive file's key, from its exact path below the root ("/"-separated bytes, see
   * archive-path.ts; a string is taken as its UTF-8). The plain key is the path itself, exactly
   * as named (never normalized), with control characters and "%" escaped as %XX. A path with no
   * plain key gets a derived key, `<root>/%hash/<SHA-256 of the path bytes, hex>`, and the
   * snapshot keeps the true path: a plain key over S3's 1,024 bytes, a path that is not valid
   * UTF-8 (S3 keys are UTF-8), or one holding U+FFFE/U+FFFF (not XML characters, so S3's XML
   * listings could not return the key). No plain key can collide with a derived one: "%" in a
   * name is escaped, so no plain segment is "%hash".
   * @throws Error for an empty, "." or ".." segment, or a string with an unpaired surrogate (give its bytes).
   */
  archiveFile: (tenantId: string, root: string, relativePath: string | Uint8Array) => archiveFileKey(tenantId, root, relativePath),
  /** Where all of a tenant's archive files live. */
  archive: (tenantId: string) => `archive/${tenantId}/`,
  /** Where one archive root's files live (for listing them). */
  archiveRoot: (tenantId: string, root: string) => `archive/${tenantId}/${encodeKeySegment(root)}/`,
  manifest: (tenantId: string, tier: RetentionTier = 'daily') => `manifests/${tier}/${tenantId}/manifest.json`,
  snapshot: (tenantId: string, tier: RetentionTier = 'daily') => `manifests/${tier}/${tenantId}/snapshot.json.gz`,
  /** Where a tenant's manifests and snapshots of one tier live. */
  manifests: (tenantId: string, tier: RetentionTier = 'daily') => `manifests/${tier}/${tenantId}/`,
  /** One run's staging prefix: everything its connector uploads except archive files. */
  staging: (tenantId: string, runId: string) => `${STAGING_PREFIX}${tenantId}/${encodeKeySegment(runId)}/`,
  stagedDatabaseBackup: (tenantId: string, runId: string, database: string) =>
    `${keyLayout.staging(tenantId, runId)}db/${databaseKeySegment(database)}.bak`,
  stagedManifest: (tenantId: string, runId: string) => `${keyLayout.staging(tenantId, runId)}manifest.json`,
  stagedSnapshot: (tenantId: string, runId: string) => `${keyLayout.staging(tenantId, runId)}snapshot.json.gz`,
  /**
   * What a connector reads back of its own uploads: archive versions (copied inside S3 when a
   * file is renamed) and its snapshots (to rebuild a lost index).
   */
  tenantReadPrefixes: (tenantId: string): string[] => [`archive/${tenantId}/`, `manifests/daily/${tenantId}/`],
  /** What a restore reads: every tier's backups and manifests, and the archive. */
  tenantRestorePrefixes: (tenantId: string): string[] => [
    ...RETENTION_TIERS.flatMap((tier) => [`db/${tier}/${tenantId}/`, `manifests/${tier}/${tenantId}/`]),
    `archive/${tenantId}/`,
  ],
} as const;

/** Where every run's uploads are staged until finalize promotes what validated. */
export const STAGING_PREFIX = 'incoming/';

/** True when the key lies under the tenant's archive prefix (the only tenant prefix outside a run). */
export function isTenantArchiveKey(tenantId: string, key: string): boolean {
  return key.startsWith(`archive/${tenantId}/`) && !key.split('/').includes('..');
}

/**
 * A database name (any sysname: digits first, quotes, spaces, brackets, any script) as one key
 * segment with ".bak" after it: exactly the name, not normalized (two names SQL Server tells
 * apart never share a key), with control characters, "%" and "/" escaped as %XX.
 */
function databaseKeySegment(database: string): string {
  if (database === '') throw new Error('invalid key segment: empty database name');
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
  return database.replace(/[\u0000-\u001f\u007f%/]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** S3's limit on a key: 1,024 bytes of UTF-8 (docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html). */
export const MAX_KEY_BYTES = 1024;
/** The folder below an archive root that holds derived keys (keyLayout.archiveFile). */
export const DERIVED_KEY_FOLDER = '%hash';

/** The last root prefix made: a run asks for the keys of one tenant's roots thousands of times. */
let lastPrefix = { tenantId: '', root: '', prefix: '' };

function archiveFileKey(tenantId: string, root: string, relativePath: string | Uint8Array): string {
  if (lastPrefix.tenantId !== tenantId || lastPrefix.root !== root)
    lastPrefix = { tenantId, root, prefix: `archive/${tenantId}/${encodeKeySegment(root)}/` };
  const prefix = lastPrefix.prefix;
  let text: string | undefined;
  let bytes: Buffer | undefined;
  if (typeof relativePath === 'string') {
    // A well-formed string's UTF-8 is valid UTF-8: no decoding needed (the common case, fast).
    if (/[\uD800-\uDFFF]/.test(relativePath) && /\p{Cs}/u.test(relativePath))
      throw new Error('an archive path with an unpaired surrogate has no UTF-8 form: give its exact bytes');
    const bad = /(?:^|\/)(\.{0,2})(?:\/|$)/.exec(relativePath);
    if (bad) throw new Error(`invalid key segment "${bad[1]}" in an archive path`);
    text = relativePath;
  } else {
    bytes = Buffer.from(relativePath.buffer, relativePath.byteOffset, relativePath.byteLength);
    for (let start = 0; ; ) {
      const end = bytes.indexOf(0x2f, start);
      const segment = bytes.subarray(start, end < 0 ? bytes.length : end);
      if (segment.length === 0 || (segment[0] === 0x2e && (segment.length === 1 || (segment.length === 2 && segment[1] === 0x2e)))) {
        throw new Error(`invalid key segment "${segment.toString('utf8')}" in an archive path`);
      }
      if (end < 0) break;
      start = end + 1;
    }
    if (isUtf8(bytes)) text = bytes.toString('utf8');
  }
  if (text !== undefined && !/[\uFFFE\uFFFF]/.test(text)) {
    // eslint-disable-next-line no-control-regex
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
    const key = prefix + text.replace(/[\u0000-\u001f\u007f%]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    if (Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES) return key;
  }
  return `${prefix}${DERIVED_KEY_FOLDER}/${createHash('sha256')
    .update(bytes ?? Buffer.from(text!, 'utf8'))
    .digest('hex')}`;
}

/** Keeps a path segment safe in a key: no empty, "." or ".." segments, no control characters. */
function encodeKeySegment(segment: string): string {
  if (segment === '' || segment === '.' || segment === '..') throw new Error(`invalid key segment "${segment}"`);
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
  return segment.normalize('NFC').replace(/[\u0000-\u001f\u007f%]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
