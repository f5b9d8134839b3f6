import type { DatabaseBackup } from '../../../protocol';
import { ConnectorError } from '../errors';
import type { DatabaseState } from '../sql/database-server';

/** Whether a database can be backed up now, and what the run record should say about it. */
export interface Readiness {
  notes: string[];
  warnings: string[];
  tde?: DatabaseBackup['tde'];
}

/** AG synchronization states in which SQL Server backs up a secondary replica. */
const BACKUP_SYNC_STATES = ['SYNCHRONIZED', 'SYNCHRONIZING'];

/**
 * Decides from SQL Server's own view of a database (read before BACKUP) whether so-backup's
 * COPY_ONLY full backup can work, and says why not in words a customer can act on. Throws a
 * ConnectorError with a stable code for a database that cannot be backed up; otherwise returns
 * the notes and warnings for the run record.
 *
 * Sources: sys.databases (state_desc values) and "Offload supported backups to secondary
 * replicas of an availability group" (learn.microsoft.com/sql/database-engine/availability-groups/
 * windows/active-secondaries-backup-on-secondary-replicas-always-on-availability-groups): a
 * secondary takes only copy-only full backups — which is what so-backup takes — and only while
 * it can reach the primary and is SYNCHRONIZED or SYNCHRONIZING.
 */
export function assessDatabase(database: string, state: DatabaseState | undefined, server: string): Readiness {
  if (!state) {
    throw new ConnectorError(
      'SQL_DATABASE_MISSING',
      `database "${database}" does not exist on ${server}; check sql.databases in the connector configuration`,
      { permanent: true },
    );
  }
  const name = JSON.stringify(database);
  const ag = state.availabilityGroup;
  // A secondary replica's own synchronization state decides (below), however sys.databases shows it.
  const agSecondary = ag?.visible === true && ag.role === 'SECONDARY';
  switch (state.state) {
    case 'ONLINE':
      break;
    case 'RESTORING':
      if (agSecondary) break;
      throw new ConnectorError(
        'SQL_DATABASE_RESTORING',
        `database ${name} is RESTORING: it is waiting for more restores (RESTORE … WITH NORECOVERY, a log shipping or mirroring standby) and cannot be backed up. Back up the primary copy instead, or, if nothing more is to be restored, finish with RESTORE DATABASE ${bracket(database)} WITH RECOVERY.`,
        { permanent: true },
      );
    case 'OFFLINE':
    case 'OFFLINE_SECONDARY':
      throw new ConnectorError(
        'SQL_DATABASE_OFFLINE',
        `database ${name} is ${state.state}: SQL Server cannot back up an offline database. Bring it online (ALTER DATABASE ${bracket(database)} SET ONLINE), or remove it from sql.databases if it is retired.`,
        { permanent: true },
      );
    case 'RECOVERING':
      // Transient: SQL Server recovers databases after a restart; the next run backs it up.
      throw new ConnectorError(
        'SQL_DATABASE_RECOVERING',
        `database ${name} is still RECOVERING (SQL Server recovers databases after a restart): it cannot be backed up until recovery finishes; the next run will back it up. If it stays RECOVERING, see the SQL Server error log.`,
      );
    case 'RECOVERY_PENDING':
    case 'SUSPECT':
    case 'EMERGENCY':
      throw new ConnectorError(
        'SQL_DATABASE_SUSPECT',
        `database ${name} is ${state.state}: SQL Server could not recover it (damaged or missing data or log files), so it cannot be backed up. See the SQL Server error log, run DBCC CHECKDB, and restore it from the last good backup if needed (so-connector restore).`,
        { permanent: true },
      );
    default:
      throw new ConnectorError(
        'SQL_DATABASE_UNAVAILABLE',
        `database ${name} is ${state.state} and cannot be backed up; it must be ONLINE.`,
        { permanent: true },
      );
  }

  const readiness: Readiness = { notes: [], warnings: [] };
  if (ag?.visible) {
    if (ag.role === 'SECONDARY') {
      if (!BACKUP_SYNC_STATES.includes(ag.synchronizationState)) {
        throw new ConnectorError(
          'SQL_AG_SECONDARY',
          `database ${name} is a secondary replica of availability group "${ag.name}" and is ${ag.synchronizationState}: SQL Server backs up a secondary only while it is SYNCHRONIZED or SYNCHRONIZING. Resume data movement (ALTER DATABASE ${bracket(database)} SET HADR RESUME), or point the connector at the primary replica.`,
        );
      }
      readiness.notes.push(
        `secondary replica of availability group "${ag.name}" (${ag.synchronizationState}): a copy-only full backup, which SQL Server allows on a secondary`,
      );
    } else if (ag.role !== 'PRIMARY') {
      throw new ConnectorError(
        'SQL_AG_SECONDARY',
        `database ${name} belongs to availability group "${ag.name}", whose replica here is ${ag.role}: it cannot be backed up until the replica is PRIMARY or SECONDARY again.`,
      );
    }
    if (!ag.preferredForBackup)
      readiness.notes.push(
        `the backup preference of availability group "${ag.name}" names another replica (sys.fn_hadr_backup_is_preferred_replica = 0); so-backup backs up here anyway (copy-only, so no other backup chain is touched)`,
      );
  } else if (ag) {
    readiness.notes.push(`in an availability group, but its role could not be read: ${ag.reason}`);
  }

  if (state.readOnly) readiness.notes.push('READ_ONLY: backed up as it is');
  if (state.encrypted) encryptionNotes(state, readiness);
  return readiness;
}

/** TDE: backups work, but hold encrypted pages: a restore needs the certificate and its private key. */
function encryptionNotes(state: DatabaseState, readiness: Readiness): void {
  const tde = state.encryption;
  if (!tde?.visible) {
    readiness.warnings.push(
      `encrypted with Transparent Data Encryption; which certificate protects it could not be checked (${tde?.reason ?? 'unknown'}). A restore needs that certificate with its private key: make sure both are backed up.`,
    );
    return;
  }
  readiness.tde = {
    certificate: tde.certificate,
    thumbprint: tde.thumbprint,
    encryptorType: tde.encryptorType,
    privateKeyBackedUpAt: tde.privateKeyBackedUpAt,
  };
  if (tde.encryptorType && tde.encryptorType !== 'CERTIFICATE') {
    readiness.notes.push(
      `encrypted with Transparent Data Encryption by an ${tde.encryptorType.toLowerCase()} (thumbprint ${tde.thumbprint ?? 'unknown'}): a restore needs that key, e.g. in the same EKM provider`,
    );
    return;
  }
  const certificate = tde.certificate ? `"${tde.certificate}"` : `with thumbprint ${tde.thumbprint ?? 'unknown'}`;
  readiness.notes.push(
    `encrypted with Transparent Data Encryption (certificate ${certificate} in master): a restore on another server needs that certificate and its private key there first`,
  );
  if (!tde.certificate) {
    readiness.warnings.push(
      `the TDE certificate ${certificate} is not visible to this login, so whether its private key was backed up could not be checked; make sure it is (BACKUP CERTIFICATE … WITH PRIVATE KEY)`,
    );
  } else if (!tde.privateKeyBackedUpAt) {
    readiness.warnings.push(
      `the private key of TDE certificate ${certificate} has never been backed up (sys.certificates.pvt_key_last_backup_date is empty): without it this backup cannot be restored anywhere else. Run BACKUP CERTIFICATE ${bracket(tde.certificate)} TO FILE = '…' WITH PRIVATE KEY (FILE = '…', ENCRYPTION BY PASSWORD = '…') and keep the files and password apart from the backups.`,
    );
  }
}

/** The name as a T-SQL delimited identifier, for the advice text only (never executed). */
function bracket(name: string): string {
  return `[${name.replace(/]/g, ']]')}]`;
}
