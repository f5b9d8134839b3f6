import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { tenantIdSchema } from './envelope';

/**
 * How a connector proves itself on $connect, in the Authorization header:
 *   SoBackup-Ed25519 tenant=<t>,key=<key id>,ts=<unix seconds>,nonce=<random>,sig=<base64url>
 *     the Ed25519 signature over "so-backup-connect\n<t>\n<key id>\n<ts>\n<nonce>"; the cloud
 *     keeps only public keys, accepts a timestamp within ±5 minutes and each nonce once.
 *   SoBackup-Enrol tenant=<t>,code=<activation code>,key=<key id>,pub=<base64url SPKI DER>
 *     first contact: a one-time activation code registers the connector's public key.
 */
export const AUTH_WINDOW_SECONDS = 300;

export type ConnectorAuthorization =
  | { scheme: 'signature'; tenantId: string; keyId: string; timestamp: number; nonce: string; signature: string }
  | { scheme: 'enrol'; tenantId: string; code: string; keyId: string; publicKey: string };

export function signingString(tenantId: string, keyId: string, timestamp: number, nonce: string): string {
  return `so-backup-connect\n${tenantId}\n${keyId}\n${timestamp}\n${nonce}`;
}

export function signatureAuthorization(tenantId: string, keyId: string, privateKeyPem: string, now = Date.now()): string {
  const timestamp = Math.floor(now / 1000);
  const nonce = randomBytes(16).toString('base64url');
  const signature = sign(null, Buffer.from(signingString(tenantId, keyId, timestamp, nonce)), createPrivateKey(privateKeyPem)).toString(
    'base64url',
  );
  return `SoBackup-Ed25519 tenant=${tenantId},key=${keyId},ts=${timestamp},nonce=${nonce},sig=${signature}`;
}

export function enrolAuthorization(tenantId: string, code: string, keyId: string, publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return `SoBackup-Enrol tenant=${tenantId},code=${code},key=${keyId},pub=${der.toString('base64url')}`;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Parses the header; undefined when it is not one of our two schemes or a field is malformed. */
export function parseConnectorAuthorization(header: string | undefined): ConnectorAuthorization | undefined {
  const match = /^(SoBackup-Ed25519|SoBackup-Enrol) (.+)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const fields = new Map<string, string>();
  for (const part of match[2]!.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) return undefined;
    fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const tenantId = fields.get('tenant') ?? '';
  const keyId = fields.get('key') ?? '';
  if (!tenantIdSchema.safeParse(tenantId).success || !TOKEN.test(keyId) || keyId.length > 64) return undefined;
  if (match[1] === 'SoBackup-Enrol') {
    const code = fields.get('code') ?? '';
    const publicKey = fields.get('pub') ?? '';
    if (!/^[A-Z0-9-]{8,64}$/.test(code) || !TOKEN.test(publicKey) || publicKey.length > 200) return undefined;
    return { scheme: 'enrol', tenantId, code, keyId, publicKey };
  }
  const timestamp = Number(fields.get('ts'));
  const nonce = fields.get('nonce') ?? '';
  const signature = fields.get('sig') ?? '';
  if (!Number.isInteger(timestamp) || !TOKEN.test(nonce) || nonce.length < 16 || nonce.length > 64 || !TOKEN.test(signature))
    return undefined;
  return { scheme: 'signature', tenantId, keyId, timestamp, nonce, signature };
}

/** Checks an Ed25519 signature with a public key given as base64url SPKI DER. */
export function verifyConnectorSignature(auth: Extract<ConnectorAuthorization, { scheme: 'signature' }>, publicKeyDer: string): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKeyDer, 'base64url'), format: 'der', type: 'spki' });
    return verify(
      null,
      Buffer.from(signingString(auth.tenantId, auth.keyId, auth.timestamp, auth.nonce)),
      key,
      Buffer.from(auth.signature, 'base64url'),
    );
  } catch {
    return false;
  }
}

/** A new Ed25519 key pair for a connector, with a short random key id. */
export function newConnectorKeyPair(): { keyId: string; privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId: `k${randomBytes(6).toString('hex')}`,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function publicKeyDerOf(publicKeyPem: string): string {
  return createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }).toString('base64url');
}

/**
 * Why a connection other than the service's own is opened, sent as the `X-Connector-Purpose`
 * header: an enrolment, `so-connector doctor`'s probe, or `so-connector restore`'s own connection.
 * The cloud hands backup jobs and drills only to the service's connections (no purpose), and a
 * probe's end is not the connector being seen (the offline check goes by the service's).
 */
export const CONNECTION_PURPOSE_HEADER = 'X-Connector-Purpose';
export const connectionPurposeSchema = z.enum(['enrol', 'doctor', 'restore']);
export type ConnectionPurpose = z.infer<typeof connectionPurposeSchema>;
