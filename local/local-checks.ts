import { databaseNameProblem } from '../connector/src/sql/database-name';
import type { ConnectorKey } from '../core';
import type { StandInDatabase } from './tds/database-states';

/** The state the stand-in reports for a database: what `--database-state NAME=STATE` can set. */
export type StandInState = Omit<StandInDatabase, 'name' | 'sizeBytes'>;

/**
 * The states `--database-state` takes, each as SQL Server would report it (sys.databases,
 * sys.dm_database_encryption_keys with master.sys.certificates, the availability group DMVs).
 */
export const DATABASE_STATES: Record<string, { state: StandInState; meaning: string }> = {
  ONLINE: { state: {}, meaning: 'online (the default)' },
  OFFLINE: { state: { state: 'OFFLINE' }, meaning: 'state_desc OFFLINE: not backed up' },
  RESTORING: { state: { state: 'RESTORING' }, meaning: 'state_desc RESTORING: not backed up' },
  RECOVERING: { state: { state: 'RECOVERING' }, meaning: 'state_desc RECOVERING: not backed up now' },
  RECOVERY_PENDING: { state: { state: 'RECOVERY_PENDING' }, meaning: 'state_desc RECOVERY_PENDING: not backed up' },
  SUSPECT: { state: { state: 'SUSPECT' }, meaning: 'state_desc SUSPECT: not backed up' },
  EMERGENCY: { state: { state: 'EMERGENCY' }, meaning: 'state_desc EMERGENCY: not backed up' },
  READ_ONLY: { state: { readOnly: true }, meaning: 'is_read_only: backed up, with a note' },
  TDE: {
    state: { tde: { certificate: 'TDECert' } },
    meaning: 'encrypted by TDE certificate "TDECert" whose private key was never backed up: backed up, action needed',
  },
  TDE_KEY_BACKED_UP: {
    state: { tde: { certificate: 'TDECert', privateKeyBackedUpAt: '2026-01-01T00:00:00.000Z' } },
    meaning: 'encrypted by TDE, certificate and key backed up',
  },
  AG_SECONDARY: {
    state: { availabilityGroup: { name: 'AG1', role: 'SECONDARY', synchronizationState: 'SYNCHRONIZED' } },
    meaning: 'a synchronized availability group secondary: backed up (copy-only)',
  },
  AG_NOT_SYNCHRONIZING: {
    state: { availabilityGroup: { name: 'AG1', role: 'SECONDARY', synchronizationState: 'NOT SYNCHRONIZING' } },
    meaning: 'an availability group secondary not synchronizing: not backed up',
  },
};

/**
 * `--database-state NAME=STATE …` as stand-in states by database name. Throws an Error naming the
 * value that is wrong and what is accepted: a NAME that is not one of the databases backed up
 * (compared ignoring case, as SQL Server does by default), a STATE not in DATABASE_STATES, or one
 * database given twice. Names may hold "="; the last one separates the state.
 */
export function parseDatabaseStates(values: readonly string[], databases: readonly string[]): Record<string, StandInState> {
  const states: Record<string, StandInState> = {};
  for (const value of values) {
    const at = value.lastIndexOf('=');
    const name = at > 0 ? value.slice(0, at) : '';
    const stateName = at > 0 ? value.slice(at + 1).toUpperCase() : '';
    if (!name || !stateName) throw new Error(`--database-state ${JSON.stringify(value)}: expected NAME=STATE, e.g. 2two=OFFLINE`);
    const known = DATABASE_STATES[stateName];
    if (!known)
      throw new Error(
        `--database-state ${JSON.stringify(value)}: unknown state "${stateName}"; one of ${Object.keys(DATABASE_STATES).join(', ')}`,
      );
    const database = databases.find((d) => d.localeCompare(name, undefined, { sensitivity: 'accent' }) === 0);
    if (database === undefined)
      throw new Error(
        `--database-state ${JSON.stringify(value)}: "${name}" is not one of the databases backed up (${databases.map((d) => JSON.stringify(d)).join(', ')}); add it with --database`,
      );
    if (database in states) throw new Error(`--database-state: database ${JSON.stringify(database)} is given two states`);
    states[database] = known.state;
  }
  return states;
}

/**
 * Why the database names cannot be backed up (the connector's own rule, connector/src/sql/
 * database-name.ts: a control character, too long …, or one name twice ignoring case), or
 * undefined. Checked before local mode starts anything, instead of a connector that never becomes
 * ready.
 */
export function databaseNamesProblem(databases: readonly string[]): string | undefined {
  if (databases.length === 0) return '--database needs at least one database name';
  for (const name of databases) {
    const problem = databaseNameProblem(name);
    if (problem) return `--database ${JSON.stringify(name)}: the database name ${problem}`;
  }
  const seen = new Set<string>();
  for (const name of databases) {
    const key = name.toLowerCase();
    if (seen.has(key)) return `--database ${JSON.stringify(name)} is given twice (SQL Server compares names ignoring case by default)`;
    seen.add(key);
  }
  return undefined;
}

/**
 * Why the enrolled connector's key cannot connect to the local tenant (revoked with `so-backup
 * tenants revoke-key`, replaced by a re-enrolment, or the tenant was recreated), with what to do;
 * undefined when its key (or its registered pending key) is one the tenant holds.
 */
export function connectorKeyProblem(
  identity: { current: { keyId: string }; pending?: { keyId: string; registered: boolean } },
  keys: readonly ConnectorKey[],
  dataDir: string,
  identityFile: string,
): string | undefined {
  const usable = [identity.current.keyId, ...(identity.pending?.registered ? [identity.pending.keyId] : [])];
  if (keys.some((k) => usable.includes(k.keyId))) return undefined;
  return (
    `the connector's key ${identity.current.keyId} is not one of the local tenant's keys (revoked, or replaced by another enrolment), so it cannot connect. ` +
    `Enrol it again by removing ${identityFile} and running local mode again (the next run enrols with a new one-time code), or start over with --fresh --data ${dataDir}`
  );
}
