import type { Artifact, DatabaseBackup } from '../../protocol';

/**
 * A manifest's entry for a verified copy-only, checksummed, uncompressed full backup of `database`
 * (SQL Server 2022 Standard on SQL01, LSNs 1–2) uploaded as `artifact`, started and finished at `at`
 * (ISO 8601); `more` replaces fields.
 */
export function databaseBackup(database: string, artifact: Artifact, at: string, more: Partial<DatabaseBackup> = {}): DatabaseBackup {
  return {
    database,
    artifact,
    startedAt: at,
    finishedAt: at,
    copyOnly: true,
    checksums: true,
    compressed: false,
    edition: 'Standard',
    serverVersion: '16',
    header: { serverName: 'SQL01', firstLsn: '1', lastLsn: '2', backupSize: artifact.size, verified: true },
    ...more,
  };
}
