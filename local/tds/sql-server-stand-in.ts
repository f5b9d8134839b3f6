import { once } from 'node:events';
import { constants as fsConstants, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { access, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { type BackupFileReport, bufferSource, readBackupFile } from '../../protocol/backup-file-reader';
import { databasePages, MtfBackupWriter } from './mtf-backup-file';
import { answerStateQuery, backupRefusal, sameDatabaseName, type StandInDatabase } from './database-states';
import {
  DoneStatus,
  PacketReader,
  PacketType,
  type SqlValue,
  doneToken,
  envChangeToken,
  framePackets,
  loginAckToken,
  messageToken,
  parseLogin7,
  parseRpc,
  parseSqlBatch,
  preloginResponse,
  resultSetTokens,
  returnStatusToken,
} from './tds-wire';

/**
 * A wire-level stand-in for SQL Server: the real `mssql`/tedious client connects to it over TDS.
 * It knows a handful of statements — the ones so-backup sends — and answers them the way SQL
 * Server does, including BACKUP DATABASE writing a real-layout backup file with live STATS
 * progress, the 3201/3013 error pair, Express's refusal of COMPRESSION (1844) and ATTENTION.
 * Anything else gets error 40000 naming the statement, so a new query never passes silently.
 */
export interface SqlServerStandInOptions {
  readonly port: number;
  readonly host?: string;
  readonly login: { readonly user: string; readonly password: string };
  /** More logins that exist (e.g. ones without BACKUP permission). */
  readonly additionalLogins?: ReadonlyArray<{ readonly user: string; readonly password: string }>;
  readonly serverName?: string;
  /** SERVERPROPERTY('EngineEdition'): 2 Standard, 3 Enterprise, 4 Express. @default 2 */
  readonly engineEdition?: number;
  readonly productVersion?: string;
  /** The databases, each with the state SQL Server reports for it (ONLINE, read-write, unencrypted, in no availability group by default). */
  readonly databases: readonly StandInDatabase[];
  /** Logins without VIEW SERVER STATE: the encryption and availability group DMVs refuse them (error 300). */
  readonly loginsWithoutViewServerState?: readonly string[];
  /** Pause after each 1 MiB written by BACKUP, to make slow backups for tests. @default 0 */
  readonly backupChunkDelayMs?: number;
  /** While this file exists, BACKUP holds after each 1 MiB (a backup that stays running, for tests of cancelling it). @default none */
  readonly backupHoldFile?: string;
  /** Folders the (simulated) SQL Server service account may not write: BACKUP there fails with 3201, OS error 5. */
  readonly unwritableFolders?: readonly string[];
  /** The SQL Server service account, as sys.dm_server_services reports it. @default 'NT Service\\MSSQLSERVER' */
  readonly serviceAccount?: string;
  /** Free space on the backup disk: a larger backup fails with OS error 112. @default unlimited */
  readonly diskFreeBytes?: number;
  /** Damage each backup file after writing it (to test RESTORE VERIFYONLY). @default false */
  readonly corruptBackups?: boolean;
  /** Logins that exist but lack BACKUP permission (error 262). */
  readonly loginsWithoutBackupPermission?: readonly string[];
  /** DBCC CHECKDB reports consistency errors (8939, 8928) for every database restored here: a damaged database. */
  readonly corruptRestores?: boolean;
  /** SERVERPROPERTY('InstanceDefaultDataPath') and ('InstanceDefaultLogPath'), where RESTORE puts files by default. */
  readonly defaultDataPath?: string;
  readonly defaultLogPath?: string;
}

const EDITIONS: Record<number, string> = {
  2: 'Standard Edition (64-bit)',
  3: 'Enterprise Edition (64-bit)',
  4: 'Express Edition (64-bit)',
};

interface Response {
  tokens(buffer: Buffer): void;
  /** Sends what is buffered now, as non-final packets, so the client sees it live. */
  flush(): Promise<void>;
  readonly cancelled: boolean;
}

class StatementError extends Error {
  constructor(readonly errors: Array<{ number: number; severity: number; text: string }>) {
    super(errors.map((e) => e.text).join(' '));
  }
}

export class SqlServerStandIn {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  readonly serverName: string;
  /** What msdb.dbo.backupset records for each backup file, and the checksum verify compares with. */
  private readonly backups = new Map<
    string,
    {
      database: string;
      startedAt: Date;
      finishedAt: Date;
      size: number;
      sha256: string;
      compressed: boolean;
      copyOnly: boolean;
      checksums: boolean;
      firstLsn: string;
      lastLsn: string;
    }
  >();
  private lsn = 37000000012345600001n;
  /** Statements received, in order (for tests that check what was sent). */
  readonly statements: Array<{ sql: string; parameters: Record<string, SqlValue> }> = [];
  /** The databases on this server: the configured ones and those RESTORE created. */
  readonly databases: Array<StandInDatabase & { files?: string[] }>;

  constructor(private readonly options: SqlServerStandInOptions) {
    this.serverName = options.serverName ?? 'SO-SQL01';
    this.databases = options.databases.map((d) => ({ ...d }));
  }

  async start(): Promise<void> {
    this.server = createServer((socket) => this.onConnection(socket));
    this.server.listen(this.options.port, this.options.host ?? '127.0.0.1');
    await once(this.server, 'listening');
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new PacketReader();
    let packetSize = 4096;
    let loggedInAs: string | undefined;
    let current: { cancelled: boolean } | undefined;
    let queue = Promise.resolve();
    const send = (type: number, payload: Buffer, last = true) =>
      new Promise<void>((resolve) =>
        socket.write(framePackets(type, payload, packetSize, last)) ? resolve() : socket.once('drain', resolve),
      );

    socket.on('data', (chunk: Buffer) => {
      let messages: ReturnType<typeof reader.push>;
      try {
        messages = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const message of messages) {
        if (message.type === PacketType.ATTENTION) {
          if (current) current.cancelled = true;
          else queue = queue.then(() => send(PacketType.TABULAR_RESULT, doneToken(DoneStatus.ATTN)));
          continue;
        }
        queue = queue
          .then(async () => {
            switch (message.type) {
              case PacketType.PRELOGIN:
                return send(PacketType.TABULAR_RESULT, preloginResponse());
              case PacketType.LOGIN7: {
                const login = parseLogin7(message.payload);
                const known = [this.options.login, ...(this.options.additionalLogins ?? [])];
                if (!known.some((l) => l.user === login.userName && l.password === login.password)) {
                  return send(
                    PacketType.TABULAR_RESULT,
                    Buffer.concat([
                      messageToken({
                        number: 18456,
                        state: 1,
                        severity: 14,
                        text: `Login failed for user '${login.userName}'.`,
                        server: this.serverName,
                      }),
                      doneToken(DoneStatus.ERROR),
                    ]),
                  );
                }
                loggedInAs = login.userName;
                const requested = Math.min(Math.max(login.packetSize || 4096, 512), 32767);
                const reply = Buffer.concat([
                  envChangeToken('database', login.database || 'master', 'master'),
                  loginAckToken('Microsoft SQL Server'),
                  envChangeToken('packetSize', String(requested), String(packetSize)),
                  doneToken(DoneStatus.FINAL),
                ]);
                await send(PacketType.TABULAR_RESULT, reply);
                packetSize = requested;
                return;
              }
              case PacketType.SQL_BATCH:
              case PacketType.RPC: {
                if (!loggedInAs) return send(PacketType.TABULAR_RESULT, doneToken(DoneStatus.ERROR));
                const isRpc = message.type === PacketType.RPC;
                let sql: string;
                let parameters: Map<string, SqlValue>;
                if (isRpc) {
                  // sp_executesql: the statement, the parameter declarations, then the values.
                  const call = parseRpc(message.payload);
                  sql = String(call.parameters[0]?.[1] ?? '');
                  parameters = new Map(call.parameters.slice(2));
                } else {
                  sql = parseSqlBatch(message.payload);
                  parameters = new Map();
                }
                const state = { cancelled: false };
                current = state;
                const pending: Buffer[] = [];
                const response: Response = {
                  tokens: (buffer) => pending.push(buffer),
                  flush: async () => {
                    if (pending.length) await send(PacketType.TABULAR_RESULT, Buffer.concat(pending.splice(0)), false);
                  },
                  get cancelled() {
                    return state.cancelled;
                  },
                };
                let failed = false;
                try {
                  await this.execute(sql, parameters, loggedInAs, response);
                } catch (error) {
                  failed = true;
                  const errors = error instanceof StatementError ? error.errors : [{ number: 50000, severity: 16, text: String(error) }];
                  for (const e of errors) response.tokens(messageToken({ ...e, server: this.serverName }));
                }
                current = undefined;
                if (state.cancelled) {
                  // SQL Server ends the current response, then acknowledges the attention on its own.
                  pending.push(doneToken(DoneStatus.FINAL));
                  await send(PacketType.TABULAR_RESULT, Buffer.concat(pending.splice(0)));
                  return send(PacketType.TABULAR_RESULT, doneToken(DoneStatus.ATTN));
                }
                const status = failed ? DoneStatus.ERROR : DoneStatus.FINAL;
                const end = isRpc ? Buffer.concat([returnStatusToken(failed ? 1 : 0), doneToken(status, 0, 0xfe)]) : doneToken(status);
                return send(PacketType.TABULAR_RESULT, Buffer.concat([...pending.splice(0), end]));
              }
              default:
                socket.destroy();
            }
          })
          .catch(() => {
            socket.destroy();
          });
      }
    });
  }

  /** The statements so-backup sends, answered as SQL Server would. */
  private async execute(sql: string, parameters: Map<string, SqlValue>, login: string, response: Response): Promise<void> {
    this.statements.push({ sql, parameters: Object.fromEntries(parameters) });
    const text = sql.trim().replace(/\s+/g, ' ');
    if (/^(set [a-z_]+ [^;]*;?\s*)+$/i.test(`${text} `) || /^set /i.test(text)) return;
    const backup = /^BACKUP DATABASE @(\w+) TO DISK = @(\w+)( WITH (.*))?$/i.exec(text);
    if (backup)
      return this.backupDatabase(
        parameters.get(backup[1]!.toLowerCase()) ?? null,
        parameters.get(backup[2]!.toLowerCase()) ?? null,
        backup[4] ?? '',
        login,
        response,
      );
    const fileList = /^RESTORE FILELISTONLY FROM DISK = @(\w+)$/i.exec(text);
    if (fileList) {
      const backup = await this.readBackup(String(parameters.get(fileList[1]!.toLowerCase())), 'RESTORE FILELISTONLY');
      const rows = this.logicalFiles(backup.database, backup.size).map((f) => [
        f.logicalName,
        f.physicalName,
        f.type,
        'PRIMARY',
        f.size,
        35184372080640,
        f.fileId,
      ]);
      response.tokens(resultSetTokens(['LogicalName', 'PhysicalName', 'Type', 'FileGroupName', 'Size', 'MaxSize', 'FileId'], rows));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, rows.length, 0xff));
      return;
    }
    const headerOnly = /^RESTORE HEADERONLY FROM DISK = @(\w+)$/i.exec(text);
    if (headerOnly) {
      const file = String(parameters.get(headerOnly[1]!.toLowerCase()));
      const facts = (await this.readBackup(file, 'RESTORE HEADERONLY')).report.facts;
      const [major = 0, minor = 0, build = 0] = (facts.sqlVersion ?? '0.0.0').split('.').map(Number);
      // The columns SQL Server documents for RESTORE HEADERONLY that a backup file itself records.
      const backupType = facts.backupType === 'log' ? 2 : facts.backupType === 'differential' ? 5 : 1;
      const row = [
        facts.backupSetName ?? null,
        backupType,
        facts.compressed ? 1 : 0,
        1,
        facts.userName ?? null,
        facts.server ?? null,
        facts.database ?? null,
        facts.databaseCreatedAt ?? null,
        facts.size,
        facts.backupStartedAt ?? null,
        major,
        minor,
        build,
        facts.machine ?? null,
        facts.copyOnly ? 1 : 0,
        facts.family?.count ?? 1,
        facts.family?.number ?? 1,
        facts.password.media || facts.password.backupSet ? 1 : 0,
      ];
      const columns = [
        'BackupName',
        'BackupType',
        'Compressed',
        'Position',
        'UserName',
        'ServerName',
        'DatabaseName',
        'DatabaseCreationDate',
        'BackupSize',
        'BackupStartDate',
        'SoftwareVersionMajor',
        'SoftwareVersionMinor',
        'SoftwareVersionBuild',
        'MachineName',
        'IsCopyOnly',
        'FamilyCount',
        'FamilySequenceNumber',
        'PasswordProtected',
      ];
      response.tokens(resultSetTokens(columns, [row]));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, 1, 0xff));
      return;
    }
    const restore = /^RESTORE DATABASE @(\w+) FROM DISK = @(\w+) WITH (.*)$/i.exec(text);
    if (restore)
      return this.restoreDatabase(
        String(parameters.get(restore[1]!.toLowerCase())),
        String(parameters.get(restore[2]!.toLowerCase())),
        restore[3]!,
        parameters,
        response,
      );
    const checkdb = /^DBCC CHECKDB \(@(\w+)\) WITH NO_INFOMSGS, ALL_ERRORMSGS$/i.exec(text);
    if (checkdb) {
      const name = String(parameters.get(checkdb[1]!.toLowerCase()));
      const db = this.databases.find((d) => d.name === name);
      if (!db)
        throw new StatementError([
          {
            number: 2520,
            severity: 16,
            text: `Could not find database '${name}'. The database either does not exist, or was dropped before a statement tried to use it.`,
          },
        ]);
      if (this.options.corruptRestores && db.files) {
        throw new StatementError([
          {
            number: 8939,
            severity: 16,
            text: `Table error: Object ID 0, index ID -1, partition ID 0, alloc unit ID 72057594043236352 (type Unknown), page (1:4711). Test (IS_OFF (BUF_IOERR, pBUF->bstat)) failed.`,
          },
          { number: 8989, severity: 16, text: `CHECKDB found 0 allocation errors and 1 consistency errors in database '${name}'.` },
        ]);
      }
      return;
    }
    const drop = /^DECLARE @statement nvarchar\(300\) = N'DROP DATABASE ' \+ QUOTENAME\(@(\w+)\); EXEC \(@statement\)$/i.exec(text);
    if (drop) {
      const name = String(parameters.get(drop[1]!.toLowerCase()));
      const index = this.databases.findIndex((d) => d.name === name);
      if (index < 0)
        throw new StatementError([
          {
            number: 3701,
            severity: 11,
            text: `Cannot drop the database '${name}', because it does not exist or you do not have permission.`,
          },
        ]);
      for (const file of this.databases[index]!.files ?? []) await rm(file, { force: true });
      this.databases.splice(index, 1);
      return;
    }
    const verify = /^RESTORE VERIFYONLY FROM DISK = @(\w+) WITH CHECKSUM$/i.exec(text);
    if (verify) return this.verifyBackup(String(parameters.get(verify[1]!.toLowerCase())));
    if (/^SELECT service_account AS (\w+) FROM sys\.dm_server_services WHERE servicename LIKE 'SQL Server \(%'$/i.test(text)) {
      const column = /AS (\w+)/i.exec(text)![1]!;
      response.tokens(resultSetTokens([column], [[this.options.serviceAccount ?? 'NT Service\\MSSQLSERVER']]));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, 1, 0xff));
      return;
    }
    if (
      /FROM msdb\.dbo\.backupset bs JOIN msdb\.dbo\.backupmediafamily mf ON mf\.media_set_id = bs\.media_set_id WHERE mf\.physical_device_name = @file/i.test(
        text,
      )
    ) {
      const b = this.backups.get(String(parameters.get('file')));
      const columns = [
        'databaseName',
        'serverName',
        'firstLsn',
        'lastLsn',
        'startedAt',
        'finishedAt',
        'isCopyOnly',
        'hasChecksums',
        'compressed',
        'backupSize',
        'softwareVersion',
      ];
      const rows = b
        ? [
            [
              b.database,
              this.serverName,
              b.firstLsn,
              b.lastLsn,
              b.startedAt.toISOString(),
              b.finishedAt.toISOString(),
              b.copyOnly ? 1 : 0,
              b.checksums ? 1 : 0,
              b.compressed ? 1 : 0,
              b.size,
              this.options.productVersion ?? '16.0.4135.4',
            ],
          ]
        : [];
      response.tokens(resultSetTokens(columns, rows));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, rows.length, 0xff));
      return;
    }
    const masterFiles =
      /^SELECT CAST\(SUM\(CAST\(size AS bigint\)\) \* 8192 AS bigint\) AS (\w+) FROM sys\.master_files WHERE database_id = DB_ID\(@(\w+)\)$/i.exec(
        text,
      );
    if (masterFiles) {
      const db = this.databases.find((d) => sameDatabaseName(d.name, parameters.get(masterFiles[2]!.toLowerCase())));
      response.tokens(resultSetTokens([masterFiles[1]!], [[db ? db.sizeBytes : null]]));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, 1, 0xff));
      return;
    }
    const state = answerStateQuery(text, parameters, this.databases, !this.options.loginsWithoutViewServerState?.includes(login));
    if (state?.error) throw new StatementError([state.error]);
    if (state) {
      response.tokens(resultSetTokens(state.columns!, state.rows!));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, state.rows!.length, 0xff));
      return;
    }
    const select = /^SELECT (.+?)( FROM sys\.databases WHERE name = @(\w+))?;?$/i.exec(text);
    if (select) {
      const columns: string[] = [];
      const values: SqlValue[] = [];
      for (const item of splitTopLevel(select[1]!)) {
        const [, expression, alias] = /^(.*?)(?: AS \[?(\w+)\]?)?$/i.exec(item.trim())!;
        columns.push(alias ?? '');
        values.push(this.evaluate(expression!.trim(), parameters, login));
      }
      if (select[2]) {
        const name = parameters.get(select[3]!.toLowerCase());
        const found = this.databases.find((d) => d.name === name);
        response.tokens(resultSetTokens(columns, found ? [values.map((v, i) => (columns[i] === 'name' ? found.name : v))] : []));
        response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, found ? 1 : 0, 0xff));
        return;
      }
      response.tokens(resultSetTokens(columns, [values]));
      response.tokens(doneToken(DoneStatus.COUNT | DoneStatus.MORE, 1, 0xff));
      return;
    }
    throw new StatementError([
      { number: 40000, severity: 16, text: `The SQL Server stand-in does not implement this statement: ${text.slice(0, 200)}` },
    ]);
  }

  private evaluate(expression: string, parameters: Map<string, SqlValue>, login: string): SqlValue {
    const cast = /^CAST\((.*) AS [\w()]+\)$/i.exec(expression);
    if (cast) return this.evaluate(cast[1]!.trim(), parameters, login);
    const perms = /^HAS_PERMS_BY_NAME\(@(\w+), 'DATABASE', 'BACKUP DATABASE'\)$/i.exec(expression);
    if (perms) {
      const exists = this.databases.some((d) => d.name === parameters.get(perms[1]!.toLowerCase()));
      return exists ? (this.options.loginsWithoutBackupPermission?.includes(login) ? 0 : 1) : null;
    }
    if (/^-?\d+$/.test(expression)) return Number(expression);
    if (/^N?'.*'$/.test(expression)) return expression.replace(/^N?'|'$/g, '');
    if (/^name$/i.test(expression)) return null;
    const parameter = /^@(\w+)$/.exec(expression);
    if (parameter) return parameters.get(parameter[1]!.toLowerCase()) ?? null;
    const property = /^SERVERPROPERTY\('(\w+)'\)$/i.exec(expression);
    if (property) {
      const edition = this.options.engineEdition ?? 2;
      const properties: Record<string, SqlValue> = {
        engineedition: edition,
        edition: EDITIONS[edition] ?? 'Developer Edition (64-bit)',
        productversion: this.options.productVersion ?? '16.0.4135.4',
        servername: this.serverName,
        machinename: this.serverName,
        instancedefaultdatapath: this.options.defaultDataPath ?? null,
        instancedefaultlogpath: this.options.defaultLogPath ?? null,
      };
      return properties[property[1]!.toLowerCase()] ?? null;
    }
    throw new StatementError([{ number: 40000, severity: 16, text: `The SQL Server stand-in cannot evaluate ${expression}` }]);
  }

  /**
   * RESTORE VERIFYONLY … WITH CHECKSUM: the file must read as a whole, undamaged backup set
   * (readBackup).
   */
  private async verifyBackup(file: string): Promise<void> {
    await this.readBackup(file, 'VERIFY DATABASE');
  }

  /**
   * A backup file as RESTORE reads it, decided from the file itself as SQL Server does — any
   * valid backup restores, whoever wrote it and whether or not this server remembers it: the
   * backup-file reader must find a readable, complete backup set (else 3241, as SQL Server says
   * for a media family it cannot process), with every media family present (else 3132). The
   * stand-in's pages carry no page checksums, so damage inside the data of a backup is found the
   * way SQL Server's backup checksum finds it only for a backup this server wrote in this run and
   * still recorded in its msdb (same path, database and size, other bytes: 3183/3189); of any
   * other file, the reader's checks decide.
   */
  private async readBackup(file: string, statement: string): Promise<{ database: string; size: number; report: BackupFileReport }> {
    const fail = (number: number, text: string) =>
      new StatementError([
        { number, severity: 16, text },
        { number: 3013, severity: 16, text: `${statement} is terminating abnormally.` },
      ]);
    const damaged = (database: string, page: string | undefined) =>
      statement === 'VERIFY DATABASE'
        ? fail(3189, 'Damage to the backup set was detected.')
        : fail(3183, `RESTORE detected an error on page (${page ?? '1:4711'}) in database "${database}" as read from the backup set.`);
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch {
      throw fail(3201, `Cannot open backup device '${file}'. Operating system error 2(The system cannot find the file specified.).`);
    }
    const report = await readBackupFile(bufferSource(content));
    const database = report.facts.database;
    // Damage inside the data (a page or the data stream) is what SQL Server's checksums report as
    // damage to the backup set (3189 for VERIFYONLY, 3183 naming the page for RESTORE); any other
    // defect leaves a media family it cannot process (3241).
    const damage = report.problems.find((p) => p.code === 'PAGE_DAMAGED' || p.code === 'DATA_DAMAGED');
    if (damage && database) throw damaged(database, /\((\d+:\d+)/.exec(damage.message)?.[1]);
    if (report.problems.length > 0 || !database)
      throw fail(3241, `The media family on device '${file}' is incorrectly formed. SQL Server cannot process this media family.`);
    if (report.facts.family && report.facts.family.count > 1)
      throw fail(
        3132,
        `The media set has ${report.facts.family.count} media families but only 1 are provided. All members must be provided.`,
      );
    const written = this.backups.get(file);
    if (
      written &&
      written.database === database &&
      written.size === content.length &&
      createHash('sha256').update(content).digest('hex') !== written.sha256
    ) {
      throw damaged(database, undefined);
    }
    return { database, size: content.length, report };
  }

  /** The files a database backup holds: its data file and its log. */
  private logicalFiles(database: string, size: number) {
    return [
      {
        logicalName: database,
        physicalName: `C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\DATA\\${database}.mdf`,
        type: 'D',
        size,
        fileId: 1,
      },
      {
        logicalName: `${database}_log`,
        physicalName: `C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\DATA\\${database}_log.ldf`,
        type: 'L',
        size: 8 << 20,
        fileId: 2,
      },
    ];
  }

  /** RESTORE DATABASE … WITH MOVE …, CHECKSUM, STATS: refuses what SQL Server refuses, with its error numbers. */
  private async restoreDatabase(
    target: string,
    file: string,
    withClause: string,
    parameters: Map<string, SqlValue>,
    response: Response,
  ): Promise<void> {
    const fail = (...errors: Array<{ number: number; text: string }>) =>
      new StatementError(
        [...errors, { number: 3013, text: 'RESTORE DATABASE is terminating abnormally.' }].map((e) => ({ ...e, severity: 16 })),
      );
    const backup = await this.readBackup(file, 'RESTORE DATABASE');
    // A differential or log backup restores only onto a full one restored WITH NORECOVERY, which the stand-in does not do.
    if (backup.report.facts.backupType !== 'full')
      throw fail({ number: 3117, text: 'The log or differential backup cannot be restored because no files are ready to rollforward.' });
    const replace = /\bREPLACE\b/i.test(withClause);
    const existing = this.databases.find((d) => d.name === target);
    if (existing && !replace) {
      if (existing.name !== backup.database)
        throw fail({ number: 3154, text: `The backup set holds a backup of a database other than the existing '${target}' database.` });
      throw fail({
        number: 3159,
        text: `The tail of the log for the database "${target}" has not been backed up. Use BACKUP LOG WITH NORECOVERY to back up the log if it contains work you do not want to lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log.`,
      });
    }
    const files = this.logicalFiles(backup.database, backup.size);
    const moves = [...withClause.matchAll(/MOVE @(\w+) TO @(\w+)/gi)].map((m) => ({
      logical: String(parameters.get(m[1]!.toLowerCase())),
      to: String(parameters.get(m[2]!.toLowerCase())),
    }));
    for (const move of moves) {
      if (!files.some((f) => f.logicalName === move.logical)) {
        throw fail({
          number: 3234,
          text: `Logical file '${move.logical}' is not part of database '${target}'. Use RESTORE FILELISTONLY to list the logical file names.`,
        });
      }
    }
    const placed = files.map((f) => moves.find((m) => m.logical === f.logicalName)?.to ?? f.physicalName);
    const duplicate = placed.find((p, i) => placed.indexOf(p) !== i);
    if (duplicate)
      throw fail({
        number: 3176,
        text: `File '${duplicate}' is claimed by '${files[placed.lastIndexOf(duplicate)]!.logicalName}'(2) and '${files[placed.indexOf(duplicate)]!.logicalName}'(1). The WITH MOVE clause can be used to relocate one or more files.`,
      });
    for (const [i, to] of placed.entries()) {
      try {
        await access(dirname(to), fsConstants.W_OK);
      } catch {
        throw fail(
          {
            number: 5133,
            text: `Directory lookup for the file "${to}" failed with the operating system error 3(The system cannot find the path specified.).`,
          },
          {
            number: 3156,
            text: `File '${files[i]!.logicalName}' cannot be restored to '${to}'. Use WITH MOVE to identify a valid location for the file.`,
          },
        );
      }
      const taken =
        this.databases.some((d) => d.name !== target && d.files?.includes(to)) ||
        (!replace &&
          (await stat(to).then(
            () => true,
            () => false,
          )));
      if (taken)
        throw fail({
          number: 3142,
          text: `File "${files[i]!.logicalName}" cannot be restored over the existing "${to}". Reissue the RESTORE statement using WITH REPLACE to overwrite pre-existing files, or WITH MOVE to identify an alternate file location.`,
        });
    }
    const statsStep = Number(/STATS\s*=\s*(\d+)/i.exec(withClause)?.[1] ?? 0);
    for (let percent = statsStep; statsStep > 0 && percent <= 100; percent += statsStep) {
      response.tokens(messageToken({ number: 3211, severity: 0, text: `${percent} percent processed.`, server: this.serverName }));
      await response.flush();
    }
    for (const [i, to] of placed.entries()) await writeFile(to, `stand-in database file ${files[i]!.logicalName} of ${target}\n`);
    if (existing) existing.files = placed;
    else this.databases.push({ name: target, sizeBytes: backup.size, files: placed });
    const pages = Math.ceil(backup.size / 8192);
    response.tokens(
      messageToken({
        number: 3014,
        severity: 0,
        server: this.serverName,
        text: `RESTORE DATABASE successfully processed ${pages} pages in 0.100 seconds.`,
      }),
    );
  }

  private async backupDatabase(database: SqlValue, path: SqlValue, withClause: string, login: string, response: Response): Promise<void> {
    const fail = (...errors: Array<{ number: number; text: string }>) =>
      new StatementError(
        [...errors, { number: 3013, text: 'BACKUP DATABASE is terminating abnormally.' }].map((e) => ({ ...e, severity: 16 })),
      );
    const options = withClause.split(',').map((o) => o.trim().toUpperCase());
    const db = this.databases.find((d) => sameDatabaseName(d.name, database));
    if (!db)
      throw new StatementError([
        { number: 911, severity: 16, text: `Database '${String(database)}' does not exist. Make sure that the name is entered correctly.` },
      ]);
    const refusal = backupRefusal(db);
    if (refusal) throw fail(...refusal);
    if (this.options.loginsWithoutBackupPermission?.includes(login)) {
      throw fail({ number: 262, text: `BACKUP DATABASE permission denied in database '${db.name}'.` });
    }
    if (options.includes('COMPRESSION') && (this.options.engineEdition ?? 2) === 4) {
      throw fail({ number: 1844, text: 'BACKUP DATABASE WITH COMPRESSION is not supported on Express Edition (64-bit).' });
    }
    const file = String(path);
    try {
      if (this.options.unwritableFolders?.includes(dirname(file))) throw Object.assign(new Error('denied'), { code: 'EACCES' });
      await access(dirname(file), fsConstants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const os = code === 'ENOENT' ? '3(The system cannot find the path specified.)' : '5(Access is denied.)';
      throw fail({ number: 3201, text: `Cannot open backup device '${file}'. Operating system error ${os}.` });
    }
    const statsStep = Number(/^STATS\s*=\s*(\d+)$/.exec(options.find((o) => o.startsWith('STATS')) ?? '')?.[1] ?? 0);
    const startedAt = new Date();
    const handle = await open(file, 'w');
    let nextReport = statsStep;
    let written = 0;
    const hash = createHash('sha256');
    let diskFull = false;
    const writer = new MtfBackupWriter({
      database: db.name,
      server: this.serverName,
      backupSetName: `${db.name}-Full Database Backup`,
      startedAt,
      dataBytes: db.sizeBytes,
      compressed: options.includes('COMPRESSION'),
      copyOnly: options.includes('COPY_ONLY'),
      sqlVersion: (this.options.productVersion ?? '16.0.4135.4').split('.').slice(0, 3).join('.'),
    });
    const put = async (bytes: Buffer) => {
      hash.update(bytes);
      await handle.write(bytes);
    };
    try {
      await put(writer.start());
      for (const pages of databasePages(`${db.name}@${startedAt.toISOString()}`, db.sizeBytes)) {
        if (response.cancelled) break;
        if (this.options.diskFreeBytes !== undefined && written + pages.length > this.options.diskFreeBytes) {
          diskFull = true;
          break;
        }
        await put(writer.data(pages));
        written += pages.length;
        const percent = Math.floor((written / db.sizeBytes) * 100);
        while (statsStep > 0 && percent >= nextReport && nextReport <= 100) {
          response.tokens(messageToken({ number: 3211, severity: 0, text: `${nextReport} percent processed.`, server: this.serverName }));
          nextReport += statsStep;
        }
        await response.flush();
        if (this.options.backupChunkDelayMs) await new Promise((r) => setTimeout(r, this.options.backupChunkDelayMs));
        while (this.options.backupHoldFile && existsSync(this.options.backupHoldFile) && !response.cancelled)
          await new Promise((r) => setTimeout(r, 100));
      }
      if (!response.cancelled && !diskFull) await put(writer.end());
    } finally {
      await handle.close();
    }
    if (response.cancelled || diskFull) {
      await rm(file, { force: true });
      if (diskFull) throw fail({ number: 3202, text: `Write on "${file}" failed: 112(There is not enough space on the disk.)` });
      return;
    }
    const size = (await stat(file)).size;
    if (this.options.corruptBackups) {
      const damage = await open(file, 'r+');
      await damage.write(Buffer.from([0xde, 0xad]), 0, 2, Math.floor(size / 2));
      await damage.close();
    }
    const first = this.lsn;
    this.lsn += 1000n;
    this.backups.set(file, {
      database: db.name,
      startedAt,
      finishedAt: new Date(),
      size,
      sha256: hash.digest('hex'),
      compressed: options.includes('COMPRESSION'),
      copyOnly: options.includes('COPY_ONLY'),
      checksums: options.includes('CHECKSUM'),
      firstLsn: String(first),
      lastLsn: String(first + 1000n),
    });
    const pages = Math.ceil(db.sizeBytes / 8192);
    const seconds = Math.max((Date.now() - startedAt.getTime()) / 1000, 0.001);
    response.tokens(
      messageToken({
        number: 4035,
        severity: 0,
        text: `Processed ${pages} pages for database '${db.name}', file '${db.name}' on file 1.`,
        server: this.serverName,
      }),
    );
    response.tokens(
      messageToken({
        number: 3014,
        severity: 0,
        server: this.serverName,
        text: `BACKUP DATABASE successfully processed ${pages} pages in ${seconds.toFixed(3)} seconds (${(db.sizeBytes / 1048576 / seconds).toFixed(3)} MB/sec).`,
      }),
    );
  }
}

/** Splits a select list on commas outside parentheses and quotes. */
function splitTopLevel(list: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      items.push(list.slice(start, i));
      start = i + 1;
    }
  }
  items.push(list.slice(start));
  return items;
}
