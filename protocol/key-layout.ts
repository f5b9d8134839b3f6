/**
 * The S3 key layout, prefix first so that one lifecycle rule per tier serves every tenant:
 *   db/<tier>/<tenant>/<database>.bak              one key per database; each backup is a new version
 *   archive/<tenant>/<root>/<relative path>        one key per file; each change is a new version
 *   manifests/<tier>/<tenant>/manifest.json        one key per tenant; each run's manifest is a new version
 *   manifests/<tier>/<tenant>/snapshot.json.gz     the same for the run's archive snapshot
 * Keys never depend on the run, so keep-last-N retention works on noncurrent versions, and a
 * tier's manifests expire by the same count as its database backups. The connector writes the
 * daily tier; weekly and monthly versions are server-side copies of validated daily ones.
 */
export const RETENTION_TIERS = ['daily', 'weekly', 'monthly'] as const;
export type RetentionTier = (typeof RETENTION_TIERS)[number];

export const keyLayout = {
  databaseBackup: (tenantId: string, database: string, tier: RetentionTier = 'daily') =>
    `db/${tier}/${tenantId}/${encodeKeySegment(database)}.bak`,
  archiveFile: (tenantId: string, root: string, relativePath: string) =>
    `archive/${tenantId}/${encodeKeySegment(root)}/${relativePath.split('/').map(encodeKeySegment).join('/')}`,
  /** Where all of a tenant's archive files live. */
  archive: (tenantId: string) => `archive/${tenantId}/`,
  /** Where one archive root's files live (for listing them). */
  archiveRoot: (tenantId: string, root: string) => `archive/${tenantId}/${encodeKeySegment(root)}/`,
  manifest: (tenantId: string, tier: RetentionTier = 'daily') => `manifests/${tier}/${tenantId}/manifest.json`,
  snapshot: (tenantId: string, tier: RetentionTier = 'daily') => `manifests/${tier}/${tenantId}/snapshot.json.gz`,
  /** Where a tenant's manifests and snapshots of one tier live. */
  manifests: (tenantId: string, tier: RetentionTier = 'daily') => `manifests/${tier}/${tenantId}/`,
  /** Every prefix a tenant's connector may write; each ends in "/" and has no wildcard inside. */
  tenantPrefixes: (tenantId: string): string[] => [`db/daily/${tenantId}/`, `archive/${tenantId}/`, `manifests/daily/${tenantId}/`],
  /**
   * What a connector reads back of its own uploads: archive versions (copied inside S3 when a
   * file is renamed) and its snapshots (to rebuild a lost index).
   */
  tenantReadPrefixes: (tenantId: string): string[] => [`archive/${tenantId}/`, `manifests/daily/${tenantId}/`],
  /** What a restore reads: every tier's backups and manifests, and the archive. */
  tenantRestorePrefixes: (tenantId: string): string[] => [
    ...RETENTION_TIERS.flatMap((tier) => [`db/${tier}/${tenantId}/`, `manifests/${tier}/${tenantId}/`]), `archive/${tenantId}/`,
  ],
} as const;

/** True when the key lies under one of the tenant's own prefixes. */
export function isTenantKey(tenantId: string, key: string): boolean {
  return keyLayout.tenantPrefixes(tenantId).some((prefix) => key.startsWith(prefix)) && !key.split('/').includes('..');
}

/** Keeps a path segment safe in a key: no empty, "." or ".." segments, no control characters. */
function encodeKeySegment(segment: string): string {
  if (segment === '' || segment === '.' || segment === '..') throw new Error(`invalid key segment "${segment}"`);
  // eslint-disable-next-line no-control-regex
  return segment.normalize('NFC').replace(/[\u0000-\u001f\u007f%]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}
