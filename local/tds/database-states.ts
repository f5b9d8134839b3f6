import type { SqlValue } from './tds-wire';

/**
 * A database on the SQL Server stand-in, with the state SQL Server would report for it and act
 * on: sys.databases (state, read-only, TDE flag, AG membership), sys.dm_database_encryption_keys
 * with master.sys.certificates, and the availability group DMVs; BACKUP then refuses an OFFLINE,
 * RESTORING, RECOVERING or SUSPECT database with SQL Server's own errors.
 */
export interface StandInDatabase {
  readonly name: string;
  readonly sizeBytes: number;
  /** sys.databases.state_desc. @default 'ONLINE' */
  readonly state?: 'ONLINE' | 'OFFLINE' | 'RESTORING' | 'RECOVERING' | 'RECOVERY_PENDING' | 'SUSPECT' | 'EMERGENCY';
  /** sys.databases.is_read_only. @default false */
  readonly readOnly?: boolean;
  /** Transparent Data Encryption by a certificate in master; `privateKeyBackedUpAt` is sys.certificates.pvt_key_last_backup_date (unset: never). */
  readonly tde?: { readonly certificate: string; readonly thumbprint?: string; readonly privateKeyBackedUpAt?: string };
  /** Membership of an availability group, and this replica's role in it. */
  readonly availabilityGroup?: {
    readonly name: string;
    readonly role: 'PRIMARY' | 'SECONDARY' | 'RESOLVING';
    readonly synchronizationState: 'SYNCHRONIZED' | 'SYNCHRONIZING' | 'NOT SYNCHRONIZING' | 'REVERTING' | 'INITIALIZING';
    /** sys.fn_hadr_backup_is_preferred_replica. @default true */
    readonly preferredForBackup?: boolean;
  };
}

/** Database names as SQL Server's default collations (…_CI_AS) compare them: ignoring case. */
export function sameDatabaseName(a: string, b: unknown): boolean {
  return typeof b === 'string' && a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0;
}

export interface StateAnswer {
  columns?: string[];
  rows?: SqlValue[][];
  /** SQL Server's error instead of rows. */
  error?: { number: number; severity: number; text: string };
}

const VIEW_SERVER_STATE_DENIED = {
  number: 300,
  severity: 14,
  text: "VIEW SERVER STATE permission was denied on object 'server', database 'master'.",
};

/**
 * Answers the state queries so-backup sends before a backup (see MssqlDatabaseServer.databaseState),
 * or undefined when the statement is not one of them. The DMV queries need VIEW SERVER STATE.
 */
export function answerStateQuery(
  text: string,
  parameters: Map<string, SqlValue>,
  databases: readonly StandInDatabase[],
  viewServerState: boolean,
): StateAnswer | undefined {
  const db = databases.find((d) => sameDatabaseName(d.name, parameters.get('name')));
  if (/^SELECT name, state_desc AS state, .* FROM sys\.databases WHERE name = @name$/i.test(text)) {
    return {
      columns: ['name', 'state', 'readOnly', 'userAccess', 'encrypted', 'inAvailabilityGroup'],
      rows: db ? [[db.name, db.state ?? 'ONLINE', db.readOnly ? 1 : 0, 'MULTI_USER', db.tde ? 1 : 0, db.availabilityGroup ? 1 : 0]] : [],
    };
  }
  if (
    /FROM sys\.dm_database_encryption_keys k LEFT JOIN master\.sys\.certificates c ON c\.thumbprint = k\.encryptor_thumbprint WHERE k\.database_id = DB_ID\(@name\)$/i.test(
      text,
    )
  ) {
    if (!viewServerState) return { error: VIEW_SERVER_STATE_DENIED };
    const tde = db?.tde;
    return {
      columns: ['state', 'encryptorType', 'thumbprint', 'certificate', 'privateKeyBackedUpAt'],
      rows: tde
        ? [
            [
              3,
              'CERTIFICATE',
              tde.thumbprint ?? '5F4D5C3B2A1908F7E6D5C4B3A29180706F5E4D3C',
              tde.certificate,
              tde.privateKeyBackedUpAt ?? null,
            ],
          ]
        : [],
    };
  }
  if (/FROM sys\.dm_hadr_database_replica_states drs .* WHERE drs\.database_id = DB_ID\(@name\) AND drs\.is_local = 1$/i.test(text)) {
    if (!viewServerState) return { error: VIEW_SERVER_STATE_DENIED };
    const ag = db?.availabilityGroup;
    return {
      columns: ['availabilityGroup', 'role', 'synchronizationState', 'preferred'],
      rows: ag ? [[ag.name, ag.role, ag.synchronizationState, ag.preferredForBackup === false ? 0 : 1]] : [],
    };
  }
  return undefined;
}

/**
 * The errors SQL Server raises when BACKUP DATABASE meets a database in this state (before
 * 3013), or undefined when it backs it up. A secondary replica is backed up (copy-only) only
 * while SYNCHRONIZED or SYNCHRONIZING.
 */
export function backupRefusal(db: StandInDatabase): Array<{ number: number; text: string }> | undefined {
  const ag = db.availabilityGroup;
  if (ag?.role === 'SECONDARY' && !['SYNCHRONIZED', 'SYNCHRONIZING'].includes(ag.synchronizationState)) {
    return [
      {
        number: 976,
        text: `The target database, '${db.name}', is participating in an availability group and is currently not accessible for queries. Either data movement is suspended or the availability replica is not enabled for read access.`,
      },
    ];
  }
  switch (db.state ?? 'ONLINE') {
    case 'OFFLINE':
      return [{ number: 942, text: `Database '${db.name}' cannot be opened because it is offline.` }];
    case 'RESTORING':
      return ag?.role === 'SECONDARY'
        ? undefined
        : [{ number: 927, text: `Database '${db.name}' cannot be opened. It is in the middle of a restore.` }];
    case 'RECOVERING':
      return [{ number: 922, text: `Database '${db.name}' is being recovered. Waiting until recovery is finished.` }];
    case 'RECOVERY_PENDING':
    case 'SUSPECT':
    case 'EMERGENCY':
      return [
        {
          number: 926,
          text: `Database '${db.name}' cannot be opened. It has been marked SUSPECT by recovery. See the SQL Server errorlog for more information.`,
        },
      ];
    default:
      return undefined;
  }
}
