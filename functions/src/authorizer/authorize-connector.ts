import { AUTH_WINDOW_SECONDS, parseConnectorAuthorization, verifyConnectorSignature } from '../../../protocol';
import { type ConnectorKey, hashActivationCode, type NonceStore, type TenantStore } from '../../../core';

export interface AuthorizationDecision {
  allowed: boolean;
  tenantId?: string;
  keyId?: string;
  /** Why a connector was refused, for the log (never sent to the client). */
  reason?: string;
}

export interface AuthorizeDeps {
  tenants: Pick<TenantStore, 'get' | 'updateKeys' | 'useActivation'>;
  nonces: Pick<NonceStore, 'useOnce'>;
  now?: () => Date;
}

const refuse = (reason: string, tenantId?: string): AuthorizationDecision => ({ allowed: false, reason, tenantId });

/**
 * $connect: a connector either signs a fresh timestamp and nonce with its enrolled Ed25519 key,
 * or enrols a new key with a one-time activation code. Replays, skewed clocks, unknown or removed
 * keys, disabled tenants, and expired, used or wrong codes are refused.
 */
export async function authorizeConnector(deps: AuthorizeDeps, header: string | undefined): Promise<AuthorizationDecision> {
  const auth = parseConnectorAuthorization(header);
  if (!auth) return refuse('missing or malformed Authorization header');
  const now = deps.now?.() ?? new Date();
  const tenant = await deps.tenants.get(auth.tenantId);
  if (!tenant) return refuse('unknown tenant', auth.tenantId);
  if (!tenant.enabled) return refuse('tenant disabled', tenant.tenantId);

  if (auth.scheme === 'enrol') {
    const activation = tenant.activation;
    if (!activation || activation.codeHash !== hashActivationCode(auth.code)) return refuse('wrong activation code', tenant.tenantId);
    if (activation.usedAt) return refuse('activation code already used', tenant.tenantId);
    if (Date.parse(activation.expiresAt) < now.getTime()) return refuse('activation code expired', tenant.tenantId);
    const key: ConnectorKey = { keyId: auth.keyId, publicKey: auth.publicKey, status: 'active', createdAt: now.toISOString() };
    if (!(await deps.tenants.useActivation(tenant.tenantId, activation.codeHash, now.toISOString(), key)))
      return refuse('activation code already used', tenant.tenantId);
    return { allowed: true, tenantId: tenant.tenantId, keyId: key.keyId };
  }

  const key = tenant.keys.find((k) => k.keyId === auth.keyId);
  if (!key) return refuse('unknown or revoked key', tenant.tenantId);
  const skew = Math.round(now.getTime() / 1000 - auth.timestamp);
  if (Math.abs(skew) > AUTH_WINDOW_SECONDS) {
    return refuse(`clock skew of ${skew} s exceeds ±${AUTH_WINDOW_SECONDS} s; set the connector server's clock (NTP)`, tenant.tenantId);
  }
  if (!verifyConnectorSignature(auth, key.publicKey)) return refuse('bad signature', tenant.tenantId);
  if (!(await deps.nonces.useOnce(tenant.tenantId, auth.nonce, auth.timestamp + 2 * AUTH_WINDOW_SECONDS)))
    return refuse('replayed nonce', tenant.tenantId);
  if (key.status === 'pending') {
    // First use of a rotated key confirms it: it becomes the only key, the old one stops working.
    const promoted = await deps.tenants.updateKeys(tenant, [{ ...key, status: 'active' }]);
    if (!promoted) return refuse('key rotation raced with another change; retry', tenant.tenantId);
  }
  return { allowed: true, tenantId: tenant.tenantId, keyId: key.keyId };
}
