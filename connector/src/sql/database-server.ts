/** What the backup domain needs from SQL Server. */
export interface ServerInfo {
  /** SERVERPROPERTY('EngineEdition'): 4 is Express (no compression, no SQL Agent). */
  engineEdition: number;
  edition: string;
  productVersion: string;
  serverName: string;
}

export interface BackupRequest {
  database: string;
  /** Path as SQL Server sees it: SQL Server, not the connector, writes this file. */
  file: string;
  compression: boolean;
  onProgress(percent: number): void;
  signal?: AbortSignal;
}

/** What SQL Server recorded about a backup (msdb.dbo.backupset: the RESTORE HEADERONLY facts, LSNs exact). */
export interface BackupMetadata {
  databaseName: string;
  serverName: string;
  /** LSNs are numeric(25,0): kept as strings, since JavaScript numbers lose digits. */
  firstLsn: string;
  lastLsn: string;
  startedAt: string;
  finishedAt: string;
  isCopyOnly: boolean;
  hasChecksums: boolean;
  compressed: boolean;
  backupSize: number;
  softwareVersion: string;
}

/** One file inside a backup (RESTORE FILELISTONLY). */
export interface BackupFile {
  logicalName: string;
  /** Where it was on the server the backup was taken on. */
  physicalName: string;
  /** D data, L log, F full-text catalog, S FILESTREAM. */
  type: string;
  size: number;
}

export interface RestoreRequest {
  /** The database to create (or, with `replace`, overwrite). */
  database: string;
  /** The .bak as SQL Server sees it. */
  file: string;
  /** Each logical file of the backup and the new path it is restored to. */
  moves: Array<{ logicalName: string; to: string }>;
  replace: boolean;
  onProgress(percent: number): void;
}

/**
 * What SQL Server says about a database before it is backed up: sys.databases (state, read-only,
 * TDE flag, availability group membership), and where the login may see them,
 * sys.dm_database_encryption_keys with master.sys.certificates (TDE) and
 * sys.dm_hadr_database_replica_states with sys.fn_hadr_backup_is_preferred_replica (AG role).
 */
export interface DatabaseState {
  /** The name as SQL Server stores it. */
  name: string;
  /** sys.databases.state_desc: ONLINE, RESTORING, RECOVERING, RECOVERY_PENDING, SUSPECT, EMERGENCY, OFFLINE, … */
  state: string;
  readOnly: boolean;
  /** sys.databases.user_access_desc: MULTI_USER, SINGLE_USER, RESTRICTED_USER. */
  userAccess: string;
  /** sys.databases.is_encrypted: Transparent Data Encryption is on. */
  encrypted: boolean;
  /** TDE details; `visible: false` when the login may not see them (VIEW SERVER STATE). */
  encryption?:
    | { visible: true; state: number; encryptorType?: string; certificate?: string; thumbprint?: string; privateKeyBackedUpAt?: string }
    | { visible: false; reason: string };
  /** Set when the database belongs to an availability group on this instance. */
  availabilityGroup?:
    | { visible: true; name: string; role: string; synchronizationState: string; preferredForBackup: boolean }
    | { visible: false; reason: string };
}

export interface DatabaseServer {
  describe(): Promise<ServerInfo>;
  databaseExists(database: string): Promise<boolean>;
  /** The database's state, encryption and availability group role; undefined when it does not exist. */
  databaseState(database: string): Promise<DatabaseState | undefined>;
  backupDatabase(request: BackupRequest): Promise<void>;
  /** RESTORE VERIFYONLY … WITH CHECKSUM; throws BACKUP_DAMAGED (3189) and the like. */
  verifyBackup(file: string): Promise<void>;
  backupMetadata(file: string): Promise<BackupMetadata>;
  /** The account the SQL Server service runs as (it, not the connector, writes the .bak). */
  serviceAccount(): Promise<string | undefined>;
  /** True when the login may back up the database (sysadmin, db_owner or db_backupoperator). */
  canBackUp(database: string): Promise<boolean>;
  /** Allocated size of the database's files in bytes: an upper bound for an uncompressed backup. */
  allocatedBytes(database: string): Promise<number>;
  /** RESTORE FILELISTONLY: the logical files a backup holds. */
  backupFiles(file: string): Promise<BackupFile[]>;
  /** Where the instance puts new data and log files (SERVERPROPERTY InstanceDefaultDataPath / LogPath). */
  defaultFolders(): Promise<{ data?: string; log?: string }>;
  /** RESTORE DATABASE … WITH MOVE …, CHECKSUM, STATS = 5 (and REPLACE only when asked). */
  restoreDatabase(request: RestoreRequest): Promise<void>;
  /** DBCC CHECKDB; throws DATABASE_CORRUPT with SQL Server's findings. */
  checkDatabase(database: string): Promise<void>;
  /** DROP DATABASE (for the restore drill's scratch database). */
  dropDatabase(database: string): Promise<void>;
  close(): Promise<void>;
}
