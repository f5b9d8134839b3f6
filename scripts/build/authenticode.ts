/**
 * Authenticode with Debian's osslsigncode: strip a signature before a binary is changed, sign a
 * finished exe, DLL or MSI when a certificate is given. The certificate is a PKCS#12 file (.pfx)
 * whose password is read from a file, never from the command line (it would show in `ps`).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Where the code-signing certificate comes from (see docs/connector-install.md, "Signing"). */
export interface SigningCertificate {
  /** PKCS#12 file holding the certificate, its chain and the private key. */
  readonly pkcs12: string;
  /** File whose first line is the PKCS#12 password; absent for a file without one. */
  readonly passwordFile?: string;
  /** RFC 3161 time-stamping server, so the signature outlives the certificate. @default none */
  readonly timestampUrl?: string;
}

export class SigningError extends Error {
  override readonly name = 'SigningError';
}

function osslsigncode(args: string[]): string {
  try {
    return execFileSync('osslsigncode', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new SigningError('osslsigncode is not installed: apt-get install osslsigncode');
    throw new SigningError(`osslsigncode ${args[0]} failed: ${`${e.stderr ?? ''}${e.stdout ?? ''}`.trim()}`);
  }
}

/** True when `file` carries an Authenticode signature (valid or not). */
export function isSigned(file: string): boolean {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-signature-'));
  try {
    // osslsigncode will not write over an existing file, not even /dev/null.
    osslsigncode(['extract-signature', '-in', file, '-out', path.join(dir, 'signature.der')]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Copies `input` to `output` without its Authenticode signature. A signed node.exe must lose its
 * signature before resources or the SEA blob are added: the old signature would no longer match
 * (Windows then reports the file as tampered with), and its certificate table would sit inside the
 * data postject and resedit rewrite.
 */
export function removeSignature(input: string, output: string): void {
  if (!isSigned(input)) {
    copyFileSync(input, output);
    return;
  }
  osslsigncode(['remove-signature', '-in', input, '-out', output]);
}

/** Signs `file` in place (SHA-256), naming the product and its description URL in the signature. */
export function sign(file: string, certificate: SigningCertificate, description: string): void {
  if (!existsSync(certificate.pkcs12)) throw new SigningError(`the signing certificate ${certificate.pkcs12} does not exist`);
  if (certificate.passwordFile && !existsSync(certificate.passwordFile))
    throw new SigningError(`the password file ${certificate.passwordFile} does not exist`);
  const signed = `${file}.signed`;
  osslsigncode([
    'sign',
    '-pkcs12',
    certificate.pkcs12,
    ...(certificate.passwordFile ? ['-readpass', certificate.passwordFile] : []),
    '-h',
    'sha256',
    '-n',
    description,
    ...(certificate.timestampUrl ? ['-ts', certificate.timestampUrl] : []),
    '-in',
    file,
    '-out',
    signed,
  ]);
  renameSync(signed, file);
}

/** The signer's subject as osslsigncode reports it, e.g. "/CN=so-backup test"; throws when unsigned. */
export function signerSubject(file: string, caFile?: string): string {
  let output: string;
  try {
    output = osslsigncode(['verify', ...(caFile ? ['-CAfile', caFile] : []), '-in', file]);
  } catch (error) {
    // Without the CA, verification of a chain fails but the signer is still printed.
    output = String((error as Error).message);
  }
  const subject = /Signer's certificate:[\s\S]*?Subject: (.+)/.exec(output)?.[1];
  if (!subject) throw new SigningError(`${file} is not signed`);
  return subject.trim();
}
