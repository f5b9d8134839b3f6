import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * The connector's credential for the walking skeleton: "<tenant id>.<secret>", sent as a Bearer
 * token on $connect. The cloud stores only a salted scrypt hash, so a stolen table row does not
 * let anyone connect. (Key-pair signatures with replay protection replace this in enrolment.)
 */
const SCRYPT = { N: 16384, r: 8, p: 1 } as const;

export function newTenantSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashTenantSecret(secret: string, salt = randomBytes(16)): string {
  const hash = scryptSync(secret, salt, 32, SCRYPT);
  return `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export function verifyTenantSecret(secret: string, stored: string): boolean {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = scryptSync(secret, Buffer.from(salt, 'base64url'), expected.length, SCRYPT);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Splits "Bearer <tenant>.<secret>"; undefined when the header is not of that shape. */
export function parseConnectorAuthorization(header: string | undefined): { tenantId: string; secret: string } | undefined {
  const match = /^Bearer ([a-z0-9][a-z0-9-]{1,62})\.([A-Za-z0-9_-]{20,200})$/.exec(header?.trim() ?? '');
  return match ? { tenantId: match[1]!, secret: match[2]! } : undefined;
}
