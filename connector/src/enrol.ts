import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { handshake } from './link/handshake';
import { enrolAuthorization, newConnectorKeyPair, tenantIdSchema } from '../../protocol';
import { connectorConfigSchema } from './config';
import { ConfigError, ConnectorError } from './errors';
import { saveIdentity } from './identity';
import { trustCertificateAuthorities } from './trust';

export interface EnrolOptions {
  endpoint: string;
  /** "<tenant>:<activation code>" as the operator printed it. */
  code: string;
  config: string;
  stateDir: string;
  connectorVersion: string;
  sql?: string;
  database?: string[];
  staging?: string;
  archive?: Array<{ name: string; path: string }>;
  /** PEM file of extra CAs to trust (kept in the configuration as caFile). */
  caFile?: string;
  /**
   * Only the checks that need no endpoint (code format, a valid configuration, not enrolled
   * already, the CA file): the MSI runs them before it stops a running service, so that a refused
   * enrolment leaves the installed connector as it was. Nothing is written; the code is not used.
   */
  checkOnly?: boolean;
}

/**
 * Enrolment: generate a key pair here (the private key never leaves this server), present the
 * public key with the one-time activation code on $connect, and on success write the identity
 * (mode 0600) and a validated configuration.
 */
export async function enrolConnector(options: EnrolOptions): Promise<{ tenantId: string; keyId: string; configFile: string }> {
  if (!options.endpoint?.trim())
    throw new ConfigError('no endpoint: give the wss:// endpoint from the operator (--endpoint, or the MSI property ENDPOINT)');
  const match = /^([a-z0-9][a-z0-9-]{1,62}):([A-Za-z0-9-]{8,64})$/.exec(options.code.trim());
  if (!match || !tenantIdSchema.safeParse(match[1]).success)
    throw new ConfigError('the activation code must look like tenant:XXXXX-XXXXX-XXXXX-XXXXX');
  const tenantId = match[1]!;
  const code = match[2]!.toUpperCase();
  const stateDir = path.resolve(options.stateDir);
  const identityFile = path.join(stateDir, 'identity.json');
  const configFile = path.resolve(options.config);
  // First: over an enrolled connector this is the reason, whatever else the arguments lack.
  if (existsSync(identityFile)) throw new ConfigError(`${identityFile} exists: this server is enrolled already. Remove it to enrol again.`);
  const config = connectorConfigSchema.safeParse({
    endpoint: options.endpoint,
    tenantId,
    identityFile,
    stateDir,
    ...(options.caFile ? { caFile: path.resolve(options.caFile) } : {}),
    ...(options.sql
      ? {
          sql: {
            connectionString: options.sql,
            databases: options.database?.length ? options.database : ['SuperOffice'],
            stagingFolder: options.staging ? path.resolve(options.staging) : path.join(stateDir, 'staging'),
          },
        }
      : {}),
    ...(options.archive?.length ? { archive: { roots: options.archive.map((r) => ({ name: r.name, path: path.resolve(r.path) })) } } : {}),
  });
  if (!config.success) {
    throw new ConfigError(
      `cannot write a valid configuration: ${config.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`,
    );
  }
  if (config.data.caFile) trustCertificateAuthorities(config.data.caFile);
  if (options.checkOnly) return { tenantId, keyId: '', configFile };

  const pair = newConnectorKeyPair();
  const outcome = await handshake({
    endpoint: options.endpoint,
    authorization: enrolAuthorization(tenantId, code, pair.keyId, pair.publicKeyPem),
    connectorVersion: options.connectorVersion,
    handshakeTimeoutMs: 30_000,
    purpose: 'enrol',
  });
  if (outcome.kind === 'refused')
    throw new ConnectorError(
      'ENROLMENT_REFUSED',
      'the activation code was refused: it is wrong, already used or expired (codes last 24 hours), or the tenant is disabled. Ask the operator for a new code.',
      { permanent: true },
    );
  if (outcome.kind === 'not-upgraded')
    throw new ConnectorError('ENROLMENT_FAILED', `the endpoint answered HTTP ${outcome.status}; check --endpoint`);
  if (outcome.kind === 'unreachable')
    throw new ConnectorError('ENDPOINT_UNREACHABLE', `cannot reach ${options.endpoint}: ${outcome.error.message}`, {
      cause: outcome.error,
    });
  outcome.socket.close(1000, 'enrolled');
  await mkdir(stateDir, { recursive: true });
  await saveIdentity(identityFile, {
    tenantId,
    current: { keyId: pair.keyId, privateKeyPem: pair.privateKeyPem, createdAt: new Date().toISOString() },
  });
  await mkdir(path.dirname(configFile), { recursive: true });
  await writeFile(configFile, JSON.stringify(config.data, null, 2), { mode: 0o600 });
  return { tenantId, keyId: pair.keyId, configFile };
}
