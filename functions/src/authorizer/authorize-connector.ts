import { parseConnectorAuthorization, type TenantStore, verifyTenantSecret } from '../shared';

export interface AuthorizationDecision {
  allowed: boolean;
  tenantId?: string;
  /** Why a connector was refused, for the log (never sent to the client). */
  reason?: string;
}

/** Checks the Authorization header against the tenant's stored credential hash. */
export async function authorizeConnector(tenants: Pick<TenantStore, 'get'>, authorization: string | undefined): Promise<AuthorizationDecision> {
  const credential = parseConnectorAuthorization(authorization);
  if (!credential) return { allowed: false, reason: 'missing or malformed Authorization header' };
  const tenant = await tenants.get(credential.tenantId);
  if (!tenant) return { allowed: false, tenantId: credential.tenantId, reason: 'unknown tenant' };
  if (!tenant.enabled) return { allowed: false, tenantId: tenant.tenantId, reason: 'tenant disabled' };
  if (!verifyTenantSecret(credential.secret, tenant.credentialHash)) return { allowed: false, tenantId: tenant.tenantId, reason: 'wrong credential' };
  return { allowed: true, tenantId: tenant.tenantId };
}
