import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { bandwidthSettingSchema, MESSAGE_BUDGET, PRESENCE, tenantIdSchema } from '../../protocol';
import { ConfigError } from './errors';
import { databaseNameProblem } from './sql/database-name';
import { trustCertificateAuthorities } from './trust';

const absolutePath = (what: string) =>
  z
    .string()
    .min(1)
    .refine((p) => path.isAbsolute(p) || path.win32.isAbsolute(p), { message: `${what} must be an absolute path` });

/** The connector's configuration file (JSON). Unknown keys are errors, so typos never pass silently. */
export const connectorConfigSchema = z
  .object({
    /** wss:// endpoint of the WebSocket API (ws:// only for local mode on loopback). */
    endpoint: z.url().refine((u) => /^wss:\/\//.test(u) || /^ws:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u), {
      message: 'endpoint must be wss://…, or ws:// on loopback for local mode',
    }),
    tenantId: tenantIdSchema,
    /** The connector's identity (tenant and private key), written by `so-connector enrol`; readable only by the service account. */
    identityFile: absolutePath('identityFile'),
    sql: z
      .object({
        /** ADO-style connection string, e.g. "Server=sql01,1433;User Id=so_backup;Password=…;Encrypt=true". */
        connectionString: z.string().min(1),
        /** Any name SQL Server accepts (a sysname: digits first, quotes, spaces, brackets, any script). */
        databases: z
          .array(
            z.string().superRefine((name, ctx) => {
              const problem = databaseNameProblem(name);
              if (problem) ctx.addIssue({ code: 'custom', message: `the database name ${JSON.stringify(name)} ${problem}` });
            }),
          )
          .min(1)
          .refine((names) => new Set(names.map((n) => n.toLowerCase())).size === names.length, {
            // SQL Server's default collations ignore case: "SuperOffice" and "superoffice" are one database.
            message: 'each database once (names are compared ignoring case, as SQL Server does by default)',
          }),
        /** Folder where SQL Server writes the .bak and the connector reads it; SQL Server's service account must be able to write it. */
        stagingFolder: absolutePath('sql.stagingFolder'),
        /** Ask for COMPRESSION where the edition supports it. @default true */
        compression: z.boolean().default(true),
      })
      .strict()
      .optional(),
    archive: z
      .object({
        roots: z
          .array(
            z
              .object({
                name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a root name is 1-64 letters, digits, "_" or "-"'),
                path: absolutePath('archive root path'),
              })
              .strict(),
          )
          .min(1)
          .refine((roots) => new Set(roots.map((r) => r.name.toLowerCase())).size === roots.length, {
            message: 'archive root names must be unique (e.g. "SO_ARC", "SO_ARC1" for ArchivePath1)',
          }),
      })
      .strict()
      .optional(),
    /**
     * The most this connector sends (and, separately, receives) per second, all its transfers
     * together: "20 Mbit/s", or { "default": "20 Mbit/s", "schedule": [{ "days": "Mon-Fri", "from":
     * "07:00", "to": "17:00", "limit": "5 Mbit/s" }] } in this server's local time. The tenant's
     * setting from the cloud applies too: the stricter of the two holds (docs/bandwidth.md). @default unlimited
     */
    bandwidth: bandwidthSettingSchema.optional(),
    /** Folder for the connector's own state (archive index, result outbox, logs). */
    stateDir: absolutePath('stateDir'),
    /** PEM file of extra certificate authorities to trust for TLS, besides Node.js's and (so-connector.exe) the Windows store's. See trust.ts. */
    caFile: absolutePath('caFile').optional(),
    /** A heartbeat after this long without sending anything; API Gateway drops connections idle for 10 minutes. @default 540 (protocol/message-budget.ts) */
    heartbeatSeconds: z.number().int().min(5).max(570).default(MESSAGE_BUDGET.heartbeatSeconds),
    /** Reconnect before API Gateway's 2-hour connection limit. @default 115 */
    reconnectAfterMinutes: z.number().min(0.05).max(119).default(MESSAGE_BUDGET.reconnectAfterMinutes),
    /**
     * When the cloud has the connector check in (protocol/presence.ts), it still stays connected
     * this long after the service starts, so that whoever installs or restarts it sees it online and
     * can run a backup at once (0: check in from the start). Minutes, 0-1440. @default 30
     */
    startupHoldMinutes: z
      .number({ error: 'startupHoldMinutes must be a number of minutes (0-1440)' })
      .int('startupHoldMinutes must be a whole number of minutes')
      .min(0, 'startupHoldMinutes must be 0-1440 minutes (0: check in from the start)')
      .max(1440, 'startupHoldMinutes must be 0-1440 minutes (at most a day)')
      .default(PRESENCE.startupHoldMinutes),
    /** Rotate the connector's key after this many days (0: at every start). @default 30 */
    keyRotationDays: z.number().min(0).max(3650).default(30),
    /** @default 'info' */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict()
  .refine((c) => c.sql || c.archive, { message: 'configure at least one of "sql" and "archive"' });
export type ConnectorConfig = z.infer<typeof connectorConfigSchema>;

/**
 * Reads and validates the config file; every problem is named with its path in the file. Applies
 * `caFile` to this process, so every command that reads the configuration trusts the same CAs.
 */
export function loadConnectorConfig(file: string): ConnectorConfig {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new ConfigError(`cannot read the configuration file ${file}: ${(cause as Error).message}`, { cause });
  }
  const text = decodeConfigText(bytes, file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`the configuration file ${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const parsed = connectorConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new ConfigError(`the configuration file ${file} is invalid:\n${problems.join('\n')}`);
  }
  if (parsed.data.caFile) trustCertificateAuthorities(parsed.data.caFile);
  return parsed.data;
}

/**
 * The configuration file's text, as Windows editors save it: UTF-8 with or without a byte-order
 * mark (Notepad wrote one until Windows 10 1903, and still does for "UTF-8 with BOM"), or UTF-16
 * LE/BE with one (Notepad's "Unicode"). A byte-order mark saved twice (a tool that adds one to a
 * file that had one) is read too. Text in a legacy code page (ANSI) is refused with the fix:
 * read as UTF-8 it would silently turn a folder name like "Søknader" into another one; so is
 * UTF-32 (its byte-order mark begins like UTF-16's, and read as UTF-16 it is garbage).
 * @throws ConfigError naming the encoding problem.
 */
export function decodeConfigText(bytes: Buffer, file: string): string {
  return decodeText(bytes, file).replace(/^\uFEFF+/, '');
}

function decodeText(bytes: Buffer, file: string): string {
  const utf16 = (body: Buffer, bigEndian: boolean) => {
    if (body.length % 2 !== 0)
      throw new ConfigError(`the configuration file ${file} is UTF-16 with an odd number of bytes (cut short?): save it again`);
    return (bigEndian ? Buffer.from(body).swap16() : body).toString('utf16le');
  };
  // UTF-32 (BOM FF FE 00 00 or 00 00 FE FF; or JSON's first ASCII character followed or preceded by three zero bytes).
  const b = (i: number) => bytes[i];
  const utf32 =
    bytes.length >= 4 &&
    ((b(0) === 0xff && b(1) === 0xfe && b(2) === 0 && b(3) === 0) ||
      (b(0) === 0 && b(1) === 0 && b(2) === 0xfe && b(3) === 0xff) ||
      (b(0) !== 0 && b(1) === 0 && b(2) === 0 && b(3) === 0) ||
      (b(0) === 0 && b(1) === 0 && b(2) === 0 && b(3) !== 0));
  if (utf32)
    throw new ConfigError(
      `the configuration file ${file} is UTF-32, which the connector does not read: save it as UTF-8 (in Notepad: File, Save as, Encoding "UTF-8")`,
    );
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return strictUtf8(bytes.subarray(3), file);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return utf16(bytes.subarray(2), false);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return utf16(bytes.subarray(2), true);
  // UTF-16 without a byte-order mark: JSON starts with an ASCII character, so one of its first two bytes is 0.
  if (bytes.length >= 2 && bytes[0] !== 0 && bytes[1] === 0) return utf16(bytes, false);
  if (bytes.length >= 2 && bytes[0] === 0 && bytes[1] !== 0) return utf16(bytes, true);
  return strictUtf8(bytes, file);
}

function strictUtf8(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ConfigError(
      `the configuration file ${file} is not UTF-8 (saved in a legacy code page, "ANSI"?): save it as UTF-8 (in Notepad: File, Save as, Encoding "UTF-8")`,
    );
  }
}
