import sql from 'mssql';
import { ConnectorError } from '../errors';
import type {
  BackupFile,
  BackupMetadata,
  BackupRequest,
  DatabaseServer,
  DatabaseState,
  RestoreRequest,
  ServerInfo,
} from './database-server';
import { checkDatabaseName } from './database-name';

/** DatabaseServer over `mssql`, from an ADO-style connection string. */
export class MssqlDatabaseServer implements DatabaseServer {
  private pool?: sql.ConnectionPool;

  constructor(private readonly connectionString: string) {}

  private async connect(): Promise<sql.ConnectionPool> {
    if (this.pool?.connected) return this.pool;
    const config = sql.ConnectionPool.parseConnectionString(this.connectionString);
    // BACKUP can be silent for a long time before its first progress message: never time it out.
    config.requestTimeout = 0;
    config.pool = { max: 2, min: 0, idleTimeoutMillis: 30_000 };
    try {
      this.pool = await new sql.ConnectionPool(config).connect();
      return this.pool;
    } catch (error) {
      throw explainSqlError(error, 'connecting to SQL Server');
    }
  }

  async describe(): Promise<ServerInfo> {
    const pool = await this.connect();
    const result = await pool
      .request()
      .query<ServerInfo>(
        "SELECT CAST(SERVERPROPERTY('EngineEdition') AS int) AS engineEdition, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, " +
          "CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS productVersion, CAST(SERVERPROPERTY('ServerName') AS nvarchar(128)) AS serverName",
      )
      .catch((error: unknown) => {
        throw explainSqlError(error, 'reading the server edition');
      });
    const row = result.recordset[0];
    if (!row) throw new ConnectorError('SQL_UNEXPECTED', 'SQL Server returned no row for SERVERPROPERTY');
    return { ...row, engineEdition: Number(row.engineEdition) };
  }

  async databaseExists(database: string): Promise<boolean> {
    checkDatabaseName(database);
    const pool = await this.connect();
    const result = await pool
      .request()
      .input('name', sql.NVarChar(128), database)
      .query('SELECT name FROM sys.databases WHERE name = @name')
      .catch((error: unknown) => {
        throw explainSqlError(error, `looking up database "${database}"`);
      });
    return result.recordset.length === 1;
  }

  async databaseState(database: string): Promise<DatabaseState | undefined> {
    checkDatabaseName(database);
    const pool = await this.connect();
    const query = <T>(text: string, doing: string) =>
      pool
        .request()
        .input('name', sql.NVarChar(128), database)
        .query<T>(text)
        .catch((error: unknown) => {
          throw explainSqlError(error, doing);
        });
    const base = (
      await query<{ name: string; state: string; readOnly: number; userAccess: string; encrypted: number; inAvailabilityGroup: number }>(
        'SELECT name, state_desc AS state, CAST(is_read_only AS int) AS readOnly, user_access_desc AS userAccess, CAST(is_encrypted AS int) AS encrypted, ' +
          'CAST(CASE WHEN replica_id IS NULL THEN 0 ELSE 1 END AS int) AS inAvailabilityGroup FROM sys.databases WHERE name = @name',
        `reading the state of database "${database}"`,
      )
    ).recordset[0];
    if (!base) return undefined;
    const state: DatabaseState = {
      name: base.name,
      state: base.state,
      readOnly: Number(base.readOnly) === 1,
      userAccess: base.userAccess,
      encrypted: Number(base.encrypted) === 1,
    };
    if (state.encrypted) {
      state.encryption = await query<{
        state: number;
        encryptorType: string | null;
        thumbprint: string | null;
        certificate: string | null;
        privateKeyBackedUpAt: string | null;
      }>(
        'SELECT CAST(k.encryption_state AS int) AS state, k.encryptor_type AS encryptorType, CONVERT(varchar(64), k.encryptor_thumbprint, 2) AS thumbprint, c.name AS certificate, ' +
          'CONVERT(varchar(33), c.pvt_key_last_backup_date, 126) AS privateKeyBackedUpAt FROM sys.dm_database_encryption_keys k ' +
          'LEFT JOIN master.sys.certificates c ON c.thumbprint = k.encryptor_thumbprint WHERE k.database_id = DB_ID(@name)',
        `reading the encryption of database "${database}"`,
      ).then(
        ({ recordset: [row] }) =>
          row
            ? {
                visible: true as const,
                state: Number(row.state),
                encryptorType: row.encryptorType ?? undefined,
                thumbprint: row.thumbprint ?? undefined,
                certificate: row.certificate ?? undefined,
                privateKeyBackedUpAt: row.privateKeyBackedUpAt ? new Date(row.privateKeyBackedUpAt).toISOString() : undefined,
              }
            : { visible: false as const, reason: 'sys.dm_database_encryption_keys shows no key for it to this login' },
        notVisible,
      );
    }
    if (Number(base.inAvailabilityGroup) === 1) {
      state.availabilityGroup = await query<{
        availabilityGroup: string;
        role: string | null;
        synchronizationState: string | null;
        preferred: number;
      }>(
        'SELECT ag.name AS availabilityGroup, ars.role_desc AS role, drs.synchronization_state_desc AS synchronizationState, CAST(sys.fn_hadr_backup_is_preferred_replica(@name) AS int) AS preferred ' +
          'FROM sys.dm_hadr_database_replica_states drs JOIN sys.dm_hadr_availability_replica_states ars ON ars.replica_id = drs.replica_id ' +
          'JOIN sys.availability_groups ag ON ag.group_id = drs.group_id WHERE drs.database_id = DB_ID(@name) AND drs.is_local = 1',
        `reading the availability group role of database "${database}"`,
      ).then(
        ({ recordset: [row] }) =>
          row
            ? {
                visible: true as const,
                name: row.availabilityGroup,
                role: row.role ?? 'RESOLVING',
                synchronizationState: row.synchronizationState ?? 'NOT SYNCHRONIZING',
                preferredForBackup: Number(row.preferred) === 1,
              }
            : { visible: false as const, reason: 'sys.dm_hadr_database_replica_states shows no local replica to this login' },
        notVisible,
      );
    }
    return state;
  }

  async verifyBackup(file: string): Promise<void> {
    const pool = await this.connect();
    await pool
      .request()
      .input('file', sql.NVarChar(4000), file)
      .query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM')
      .catch((error: unknown) => {
        throw explainSqlError(error, `verifying the backup ${file}`);
      });
  }

  async backupMetadata(file: string): Promise<BackupMetadata> {
    const pool = await this.connect();
    const result = await pool
      .request()
      .input('file', sql.NVarChar(4000), file)
      .query<Record<string, unknown>>(
        'SELECT TOP 1 bs.database_name AS databaseName, bs.server_name AS serverName, CAST(bs.first_lsn AS varchar(30)) AS firstLsn, ' +
          'CAST(bs.last_lsn AS varchar(30)) AS lastLsn, CONVERT(varchar(33), bs.backup_start_date, 126) AS startedAt, CONVERT(varchar(33), bs.backup_finish_date, 126) AS finishedAt, ' +
          'CAST(bs.is_copy_only AS int) AS isCopyOnly, CAST(bs.has_backup_checksums AS int) AS hasChecksums, CAST(CASE WHEN bs.compressed_backup_size < bs.backup_size THEN 1 ELSE 0 END AS int) AS compressed, ' +
          "CAST(bs.backup_size AS bigint) AS backupSize, CONCAT(bs.software_major_version, '.', bs.software_minor_version, '.', bs.software_build_version) AS softwareVersion " +
          'FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @file ORDER BY bs.backup_set_id DESC',
      )
      .catch((error: unknown) => {
        throw explainSqlError(error, `reading the backup history of ${file}`);
      });
    const row = result.recordset[0];
    if (!row)
      throw new ConnectorError(
        'SQL_BACKUP_HISTORY_MISSING',
        `SQL Server has no backup history for ${file}; was msdb cleaned while the backup ran?`,
      );
    return {
      databaseName: String(row.databaseName),
      serverName: String(row.serverName),
      firstLsn: String(row.firstLsn),
      lastLsn: String(row.lastLsn),
      startedAt: new Date(String(row.startedAt)).toISOString(),
      finishedAt: new Date(String(row.finishedAt)).toISOString(),
      isCopyOnly: Number(row.isCopyOnly) === 1,
      hasChecksums: Number(row.hasChecksums) === 1,
      compressed: Number(row.compressed) === 1,
      backupSize: Number(row.backupSize),
      softwareVersion: String(row.softwareVersion),
    };
  }

  async serviceAccount(): Promise<string | undefined> {
    try {
      const pool = await this.connect();
      const result = await pool
        .request()
        .query<{ account: string }>("SELECT service_account AS account FROM sys.dm_server_services WHERE servicename LIKE 'SQL Server (%'");
      return result.recordset[0]?.account;
    } catch {
      return undefined; // needs VIEW SERVER STATE; the explanation then names no account
    }
  }

  async canBackUp(database: string): Promise<boolean> {
    checkDatabaseName(database);
    const pool = await this.connect();
    const result = await pool
      .request()
      .input('database', sql.NVarChar(128), database)
      .query<{ canBackup: number | null }>("SELECT CAST(HAS_PERMS_BY_NAME(@database, 'DATABASE', 'BACKUP DATABASE') AS int) AS canBackup")
      .catch((error: unknown) => {
        throw explainSqlError(error, `checking BACKUP permission on "${database}"`);
      });
    return Number(result.recordset[0]?.canBackup) === 1;
  }

  async allocatedBytes(database: string): Promise<number> {
    checkDatabaseName(database);
    const pool = await this.connect();
    const result = await pool
      .request()
      .input('database', sql.NVarChar(128), database)
      .query<{ bytes: number | string | null }>(
        'SELECT CAST(SUM(CAST(size AS bigint)) * 8192 AS bigint) AS bytes FROM sys.master_files WHERE database_id = DB_ID(@database)',
      )
      .catch((error: unknown) => {
        throw explainSqlError(error, `reading the size of "${database}"`);
      });
    return Number(result.recordset[0]?.bytes ?? 0);
  }

  async backupDatabase(request: BackupRequest): Promise<void> {
    checkDatabaseName(request.database);
    const pool = await this.connect();
    const options = ['COPY_ONLY', 'CHECKSUM', 'INIT', 'FORMAT', 'STATS = 5', ...(request.compression ? ['COMPRESSION'] : [])];
    const statement = pool.request();
    statement.input('database', sql.NVarChar(128), request.database);
    statement.input('file', sql.NVarChar(4000), request.file);
    statement.on('info', (info: { number: number; message: string }) => {
      if (info.number === 3211) {
        const percent = Number(/(\d+) percent/.exec(info.message)?.[1]);
        if (Number.isFinite(percent)) request.onProgress(percent);
      }
    });
    const abort = () => statement.cancel();
    request.signal?.addEventListener('abort', abort, { once: true });
    try {
      await statement.query(`BACKUP DATABASE @database TO DISK = @file WITH ${options.join(', ')}`);
    } catch (error) {
      if (request.signal?.aborted)
        throw new ConnectorError('BACKUP_CANCELLED', `backup of "${request.database}" was cancelled`, { cause: error });
      throw explainSqlError(error, `backing up database "${request.database}" to ${request.file}`);
    } finally {
      request.signal?.removeEventListener('abort', abort);
    }
  }

  async backupFiles(file: string): Promise<BackupFile[]> {
    const pool = await this.connect();
    const result = await pool
      .request()
      .input('file', sql.NVarChar(4000), file)
      .query<Record<string, unknown>>('RESTORE FILELISTONLY FROM DISK = @file')
      .catch((error: unknown) => {
        throw explainSqlError(error, `listing the files in the backup ${file}`);
      });
    return result.recordset.map((row) => ({
      logicalName: String(row.LogicalName),
      physicalName: String(row.PhysicalName),
      type: String(row.Type),
      size: Number(row.Size),
    }));
  }

  async defaultFolders(): Promise<{ data?: string; log?: string }> {
    const pool = await this.connect();
    const result = await pool
      .request()
      .query<{ data: string | null; log: string | null }>(
        "SELECT CAST(SERVERPROPERTY('InstanceDefaultDataPath') AS nvarchar(4000)) AS data, CAST(SERVERPROPERTY('InstanceDefaultLogPath') AS nvarchar(4000)) AS log",
      )
      .catch((error: unknown) => {
        throw explainSqlError(error, 'reading the default data and log folders');
      });
    const row = result.recordset[0];
    return { data: row?.data ?? undefined, log: row?.log ?? undefined };
  }

  async restoreDatabase(request: RestoreRequest): Promise<void> {
    checkDatabaseName(request.database);
    const pool = await this.connect();
    const statement = pool.request();
    statement.input('database', sql.NVarChar(128), request.database);
    statement.input('file', sql.NVarChar(4000), request.file);
    const moves = request.moves.map((move, i) => {
      statement.input(`logical${i}`, sql.NVarChar(128), move.logicalName);
      statement.input(`to${i}`, sql.NVarChar(4000), move.to);
      return `MOVE @logical${i} TO @to${i}`;
    });
    statement.on('info', (info: { number: number; message: string }) => {
      if (info.number === 3211) {
        const percent = Number(/(\d+) percent/.exec(info.message)?.[1]);
        if (Number.isFinite(percent)) request.onProgress(percent);
      }
    });
    const options = [...moves, 'CHECKSUM', 'STATS = 5', ...(request.replace ? ['REPLACE'] : [])];
    await statement.query(`RESTORE DATABASE @database FROM DISK = @file WITH ${options.join(', ')}`).catch((error: unknown) => {
      throw explainSqlError(error, `restoring database "${request.database}" from ${request.file}`);
    });
  }

  async checkDatabase(database: string): Promise<void> {
    checkDatabaseName(database);
    const pool = await this.connect();
    await pool
      .request()
      .input('database', sql.NVarChar(128), database)
      .query('DBCC CHECKDB (@database) WITH NO_INFOMSGS, ALL_ERRORMSGS')
      .catch((error: unknown) => {
        throw explainSqlError(error, `checking database "${database}" (DBCC CHECKDB)`);
      });
  }

  async dropDatabase(database: string): Promise<void> {
    checkDatabaseName(database);
    const pool = await this.connect();
    // DROP DATABASE takes no variable: the name goes in through QUOTENAME, never by concatenation here.
    await pool
      .request()
      .input('database', sql.NVarChar(128), database)
      .query("DECLARE @statement nvarchar(300) = N'DROP DATABASE ' + QUOTENAME(@database); EXEC (@statement)")
      .catch((error: unknown) => {
        throw explainSqlError(error, `dropping database "${database}"`);
      });
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}

/** A query the login may not run (VIEW SERVER STATE missing): reported as not visible, with why. */
function notVisible(error: unknown): { visible: false; reason: string } {
  if (error instanceof ConnectorError && error.code === 'SQL_PERMISSION') return { visible: false, reason: error.message };
  throw error;
}

interface SqlErrorLike {
  number?: number;
  message?: string;
  code?: string;
  precedingErrors?: SqlErrorLike[];
}

/** Turns SQL Server's error (3013 and its preceding cause) into one explained ConnectorError. */
export function explainSqlError(error: unknown, doing: string): ConnectorError {
  const e = error as SqlErrorLike;
  const all = [...(e.precedingErrors ?? []), e];
  const cause = all.find((x) => x.number !== 3013) ?? e;
  const number = cause.number;
  const text = cause.message ?? String(error);
  let code = 'SQL_ERROR';
  let advice = '';
  if (e.code === 'ELOGIN' || number === 18456) {
    code = 'SQL_LOGIN_FAILED';
    advice = 'Check the user and password in the connection string, and that SQL Server authentication is enabled.';
  } else if (e.code === 'ESOCKET' || e.code === 'ETIMEOUT') {
    code = 'SQL_UNREACHABLE';
    advice = 'Check the server name and port in the connection string and that SQL Server accepts TCP connections.';
  } else if (number === 3201 && /error 5\b/.test(text)) {
    code = 'SQL_BACKUP_FOLDER_DENIED';
    advice =
      'The SQL Server service account cannot write the staging folder: grant it Modify rights on the folder (SQL Server, not the connector, writes the .bak).';
  } else if (number === 3201) {
    code = 'SQL_BACKUP_DEVICE';
    advice = 'Check that the staging folder exists on the SQL Server machine.';
  } else if (number === 3202 || /error 112\b|not enough space/i.test(text)) {
    code = 'SQL_DISK_FULL';
    advice =
      "The staging disk is full: free space there (a backup needs up to the database's allocated size) or point sql.stagingFolder at a larger disk.";
  } else if (number === 3021) {
    code = 'SQL_IN_TRANSACTION';
    advice =
      'BACKUP cannot run inside a transaction: the connection string must not start one (remove any initial SQL that opens a transaction).';
  } else if (number === 3189 || number === 3241 || number === 3183) {
    code = 'BACKUP_DAMAGED';
    advice =
      'The backup file failed verification and will not be offered for restore; check the staging disk for errors (chkdsk) and run the backup again.';
  } else if (number === 1844) {
    code = 'SQL_COMPRESSION_UNSUPPORTED';
    advice = 'This edition cannot compress backups; so-backup will back up without compression.';
  } else if (number === 262) {
    code = 'SQL_BACKUP_PERMISSION';
    advice = 'Give the login BACKUP DATABASE permission (sysadmin, db_owner or db_backupoperator).';
  } else if (number === 3154 || number === 3159) {
    code = 'RESTORE_TARGET_EXISTS';
    advice =
      'A database with that name exists: restore under a new name (--database-name), or overwrite it only with --replace after making sure nobody needs it.';
  } else if (number === 3234) {
    code = 'RESTORE_LOGICAL_FILE';
    advice =
      'A MOVE names a logical file the backup does not have: so-backup takes the names from RESTORE FILELISTONLY, so the backup file and the listing disagree; download it again.';
  } else if (number === 3142 || number === 3176) {
    code = 'RESTORE_FILE_TAKEN';
    advice =
      'A data or log file would overwrite an existing file (or two files would share one path): choose other folders with --data-folder/--log-folder, or remove the old files.';
  } else if (number === 3156 || number === 5133) {
    code = 'RESTORE_FOLDER';
    advice =
      'SQL Server cannot create the data or log file there: the folder must exist on the SQL Server machine and its service account must be able to write it (--data-folder/--log-folder).';
  } else if (number !== undefined && number >= 8900 && number <= 8999) {
    code = 'DATABASE_CORRUPT';
    advice =
      'DBCC CHECKDB found consistency errors in the restored backup: the database itself is damaged; run DBCC CHECKDB on the live database and take a new backup once it is clean.';
  } else if (number === 911) {
    code = 'SQL_DATABASE_MISSING';
    advice = 'Check the database name in the connector configuration.';
  } else if (number === 942) {
    code = 'SQL_DATABASE_OFFLINE';
    advice = 'The database is OFFLINE: bring it online (ALTER DATABASE … SET ONLINE), or remove it from sql.databases if it is retired.';
  } else if (number === 927) {
    code = 'SQL_DATABASE_RESTORING';
    advice =
      'The database is RESTORING (a restore WITH NORECOVERY, or a log shipping or mirroring standby): back up the primary copy instead.';
  } else if (number === 922) {
    code = 'SQL_DATABASE_RECOVERING';
    advice = 'SQL Server is still recovering the database (after a restart): the next run will back it up.';
  } else if (number === 926) {
    code = 'SQL_DATABASE_SUSPECT';
    advice =
      'SQL Server could not recover the database (SUSPECT): see the SQL Server error log, run DBCC CHECKDB, and restore from the last good backup if needed.';
  } else if (number === 976) {
    code = 'SQL_AG_SECONDARY';
    advice =
      'The database is an availability group secondary that cannot be backed up now: a secondary takes only copy-only full backups, and only while SYNCHRONIZED or SYNCHRONIZING. Resume data movement or back up the primary replica.';
  } else if (number === 33111) {
    code = 'RESTORE_TDE_CERTIFICATE';
    advice =
      'The backup is encrypted with Transparent Data Encryption: restore the certificate (CREATE CERTIFICATE … FROM FILE … WITH PRIVATE KEY …) on this server first.';
  } else if (number === 297 || number === 300) {
    code = 'SQL_PERMISSION';
    advice = 'Grant the login VIEW SERVER STATE for so-backup to check database encryption and availability group roles.';
  }
  const message = `SQL Server error${number ? ` ${number}` : ''} while ${doing}: ${text}${advice ? ` ${advice}` : ''}`;
  return new ConnectorError(code, message, { cause: error });
}
