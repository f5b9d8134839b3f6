import { type BandwidthSetting, bandwidthSettingSchema, encodeMessage, tenantIdSchema } from '../../protocol';
import {
  createActivationCode,
  DEFAULT_RUN_WINDOW_SECONDS,
  describeRunWindow,
  latestRunWindowSeconds,
  MAX_RUN_WINDOW_SECONDS,
  RUN_WINDOW_MARGIN_SECONDS,
  parseRunWindow,
  disableTenant,
  newTenant,
  parseBackupTime,
  revokeConnectorKey,
  tellTenantConnectors,
  type TenantRecord,
  checkInOverdue,
  describePresence,
  PRESENCE_MODES,
  type PresenceMode,
  type PresenceSettings,
  presenceMode,
  presenceSettingsSchema,
  settingsMessage,
} from '../../core';
import { CliError, EXIT, notFound, usageError } from './cli-error';
import type { Fleet } from './fleet';

export async function requireTenant(fleet: Fleet, tenantId: string): Promise<TenantRecord> {
  const tenant = await fleet.tenants.get(tenantId);
  if (!tenant) throw notFound(`unknown tenant "${tenantId}": \`so-backup tenants list\` shows the tenants`);
  return tenant;
}

export interface Enrolment {
  tenantId: string;
  activationCode: string;
  expiresAt: string;
  /** The line customer IT runs on the SuperOffice server (paths and SQL details are theirs to fill in). */
  enrolCommand: string;
}

/** Issues a one-time activation code and the exact `so-connector enrol` line for customer IT. */
async function enrolment(fleet: Fleet, tenantId: string): Promise<Enrolment> {
  const { code, expiresAt } = await createActivationCode(fleet.tenants, tenantId);
  const enrolCommand = [
    'so-connector enrol',
    `--endpoint ${fleet.outputs.ConnectorEndpoint}`,
    `--code "${tenantId}:${code}"`,
    '--config C:\\ProgramData\\so-backup\\config.json --state-dir C:\\ProgramData\\so-backup',
    '--sql "Server=SQL01;User Id=so_backup;Password=…;Encrypt=true" --database SuperOffice',
    '--staging D:\\so-backup\\staging --archive "SO_ARC=\\\\fileserver\\SO_ARC"',
  ].join(' ');
  return { tenantId, activationCode: `${tenantId}:${code}`, expiresAt, enrolCommand };
}

/** `--backup-time HH:MM` (quarter hours) or `--backup-hour H` as the tenant's fields; "default" clears them (the stack's window). */
function backupTime(options: { backupHour?: string | number; backupTime?: string }): {
  backupHour?: number | null;
  backupMinute?: number | null;
} {
  if (options.backupHour !== undefined && options.backupTime !== undefined)
    throw usageError('give --backup-time or --backup-hour, not both');
  if (options.backupTime !== undefined) {
    if (options.backupTime === 'default') return { backupHour: null, backupMinute: null };
    try {
      const { hour, minute } = parseBackupTime(options.backupTime);
      return { backupHour: hour, backupMinute: minute };
    } catch (error) {
      throw usageError(`--backup-time: ${(error as Error).message}, or "default"`);
    }
  }
  if (options.backupHour !== undefined) {
    if (options.backupHour === 'default') return { backupHour: null, backupMinute: null };
    const hour = Number(options.backupHour);
    if (!(Number.isInteger(hour) && hour >= 0 && hour <= 23))
      throw usageError(`--backup-hour must be a whole hour from 0 to 23, or "default", not ${options.backupHour}`);
    return { backupHour: hour, backupMinute: null };
  }
  return {};
}

export async function addTenant(
  fleet: Fleet,
  input: { tenantId: string; name: string; online: boolean; backupHour?: number; backupTime?: string },
): Promise<Enrolment & { tenant: TenantRecord }> {
  const id = tenantIdSchema.safeParse(input.tenantId);
  if (!id.success)
    throw usageError(
      `tenant id "${input.tenantId}" is not valid: ${id.error.issues[0]?.message ?? 'use lower-case letters, digits and dashes'}`,
    );
  const time = backupTime(input);
  const tenant: TenantRecord = {
    ...newTenant(id.data, input.name),
    online: input.online,
    ...(typeof time.backupHour === 'number' ? { backupHour: time.backupHour } : {}),
    ...(typeof time.backupMinute === 'number' ? { backupMinute: time.backupMinute } : {}),
  };
  if (!(await fleet.tenants.create(tenant)))
    throw new CliError(
      `tenant "${id.data}" exists already: \`so-backup tenants code ${id.data}\` issues a new activation code`,
      EXIT.usage,
    );
  return { tenant, ...(await enrolment(fleet, id.data)) };
}

/**
 * `--bandwidth`: a rate ("20 Mbit/s"), a JSON setting with a schedule
 * ('{"default":"20 Mbit/s","schedule":[{"days":"Mon-Fri","from":"07:00","to":"17:00","limit":"5 Mbit/s"}]}'),
 * or "default" (null: no central limit, the connector's configuration file alone).
 * @throws CliError (usage) naming each problem.
 */
export function parseBandwidthOption(text: string): BandwidthSetting | null {
  if (text.trim() === 'default') return null;
  let value: unknown = text;
  if (text.trim().startsWith('{')) {
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw usageError(`--bandwidth is not valid JSON: ${(error as Error).message}`);
    }
  }
  const parsed = bandwidthSettingSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
    throw usageError(
      `--bandwidth: ${[...new Set(problems)].join('; ')} (give a rate like "20 Mbit/s", a JSON setting with "default" and "schedule", or "default")`,
    );
  }
  return parsed.data;
}

/**
 * `--backup-window` / `--window`: a duration ("5h", "90m", "1h30m", "45s") or "none" (0: no
 * window); with `allowDefault`, "default" (null: the stack's). A window must end before the stack
 * stops a run (`runTimeoutSeconds`: the backup timeout plus an hour) by the margin, as Prepare
 * holds it (latestRunWindowSeconds), or the run would be timed out instead of paused; without the
 * stack outputs, at most 23 h. `syntaxOnly`: the form only, before the stack outputs are read, so
 * a window too long is refused once, with the stack's limit.
 * @throws CliError (usage) naming the mistake and what to write
 */
export function parseWindowOption(
  option: '--backup-window' | '--window',
  text: string,
  options: { allowDefault?: boolean; runTimeoutSeconds?: number; syntaxOnly?: boolean } = {},
): number | null {
  if (options.allowDefault && text.trim().toLowerCase() === 'default') return null;
  // One limit, the one Prepare holds a run to: 23 h, and inside the stack's backup timeout less its margin.
  const latest = options.runTimeoutSeconds === undefined ? undefined : latestRunWindowSeconds(options.runTimeoutSeconds);
  const limit = options.syntaxOnly
    ? { seconds: Number.POSITIVE_INFINITY, why: '' }
    : latest !== undefined && latest < MAX_RUN_WINDOW_SECONDS
      ? {
          seconds: latest,
          why: `the stack times a run out after ${describeRunWindow(options.runTimeoutSeconds! - 3600)} (its backupTimeout) and a window must end ${describeRunWindow(RUN_WINDOW_MARGIN_SECONDS)} before that`,
        }
      : undefined;
  let seconds: number;
  try {
    seconds = parseRunWindow(text, limit);
  } catch (error) {
    const message = (error as Error).message;
    // A question ("did you mean …?") names the one likely form; other errors list every form, "default" too.
    throw usageError(`${option}: ${message}${options.allowDefault && !message.endsWith('?') ? ', or "default" (the stack\'s)' : ''}`);
  }
  return seconds;
}

/**
 * A tenant's backup window in one line: its own, or the stack's (RunWindowSeconds; older stacks:
 * the default); one longer than the stack lets a run have (its backup timeout less the margin,
 * `runTimeoutSeconds` known) says that Prepare cuts it, and to what.
 */
export function windowText(tenantSeconds: number | undefined, stackSeconds: number | undefined, runTimeoutSeconds?: number): string {
  const [seconds, whose] =
    tenantSeconds === undefined ? [stackSeconds ?? DEFAULT_RUN_WINDOW_SECONDS, "the stack's"] : [tenantSeconds, "the tenant's"];
  if (seconds === 0) return `none (${whose}: the archive goes on until it is done)`;
  const latest = runTimeoutSeconds === undefined ? undefined : latestRunWindowSeconds(runTimeoutSeconds);
  const cut =
    latest !== undefined && seconds > latest
      ? `; each run's is cut to ${describeRunWindow(latest)}, ${describeRunWindow(RUN_WINDOW_MARGIN_SECONDS)} before the stack's ${describeRunWindow(runTimeoutSeconds! - 3600)} backup timeout`
      : '';
  return `${describeRunWindow(seconds)} after the start (${whose}${cut})`;
}

/** `so-backup tenants set`'s options, as given. */
export interface TenantChanges {
  name?: string;
  online?: boolean;
  backupHour?: string;
  backupTime?: string;
  bandwidth?: string;
  backupWindow?: string;
  presence?: string;
}

/**
 * Changes a tenant's name, Online flag, backup time ("default" returns it to the stack's backup
 * window) or bandwidth limit; a new bandwidth limit is sent to the connector at once when it is connected
 * (otherwise when it next connects). Returns the tenant and how many connections were told.
 */
export async function updateTenant(
  fleet: Fleet,
  tenantId: string,
  changes: TenantChanges,
  now = new Date(),
): Promise<ReturnType<typeof tenantView> & { connectorsTold?: number }> {
  const bandwidth = changes.bandwidth === undefined ? undefined : parseBandwidthOption(changes.bandwidth);
  const presence = changes.presence === undefined ? undefined : parsePresenceOption(changes.presence);
  const backupWindowSeconds =
    changes.backupWindow === undefined
      ? undefined
      : parseWindowOption('--backup-window', changes.backupWindow, {
          allowDefault: true,
          runTimeoutSeconds: fleet.outputs.RunTimeoutSeconds,
        });
  await requireTenant(fleet, tenantId);
  const time = backupTime(changes);
  if (changes.name !== undefined && changes.name.trim() === '') throw usageError('--name cannot be empty');
  await fleet.tenants.updateSettings(tenantId, {
    displayName: changes.name,
    online: changes.online,
    ...time,
    bandwidth,
    backupWindowSeconds,
    presence,
  });
  const tenant = await requireTenant(fleet, tenantId);
  const view = tenantView(tenant);
  // What the connector is told on connect changed (bandwidth, presence, the backup time its next slot comes from): tell a connected one now.
  if (bandwidth === undefined && presence === undefined && time.backupHour === undefined) return view;
  const settings = stackPresence(fleet);
  const newest = settings ? (await fleet.runs.forTenant(tenantId, 1))[0] : undefined;
  const message = encodeMessage(settingsMessage(tenant, settings, now, newest));
  return {
    ...view,
    connectorsTold: await tellTenantConnectors({ connections: fleet.connections, send: fleet.sendToConnection }, tenantId, message),
  };
}

/** `--presence`: "always", "check-in", or "default" (null: the stack's). @throws CliError (usage) naming what is allowed. */
export function parsePresenceOption(text: string): PresenceMode | null {
  const value = text.trim().toLowerCase();
  if (value === 'default') return null;
  if ((PRESENCE_MODES as readonly string[]).includes(value)) return value as PresenceMode;
  throw usageError(
    `--presence must be always (connected all the time), check-in (connects for its work and every check-in) or default (the stack's), not "${text}"`,
  );
}

/**
 * The stack's presence settings (its PresenceSettings output); undefined for a stack older than
 * presence (its connectors stay connected).
 * @throws CliError when the output is not what this CLI understands.
 */
export function stackPresence(fleet: Pick<Fleet, 'outputs'>): PresenceSettings | undefined {
  const text = fleet.outputs.PresenceSettings;
  if (text === undefined) return undefined;
  try {
    return presenceSettingsSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new CliError(
      `the stack's PresenceSettings output is not what this version of so-backup reads (${(error as Error).message.split('\n')[0]}): update the CLI or the stack`,
      EXIT.environment,
    );
  }
}

/** A new activation code for an existing tenant (the old one stops working). */
export async function newActivationCode(fleet: Fleet, tenantId: string): Promise<Enrolment> {
  await requireTenant(fleet, tenantId);
  return enrolment(fleet, tenantId);
}

export async function setTenantEnabled(
  fleet: Fleet,
  tenantId: string,
  enabled: boolean,
): Promise<{ tenantId: string; enabled: boolean; connectionsClosed: number }> {
  await requireTenant(fleet, tenantId);
  if (enabled) {
    await fleet.tenants.setEnabled(tenantId, true);
    return { tenantId, enabled, connectionsClosed: 0 };
  }
  const connectionsClosed = await disableTenant(
    { tenants: fleet.tenants, connections: fleet.connections, close: fleet.closeConnection },
    tenantId,
  );
  return { tenantId, enabled, connectionsClosed };
}

/**
 * Removes one connector key (a stolen identity file, a decommissioned server): the key can no
 * longer connect, and every open session authenticated with it is closed at once. With no key
 * left the tenant's connector must enrol again (`so-backup tenants code`).
 */
export async function revokeKey(
  fleet: Fleet,
  tenantId: string,
  keyId: string,
): Promise<{ tenantId: string; keyId: string; connectionsClosed: number; keysLeft: number }> {
  const tenant = await requireTenant(fleet, tenantId);
  if (!tenant.keys.some((k) => k.keyId === keyId)) {
    throw notFound(
      `tenant "${tenantId}" has no key "${keyId}"; its keys: ${tenant.keys.map((k) => k.keyId).join(', ') || 'none'} (\`so-backup tenants show ${tenantId}\`)`,
    );
  }
  const connectionsClosed = await revokeConnectorKey(
    { tenants: fleet.tenants, connections: fleet.connections, close: fleet.closeConnection },
    tenantId,
    keyId,
  );
  const keysLeft = (await requireTenant(fleet, tenantId)).keys.length;
  return { tenantId, keyId, connectionsClosed, keysLeft };
}

/**
 * Removes the tenant: its connector can no longer connect and no backup is scheduled. Its
 * backups stay in S3 under the retention rules (deleting them needs the break-glass role).
 */
export async function removeTenant(
  fleet: Fleet,
  tenantId: string,
): Promise<{ tenantId: string; removed: true; connectionsClosed: number }> {
  const { connectionsClosed } = await setTenantEnabled(fleet, tenantId, false);
  await fleet.tenants.remove(tenantId);
  return { tenantId, removed: true, connectionsClosed };
}

/** Per tenant: is a connector connected, which version, when last seen, and whether it is resting between check-ins. */
export interface ConnectorState {
  tenantId: string;
  online: boolean;
  connectorVersion?: string;
  connectedAt?: string;
  /** Now when online; otherwise when its last connection ended. */
  lastSeen?: string;
  /** Its presence (the tenant's own, else the stack's; "always" on a stack older than presence). */
  presence: PresenceMode;
  /** Not connected, but a check-in connector between check-ins (not overdue): not offline. */
  resting: boolean;
  /** In one line: "checks in every 60 min, last seen 12 min ago", "connected", "offline, last seen 3 h ago". */
  state: string;
}

export async function connectorStates(fleet: Fleet, tenants: readonly TenantRecord[], now = new Date()): Promise<ConnectorState[]> {
  const settings = stackPresence(fleet);
  const checkInSeconds = settings?.checkInSeconds ?? 3600;
  return Promise.all(
    tenants.map(async (tenant) => {
      // The service's connection: a doctor's probe or a restore's own connection is not the connector being online.
      const live = (await fleet.connections.forTenant(tenant.tenantId)).find((c) => c.purpose === undefined);
      const presence = settings ? presenceMode(tenant, settings) : 'always';
      const state = describePresence(
        presence,
        checkInSeconds,
        { connectedAt: live?.connectedAt, lastSeen: tenant.lastDisconnectedAt },
        now,
      );
      return live
        ? {
            tenantId: tenant.tenantId,
            online: true,
            connectorVersion: live.connectorVersion,
            connectedAt: live.connectedAt,
            lastSeen: now.toISOString(),
            presence,
            resting: false,
            state,
          }
        : {
            tenantId: tenant.tenantId,
            online: false,
            lastSeen: tenant.lastDisconnectedAt,
            presence,
            resting: !checkInOverdue(presence, checkInSeconds, tenant.lastDisconnectedAt, now),
            state,
          };
    }),
  );
}

/** What `tenants list|show` prints for a tenant (never its keys' material or activation hash). */
export function tenantView(tenant: TenantRecord) {
  return {
    tenantId: tenant.tenantId,
    name: tenant.displayName,
    enabled: tenant.enabled,
    online: tenant.online === true,
    backupHour: tenant.backupHour,
    backupTime:
      tenant.backupHour === undefined
        ? undefined
        : `${String(tenant.backupHour).padStart(2, '0')}:${String(tenant.backupMinute ?? 0).padStart(2, '0')}`,
    bandwidth: tenant.bandwidth,
    /** The tenant's own presence (always, check-in); undefined: the stack's. */
    presence: tenant.presence,
    /** The tenant's own backup window (seconds, 0: none); undefined: the stack's. */
    backupWindowSeconds: tenant.backupWindowSeconds,
    /** An archive being sent over several nights (core/seeding.ts). */
    seeding: tenant.seeding,
    createdAt: tenant.createdAt,
    lastSuccessAt: tenant.lastSuccessAt,
    lastRunId: tenant.lastRunId,
    lastDrill: tenant.lastDrill,
    connectorKeys: tenant.keys.map((k) => ({ keyId: k.keyId, status: k.status, createdAt: k.createdAt })),
    activation: tenant.activation && { expiresAt: tenant.activation.expiresAt, usedAt: tenant.activation.usedAt },
  };
}
