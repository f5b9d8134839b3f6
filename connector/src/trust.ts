/**
 * Extra certificate authorities the connector trusts for TLS (the WebSocket endpoint, S3), on top of
 * Node.js's bundled ones and — in so-connector.exe, started with --use-system-ca — the Windows
 * certificate store's. For a company CA that is not in the store, a TLS-inspecting proxy, or
 * local mode's own CA. Works in a single executable, where NODE_EXTRA_CA_CERTS (read once at
 * process start) would have to be set in the service's environment.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from './errors';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text`; none is an error naming the file. */
export function pemCertificates(text: string, file: string): string[] {
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new ConfigError(`${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const pem of certificates) {
    try {
      new (require('node:crypto') as typeof import('node:crypto')).X509Certificate(pem);
    } catch (cause) {
      throw new ConfigError(`${file} holds a certificate that cannot be read: ${(cause as Error).message}`, { cause });
    }
  }
  return certificates;
}

const trusted = new Set<string>();

/**
 * Adds the certificates of a PEM file to the CAs every TLS connection of this process trusts
 * (tls.setDefaultCACertificates, Node.js ≥ 22.19). Idempotent per file.
 * @throws ConfigError when the file cannot be read, holds no certificate, or this Node.js cannot add CAs.
 */
export function trustCertificateAuthorities(file: string): void {
  if (trusted.has(file)) return;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read the CA file ${file}: ${(cause as Error).message}`, { cause });
  }
  const extra = pemCertificates(text, file);
  const api = tls as typeof tls & {
    setDefaultCACertificates?: (certs: string[]) => void;
    getCACertificates?: (kind: 'default') => string[];
  };
  if (!api.setDefaultCACertificates || !api.getCACertificates) {
    throw new ConfigError(
      `caFile needs Node.js 22.19 or newer (this is ${process.version}; so-connector.exe has it): with this Node.js set NODE_EXTRA_CA_CERTS=${file} in the service's environment and leave caFile out`,
    );
  }
  api.setDefaultCACertificates([...api.getCACertificates('default'), ...extra]);
  trusted.add(file);
}
