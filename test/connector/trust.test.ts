import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { loadConnectorConfig } from '../../connector/src/config';
import { pemCertificates, trustCertificateAuthorities } from '../../connector/src/trust';
import { makeSelfSignedCertificate } from '../../local/cloud/local-tls';
import { writeConnectorConfigFile } from '../helpers/connector-config';

const dir = mkdtempSync(path.join(tmpdir(), 'so-trust-'));
const canAdd = typeof (tls as { setDefaultCACertificates?: unknown }).setDefaultCACertificates === 'function';

describe('extra certificate authorities (caFile)', () => {
  test('a PEM file is read certificate by certificate; a file without one, or with a broken one, is named', () => {
    makeSelfSignedCertificate({
      keyFile: path.join(dir, 'ca.key'),
      certFile: path.join(dir, 'ca.pem'),
      days: 2,
      subject: '/CN=so-backup local CA',
    });
    const pem = readFileSync(path.join(dir, 'ca.pem'), 'utf8');
    expect(pemCertificates(`${pem}\n${pem}`, 'two.pem')).toHaveLength(2);
    expect(() => pemCertificates('hello', 'ca.txt')).toThrow('ca.txt holds no PEM certificate');
    expect(() => pemCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'bad.pem')).toThrow(
      /bad.pem holds a certificate that cannot be read/,
    );
  });

  test("the configuration's caFile is trusted by every TLS connection (Node.js ≥ 22.19, as in so-connector.exe); older Node.js is told to use NODE_EXTRA_CA_CERTS", () => {
    const ca = path.join(dir, 'ca.pem');
    const config = writeConnectorConfigFile(dir, { caFile: ca });
    if (canAdd) {
      expect(loadConnectorConfig(config).caFile).toBe(ca);
      const added = (tls as unknown as { getCACertificates(kind: string): string[] }).getCACertificates('default');
      expect(added.map((pem) => pem.trim())).toContain(readFileSync(ca, 'utf8').trim());
    } else {
      expect(() => loadConnectorConfig(config)).toThrow(
        `caFile needs Node.js 22.19 or newer (this is ${process.version}; so-connector.exe has it): with this Node.js set NODE_EXTRA_CA_CERTS=${ca}`,
      );
    }
    expect(() => trustCertificateAuthorities(path.join(dir, 'missing.pem'))).toThrow(/cannot read the CA file .*missing.pem/);
  });
});
