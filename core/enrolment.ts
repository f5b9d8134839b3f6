import type { Delivery } from './connection-messages';
import type { ConnectionRecord, TenantRecord, TenantStore } from './stores';
import { hashActivationCode, newActivationCode } from './tenant-credential';

/** How long an activation code is valid. */
export const ACTIVATION_CODE_HOURS = 24;

/**
 * Issues a one-time activation code for a tenant (replacing any earlier one). The code is
 * returned once and stored only as a hash; it expires after 24 hours and works once.
 */
export async function createActivationCode(
  tenants: Pick<TenantStore, 'get' | 'setActivation'>,
  tenantId: string,
  now = new Date(),
): Promise<{ code: string; expiresAt: string }> {
  if (!(await tenants.get(tenantId))) throw new Error(`tenant "${tenantId}" does not exist`);
  const code = newActivationCode();
  const expiresAt = new Date(now.getTime() + ACTIVATION_CODE_HOURS * 3600_000).toISOString();
  await tenants.setActivation(tenantId, { codeHash: hashActivationCode(code), expiresAt });
  return { code, expiresAt };
}

/** A new tenant record: enabled, no keys yet (the connector enrols with an activation code). */
export function newTenant(tenantId: string, displayName: string, now = new Date()): TenantRecord {
  return { tenantId, displayName, enabled: true, keys: [], createdAt: now.toISOString() };
}

export interface RevocationDeps {
  tenants: Pick<TenantStore, 'get' | 'updateKeys' | 'setEnabled'>;
  connections: { forTenant(tenantId: string): Promise<ConnectionRecord[]> };
  /** Closes a live connection (API Gateway DeleteConnection). */
  close(connectionId: string): Promise<void>;
}

/** Removes a connector key; its open connections are closed at once. */
export async function revokeConnectorKey(deps: RevocationDeps, tenantId: string, keyId: string): Promise<number> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const tenant = await deps.tenants.get(tenantId);
    if (!tenant) throw new Error(`tenant "${tenantId}" does not exist`);
    if (!tenant.keys.some((k) => k.keyId === keyId)) break;
    if (
      await deps.tenants.updateKeys(
        tenant,
        tenant.keys.filter((k) => k.keyId !== keyId),
      )
    )
      break;
  }
  return closeConnections(deps, tenantId, (c) => c.keyId === keyId);
}

/**
 * After a connection was authorized: closes the tenant's other open connections whose key is no
 * longer one of its keys (re-enrolment replaced them, or a rotation's first use retired the old
 * one), so a replaced key's session receives nothing more. Returns how many were closed.
 */
export async function closeReplacedKeySessions(deps: RevocationDeps, tenantId: string, exceptConnectionId: string): Promise<number> {
  const tenant = await deps.tenants.get(tenantId);
  const current = new Set((tenant?.keys ?? []).map((k) => k.keyId));
  return closeConnections(deps, tenantId, (c) => c.connectionId !== exceptConnectionId && !(c.keyId !== undefined && current.has(c.keyId)));
}

/** The tenant's service connections (not an enrolment's, doctor's or restore's) authenticated with one of its current keys (newest first): the only ones jobs and drills go to. */
export function connectionsOfCurrentKeys(tenant: Pick<TenantRecord, 'keys'>, connections: readonly ConnectionRecord[]): ConnectionRecord[] {
  const current = new Set(tenant.keys.map((k) => k.keyId));
  // Only the service's own connections take work: a doctor's probe or a restore's connection would drop a job.
  return connections.filter((c) => c.keyId !== undefined && current.has(c.keyId) && c.purpose === undefined);
}

/**
 * Sends one message to each of the tenant's live connections (a new setting, a cancelled job);
 * returns how many took it (a connection that is gone, or refuses, is not counted; postToConnection
 * forgets a gone one).
 */
export async function tellTenantConnectors(
  deps: {
    connections: { forTenant(tenantId: string): Promise<ConnectionRecord[]> };
    send(connectionId: string, message: string): Promise<Delivery>;
  },
  tenantId: string,
  message: string,
): Promise<number> {
  const told = await Promise.all(
    (await deps.connections.forTenant(tenantId)).map((c) =>
      deps.send(c.connectionId, message).then(
        (d) => (d === 'sent' ? 1 : 0),
        () => 0,
      ),
    ),
  );
  return told.reduce<number>((a, b) => a + b, 0);
}

/** Disables a tenant: no new connections, and the open ones are closed. */
export async function disableTenant(deps: RevocationDeps, tenantId: string): Promise<number> {
  await deps.tenants.setEnabled(tenantId, false);
  return closeConnections(deps, tenantId, () => true);
}

async function closeConnections(deps: RevocationDeps, tenantId: string, which: (c: ConnectionRecord) => boolean): Promise<number> {
  const open = (await deps.connections.forTenant(tenantId)).filter(which);
  await Promise.all(open.map((c) => deps.close(c.connectionId).catch(() => undefined)));
  return open.length;
}
