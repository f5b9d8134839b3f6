import { constants as fsConstants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { handshake } from '../link/handshake';
import { AUTH_WINDOW_SECONDS } from '../../../protocol';
import { bandwidthInForce, describeInForce, readTenantSettings } from '../bandwidth';
import type { ConnectorConfig } from '../config';
import type { DatabaseServer } from '../sql/database-server';
import { describePresenceStatus, presenceStatusHealthy, readPresenceStatus } from '../link/presence-controller';
import { checkArchiveRoot, type FolderProbe } from './archive-root-check';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do when the check fails. */
  fix?: string;
}

export interface DoctorDeps {
  config: ConnectorConfig;
  /** The Authorization header for a test connection. */
  authorization(): string;
  databaseServer?: DatabaseServer;
  now?: () => number;
  /** Lists a folder (injected in tests to meet errors this machine cannot produce). */
  listFolder?: FolderProbe;
}

const EXPRESS = 4;

/** Every check the connector depends on, each with a fix when it fails. Never throws. */
export async function runDoctor(deps: DoctorDeps): Promise<Check[]> {
  const checks: Check[] = [];
  const add = async (name: string, run: () => Promise<Omit<Check, 'name'>>) => {
    try {
      checks.push({ name, ...(await run()) });
    } catch (error) {
      checks.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  };
  const { config } = deps;

  await add('cloud endpoint and authentication', () => probeEndpoint(config.endpoint, deps.authorization(), deps.now ?? Date.now));
  // The running service's connection as it last wrote it: a check-in connector is away most of the time, and that is
  // not a fault; a stopped service, or one overdue for its check-in, is (T18 #3: a stopped one was ticked).
  await add('service connection', async () => {
    const status = await readPresenceStatus(config.stateDir);
    const now = deps.now?.() ?? Date.now();
    const ok = presenceStatusHealthy(status, now);
    return {
      ok,
      detail: `${describePresenceStatus(status, now)}${ok ? '' : ': start the so-connector service (Windows: `sc start so-connector`; Linux: `systemctl start so-connector`); no backup runs while it is stopped'}`,
    };
  });
  const db = deps.databaseServer;
  if (config.sql && db) {
    let estimate = 0;
    await add('SQL Server login', async () => {
      const info = await db.describe();
      const express = info.engineEdition === EXPRESS;
      return {
        ok: true,
        detail: `${info.serverName}: ${info.edition} ${info.productVersion}${express ? ' (Express: no compression, no SQL Agent — fine, so-backup schedules)' : ''}`,
      };
    });
    for (const database of config.sql.databases) {
      await add(`database ${database}`, async () => {
        if (!(await db.databaseExists(database)))
          return { ok: false, detail: 'not found', fix: 'check sql.databases in the configuration' };
        const canBackUp = await db.canBackUp(database);
        estimate += await db.allocatedBytes(database);
        return canBackUp
          ? { ok: true, detail: 'exists; the login may back it up' }
          : {
              ok: false,
              detail: 'the login lacks BACKUP DATABASE permission',
              fix: `add the login to db_backupoperator in ${database} (or db_owner / sysadmin)`,
            };
      });
    }
    await add('staging folder', async () => {
      await access(config.sql!.stagingFolder, fsConstants.W_OK | fsConstants.R_OK);
      const space = await statfs(config.sql!.stagingFolder);
      const free = space.bavail * space.bsize;
      const ok = free >= estimate;
      return {
        ok,
        detail: `${gib(free)} free, backups need up to ${gib(estimate)}; SQL Server's service account must be able to write here`,
        fix: ok ? undefined : `free ${gib(estimate - free)} in ${config.sql!.stagingFolder} or point sql.stagingFolder at a larger disk`,
      };
    });
  }
  for (const root of config.archive?.roots ?? []) await add(`archive root ${root.name}`, () => checkArchiveRoot(root, deps.listFolder));
  await add('bandwidth limit', () => bandwidthCheck(config, new Date(deps.now?.() ?? Date.now())));
  return checks;
}

/** The limit in force now and where it comes from: the configuration file, the tenant's setting as the service last received it (kept in stateDir), or neither. */
async function bandwidthCheck(config: ConnectorConfig, now: Date): Promise<Omit<Check, 'name'>> {
  const tenant = await readTenantSettings(config.stateDir);
  const limit = bandwidthInForce(config.bandwidth, tenant?.bandwidth ?? null, now);
  const received = tenant
    ? `tenant's setting ${tenant.bandwidth === null ? 'none' : 'received'} at ${tenant.receivedAt}`
    : 'no tenant setting received yet (the service asks for it each time it connects)';
  return { ok: true, detail: `${describeInForce(limit, { config: config.bandwidth, tenant: tenant?.bandwidth })}; ${received}` };
}

async function probeEndpoint(endpoint: string, authorization: string, now: () => number): Promise<Omit<Check, 'name'>> {
  const outcome = await handshake({ endpoint, authorization, handshakeTimeoutMs: 15_000, purpose: 'doctor' });
  if (outcome.kind === 'unreachable')
    return {
      ok: false,
      detail: `cannot reach ${endpoint}: ${outcome.error.message}`,
      fix: 'allow outbound HTTPS (443) to the endpoint; check proxy and DNS',
    };
  if (outcome.kind !== 'open') {
    const refused = outcome.kind === 'refused';
    return {
      ok: false,
      detail: refused ? `refused (HTTP ${outcome.status})` : `HTTP ${outcome.status} instead of a WebSocket`,
      fix: refused
        ? 'the key may be revoked or the tenant disabled, or the clock is off by more than 5 minutes; ask the operator, or enrol again'
        : 'check the endpoint URL',
    };
  }
  outcome.socket.close(1000, 'doctor');
  const skew = outcome.serverDate ? Math.round((now() - Date.parse(outcome.serverDate)) / 1000) : undefined;
  if (skew !== undefined && Math.abs(skew) > AUTH_WINDOW_SECONDS / 2) {
    return {
      ok: false,
      detail: `connected, but this clock is ${skew} s off the cloud's`,
      fix: 'synchronise the clock (w32tm /resync, or NTP); beyond ±300 s connections are refused',
    };
  }
  return { ok: true, detail: `connected and authenticated${skew !== undefined ? `; clock within ${Math.abs(skew)} s` : ''}` };
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 3 : 1)} GiB`;

/** The ✓/✗ table for people. */
export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks
    .map(
      (c) => `${c.ok ? '✓' : '✗'} ${c.name.padEnd(width)}  ${c.detail}${!c.ok && c.fix ? `\n  ${' '.repeat(width)}  fix: ${c.fix}` : ''}`,
    )
    .join('\n');
}
