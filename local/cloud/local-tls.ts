import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Local mode's TLS: its own CA, and one server certificate for 127.0.0.1 and localhost signed by it. */
export interface LocalTls {
  dir: string;
  /** The CA certificate to trust (NODE_EXTRA_CA_CERTS, the SDK's https agent, `aws --ca-bundle`). */
  caFile: string;
  ca: string;
  cert: string;
  key: string;
}

/** What `openssl req -x509` is asked for: where the key and certificate go, the subject and the extensions. */
export interface SelfSignedCertificateRequest {
  /** Where the new unencrypted RSA 2048-bit private key is written (PEM). */
  keyFile: string;
  /** Where the self-signed X.509 certificate is written (PEM). */
  certFile: string;
  /** Validity, in days from now. */
  days: number;
  /** The subject in OpenSSL's form, e.g. "/CN=so-backup local mode CA". */
  subject: string;
  /** X.509v3 extensions in OpenSSL's `-addext` form, e.g. "extendedKeyUsage=codeSigning". */
  extensions?: readonly string[];
}

/**
 * Makes a self-signed certificate and its key with `openssl req -x509` (local mode's CA; tests' signing
 * and CA certificates).
 * @throws Error from execFileSync when openssl is missing or fails (its stderr on the error says why)
 */
export function makeSelfSignedCertificate(request: SelfSignedCertificateRequest): void {
  const { keyFile, certFile, days, subject, extensions = [] } = request;
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      String(days),
      '-subj',
      subject,
      ...extensions.flatMap((extension) => ['-addext', extension]),
    ],
    { stdio: 'pipe' },
  );
}

/**
 * Makes (once per folder) a CA and a server certificate with OpenSSL, so that every local AWS
 * endpoint is served over TLS as AWS serves it: policies that demand aws:SecureTransport hold,
 * and clients verify the server as they would in AWS, against a CA they were told to trust.
 * Files: ca.crt, ca.key, server.crt, server.key (what scripts/ceph-rgw.sh expects).
 * @throws Error when openssl is missing or fails (its output says why)
 */
export function ensureLocalTls(dir: string): LocalTls {
  const file = (name: string) => path.join(dir, name);
  if (!['ca.crt', 'server.crt', 'server.key'].every((name) => existsSync(file(name)))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    try {
      makeSelfSignedCertificate({
        keyFile: file('ca.key'),
        certFile: file('ca.crt'),
        days: 3650,
        subject: '/CN=so-backup local mode CA',
        extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
      });
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
      writeFileSync(
        file('server.ext'),
        'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
      );
      openssl(
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'server.crt',
        '-days',
        '3650',
        '-extfile',
        'server.ext',
      );
    } catch (error) {
      const e = error as { stderr?: Buffer; message: string };
      throw new Error(
        `could not make local mode's TLS certificates in ${dir} with openssl (apt-get install openssl): ${e.stderr?.toString() || e.message}`,
      );
    }
  }
  return {
    dir,
    caFile: file('ca.crt'),
    ca: readFileSync(file('ca.crt'), 'utf8'),
    cert: readFileSync(file('server.crt'), 'utf8'),
    key: readFileSync(file('server.key'), 'utf8'),
  };
}
