// `npm run build:connector`: the connector for the customer's server — one bundled file for Node.js
// (Linux, or Windows by hand), and for Windows so-connector.exe (no Node.js needed) and its MSI.
import { Command } from 'commander';
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONNECTOR_VERSION } from '../connector/src/version';
import { EXE_NODE_OPTIONS } from '../connector/src/install/service-definition';
import { sign, type SigningCertificate } from './build/authenticode';
import { msiSource, PUBLIC_PROPERTIES } from './build/msi-source';
import { finishMsi } from './build/msi-tables';
import { buildConnectorExe, PRODUCT, versionParts } from './build/windows-exe';
import { windowsToolchain } from './build/windows-toolchain';

const root = path.resolve(__dirname, '..');
const log = (line: string) => process.stdout.write(`${line}\n`);
const mib = (file: string) => `${(statSync(file).size / 1048576).toFixed(1)} MiB`;

interface BuildOptions {
  out: string;
  windows: boolean;
  signPkcs12?: string;
  signPasswordFile?: string;
  signTimestampUrl?: string;
  requireSigning?: boolean;
}

async function main(options: BuildOptions): Promise<void> {
  const out = path.resolve(options.out);
  const version = require(path.join(root, 'package.json')).version as string;
  if (version !== CONNECTOR_VERSION) {
    throw new Error(`package.json says version ${version} but connector/src/version.ts says ${CONNECTOR_VERSION}: make them the same`);
  }
  mkdirSync(out, { recursive: true });
  const bundle = path.join(out, 'so-connector.js');
  await build({
    entryPoints: [path.join(root, 'connector', 'src', 'bin', 'so-connector.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    minify: false,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  copyFileSync(path.join(root, 'docs', 'connector-install.md'), path.join(out, 'INSTALL.md'));
  writeFileSync(path.join(out, 'VERSION'), `${version}\n`);
  log(`built ${path.relative(root, bundle)}`);
  if (!options.windows) return;

  const certificate = signingCertificate(options);
  if (!certificate && options.requireSigning) {
    throw new Error(
      'signing is required (--require-signing or SO_BACKUP_SIGN_REQUIRED=1) but no certificate is given: set SO_BACKUP_SIGN_PKCS12 (and SO_BACKUP_SIGN_PASSWORD_FILE), or pass --sign-pkcs12',
    );
  }
  versionParts(version);
  const toolchain = windowsToolchain(root, log);
  const windowsOut = path.join(out, 'windows');
  const msi = path.join(out, `so-connector-${version}-x64.msi`);
  const exe = path.join(windowsOut, PRODUCT.exeName);
  const koffi = path.join(windowsOut, 'koffi.node');
  // An unsigned build whose inputs are those of the last one is that build: reused (CI builds before
  // its Wine e2e; a developer runs the e2e again). Signed builds are always made afresh.
  const inputs = windowsInputs(bundle, version);
  const stamp = path.join(windowsOut, '.inputs-sha256');
  if (!certificate && [exe, koffi, msi].every((file) => existsSync(file)) && existsSync(stamp) && readFileSync(stamp, 'utf8') === inputs) {
    log(
      `reused ${path.relative(root, exe)} and ${path.relative(root, msi)}: built from the same sources (inputs sha256 ${inputs.slice(0, 12)}…)`,
    );
    log(
      'NOT SIGNED: no code-signing certificate given (SO_BACKUP_SIGN_PKCS12). Windows SmartScreen will warn about the exe and the MSI; sign release builds.',
    );
    return;
  }
  rmSync(windowsOut, { recursive: true, force: true });
  mkdirSync(windowsOut, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), 'so-connector-build-'));
  try {
    await buildConnectorExe(toolchain, { bundle, version, workDir: work, output: exe });
    copyFileSync(toolchain.koffiNode, koffi);
    if (certificate) {
      sign(exe, certificate, PRODUCT.name);
      sign(koffi, certificate, PRODUCT.name);
    }
    log(
      `built ${path.relative(root, exe)} (${mib(exe)}, Node.js ${require(path.join(toolchain.nodeExe, '..', '..', 'package.json')).version}, options built in: ${EXE_NODE_OPTIONS.join(' ')})`,
    );

    const wxs = path.join(work, 'so-connector.wxs');
    // wixl reads sources by paths relative to where it runs.
    writeFileSync(wxs, msiSource({ version, exe: path.relative(out, exe), koffi: path.relative(out, koffi), guide: 'INSTALL.md' }));
    const wixl = spawnSync('wixl', ['--arch', 'x64', '-o', msi, wxs], { cwd: out, encoding: 'utf8' });
    if (wixl.error)
      throw new Error(
        (wixl.error as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'wixl is not installed: apt-get install wixl (Debian)'
          : `wixl failed: ${wixl.error.message}`,
      );
    // wixl ignores what it does not know with a warning: the MSI would silently lack it.
    const warnings = wixl.stderr.split('\n').filter((line) => /WARNING|CRITICAL/.test(line));
    if (wixl.status !== 0 || warnings.length > 0)
      throw new Error(`wixl failed or ignored part of the MSI source:\n${(warnings.join('\n') || wixl.stderr).trim()}`);
    finishMsi(msi, { secure: PUBLIC_PROPERTIES, exeFileKey: 'so_connector.exe', exeVersion: versionParts(version).join('.') });
    if (certificate) sign(msi, certificate, PRODUCT.name);
    else writeFileSync(stamp, inputs);
    log(`built ${path.relative(root, msi)} (${mib(msi)})`);
    log(
      certificate
        ? `signed so-connector.exe, koffi.node and the MSI with ${certificate.pkcs12}${certificate.timestampUrl ? `, time-stamped by ${certificate.timestampUrl}` : ' (no time stamp: the signature ends with the certificate)'}`
        : 'NOT SIGNED: no code-signing certificate given (SO_BACKUP_SIGN_PKCS12). Windows SmartScreen will warn about the exe and the MSI; sign release builds.',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * SHA-256 over everything the exe and the MSI are made of: the bundle, the install guide, the
 * pinned Windows runtime and blob writer (their lockfiles), the version, the Node options, and the
 * build's own code (this file and scripts/build/*.ts, which hold the MSI source and its post-steps).
 */
function windowsInputs(bundle: string, version: string): string {
  const hash = createHash('sha256');
  const add = (label: string, data: string | Buffer) => hash.update(`${label}\0${data.length}\0`).update(data);
  add('bundle', readFileSync(bundle));
  add('guide', readFileSync(path.join(root, 'docs', 'connector-install.md')));
  for (const lock of ['runtime', 'blob-writer'])
    add(lock, readFileSync(path.join(root, 'connector', 'windows', lock, 'package-lock.json')));
  add('version', version);
  add('execArgv', JSON.stringify(EXE_NODE_OPTIONS));
  add('build-connector.ts', readFileSync(__filename));
  for (const file of readdirSync(path.join(root, 'scripts', 'build')).sort())
    add(file, readFileSync(path.join(root, 'scripts', 'build', file)));
  return hash.digest('hex');
}

function signingCertificate(options: BuildOptions): SigningCertificate | undefined {
  const pkcs12 = options.signPkcs12 ?? process.env.SO_BACKUP_SIGN_PKCS12;
  if (!pkcs12) return undefined;
  return {
    pkcs12: path.resolve(pkcs12),
    passwordFile: options.signPasswordFile ?? process.env.SO_BACKUP_SIGN_PASSWORD_FILE,
    timestampUrl: options.signTimestampUrl ?? process.env.SO_BACKUP_SIGN_TIMESTAMP_URL,
  };
}

new Command('build-connector')
  .description('build dist/so-connector: so-connector.js, and for Windows so-connector.exe and so-connector-<version>-x64.msi')
  .option('--out <dir>', 'output folder', path.join(root, 'dist', 'so-connector'))
  .option('--no-windows', 'only the bundled so-connector.js (no exe, no MSI)')
  .option('--sign-pkcs12 <file>', 'code-signing certificate with its key (.pfx); env SO_BACKUP_SIGN_PKCS12')
  .option('--sign-password-file <file>', 'file holding the .pfx password; env SO_BACKUP_SIGN_PASSWORD_FILE')
  .option('--sign-timestamp-url <url>', 'RFC 3161 time-stamping server; env SO_BACKUP_SIGN_TIMESTAMP_URL')
  .option('--require-signing', 'fail when no certificate is given (release builds); env SO_BACKUP_SIGN_REQUIRED=1')
  .action((options: BuildOptions) =>
    main({ ...options, requireSigning: options.requireSigning ?? process.env.SO_BACKUP_SIGN_REQUIRED === '1' }),
  )
  .parseAsync()
  .catch((error: unknown) => {
    process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
