import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signerSubject } from '../../../scripts/build/authenticode';
import { UPGRADE_CODE } from '../../../scripts/build/msi-source';
import { EXE_NODE_OPTIONS } from '../../../connector/src/install/service-definition';
import { versionParts } from '../../../scripts/build/windows-exe';
import { USER_NODE } from '../../../local/daemons';
import { makeSelfSignedCertificate } from '../../../local/cloud/local-tls';

/** The execArgv section a Node.js 22 SEA blob ends with: a count, then each option with its length (64-bit little-endian). */
function execArgvSection(options: readonly string[]): Buffer {
  const u64 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  return Buffer.concat([u64(options.length), ...options.flatMap((o) => [u64(Buffer.byteLength(o)), Buffer.from(o)])]);
}

/**
 * npm run build:connector for Windows, signed with a throwaway certificate: the exe (Node.js 22
 * SEA with the service's Node options inside, our version resource, Authenticode), koffi.node, and
 * the MSI's tables. That it installs and runs is scripts/windows-e2e.sh's part (Wine, in CI).
 */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const tools = ['wixl', 'msiinfo', 'osslsigncode', 'openssl'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (tools.length > 0 && process.env.CI === 'true')
  throw new Error(`missing ${tools.join(', ')}: scripts/test-prerequisites.sh installs them`);

(tools.length === 0 ? describe : describe.skip)('npm run build:connector for Windows', () => {
  jest.setTimeout(300_000);
  const dir = mkdtempSync(path.join(tmpdir(), 'so-connector-windows-build-'));
  const out = path.join(dir, 'dist');
  let stdout = '';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(() => {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    const password = path.join(dir, 'password.txt');
    writeFileSync(password, 'not-a-real-secret\n');
    makeSelfSignedCertificate({
      keyFile: key,
      certFile: cert,
      days: 2,
      subject: '/CN=so-backup test signing',
      extensions: ['extendedKeyUsage=codeSigning'],
    });
    execFileSync(
      'openssl',
      ['pkcs12', '-export', '-inkey', key, '-in', cert, '-out', path.join(dir, 'signing.pfx'), '-passout', `file:${password}`],
      { stdio: 'ignore' },
    );
    stdout = execFileSync(USER_NODE, ['--import', 'tsx', path.join(ROOT, 'scripts', 'build-connector.ts'), '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, SO_BACKUP_SIGN_PKCS12: path.join(dir, 'signing.pfx'), SO_BACKUP_SIGN_PASSWORD_FILE: password },
    });
  });

  test("the exe is Node.js 22 with the connector inside, the service's Node options in the SEA configuration, our version resource, and signed", () => {
    expect(stdout).toMatch(
      /built .*windows\/so-connector\.exe \(\d+\.\d MiB, Node\.js 22\.\d+\.\d+, options built in: --max-semi-space-size=8 --heap-growing-percent=50 --use-system-ca\)/,
    );
    expect(stdout).toContain('signed so-connector.exe, koffi.node and the MSI');
    const exe = path.join(out, 'windows', 'so-connector.exe');
    const bytes = readFileSync(exe);
    expect(bytes.includes('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1')).toBe(true); // the fuse postject flips
    const inspected = JSON.parse(
      execFileSync(USER_NODE, ['--import', 'tsx', path.join(ROOT, 'scripts', 'build', 'inspect-windows-exe.ts'), exe], {
        cwd: ROOT,
        encoding: 'utf8',
      }),
    ) as {
      version: Record<string, string>;
      seaBlob: { size: number; tailBase64: string; holdsTheConnector: boolean } | null;
    };
    expect(inspected.seaBlob).toMatchObject({ holdsTheConnector: true });
    expect(EXE_NODE_OPTIONS).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=50', '--use-system-ca']);
    const section = execArgvSection(EXE_NODE_OPTIONS);
    const tail = Buffer.from(inspected.seaBlob!.tailBase64, 'base64');
    expect(tail.subarray(tail.length - section.length).equals(section)).toBe(true);
    expect(inspected.version).toMatchObject({
      ProductName: 'so-backup connector',
      CompanyName: 'so-backup',
      ProductVersion: '0.1.0',
      FileVersion: '0.1.0',
      OriginalFilename: 'so-connector.exe',
    });
    expect(signerSubject(exe)).toContain('CN=so-backup test signing');
    expect(signerSubject(path.join(out, 'windows', 'koffi.node'))).toContain('CN=so-backup test signing');
  });

  test('the MSI installs the exe as a service that runs it as built, enrols from its properties without logging secrets, and upgrades in place', () => {
    const msi = path.join(out, 'so-connector-0.1.0-x64.msi');
    expect(signerSubject(msi)).toContain('CN=so-backup test signing');
    const table = (name: string) =>
      execFileSync('msiinfo', ['export', msi, name], { encoding: 'utf8' })
        .split(/\r?\n/)
        .slice(3)
        .filter(Boolean)
        .map((row) => row.split('\t').map((cell) => cell.trim()));
    const [service] = table('ServiceInstall');
    // ServiceInstall, Name, DisplayName, ServiceType, StartType, ErrorControl, …, StartName, Password, Arguments
    expect(service!.slice(1, 6)).toEqual(['so-connector', 'so-backup connector', '16', '2', '1']);
    expect(service).toEqual(
      expect.arrayContaining([
        '[SERVICEACCOUNT]',
        '[SERVICEPASSWORD]',
        'service-host --config "[CommonAppDataFolder]so-backup\\config.json" --name so-connector',
      ]),
    );
    expect(service!.join(' ')).not.toContain('--max-semi-space-size');
    expect(table('ServiceControl')[0]!.slice(1, 3)).toEqual(['so-connector', String(0x2 | 0x20 | 0x80)]); // stop on install and uninstall, delete on uninstall
    const actions = Object.fromEntries(table('CustomAction').map((row) => [row[0], row]));
    expect(actions.Enrol![3]).toBe(
      'enrol --endpoint "[ENDPOINT]" --code "[ACTIVATIONCODE]" --config "[CommonAppDataFolder]so-backup\\config.json" --state-dir "[CommonAppDataFolder]so-backup" --sql "[SQLCONNECTIONSTRING]" --database "[DATABASES]" --staging "[STAGINGFOLDER]" --archive "[ARCHIVE]" --ca-file "[CAFILE]" --log-file "[CommonAppDataFolder]so-backup\\logs\\install.log"',
    );
    expect(Number(actions.Enrol![1]) & 0x400 /* deferred */ && Number(actions.Enrol![1]) & 0x800 /* no impersonation */).toBeTruthy();
    expect(actions.ServiceSetup![3]).toContain('service-setup --name so-connector');
    expect(actions.ServiceWait![3]).toContain('service-wait --name so-connector');
    const sequence = Object.fromEntries(
      table('InstallExecuteSequence').map(([action, condition, number]) => [action, { condition, number: Number(number) }]),
    );
    // Uninstall, upgrade and repair wait for the stopping service's process to end before the files are replaced or go.
    expect(sequence.ServiceWait!.condition).toBe('Installed OR WIX_UPGRADE_DETECTED');
    const order = [
      'AppSearch',
      'LaunchConditions',
      'EnrolCheck',
      'InstallExecute',
      'StopServices',
      'ServiceWait',
      'InstallExecuteAgain',
      'DeleteServices',
      'RemoveFiles',
      'InstallFiles',
      'InstallServices',
      'Enrol',
      'ServiceSetup',
      'StartServices',
      'InstallFinalize',
      'RemoveExistingProducts',
    ];
    expect([...order].sort((a, b) => sequence[a]!.number - sequence[b]!.number)).toEqual(order);
    const properties = Object.fromEntries(table('Property').map(([name, value]) => [name, value]));
    expect(properties.MsiHiddenProperties).toBe('ACTIVATIONCODE;SQLCONNECTIONSTRING;SERVICEPASSWORD');
    expect(properties.SERVICEACCOUNT).toBe('NT SERVICE\\so-connector');
    expect(properties.UpgradeCode).toBe(UPGRADE_CODE);
    expect(properties.SecureCustomProperties!.split(';')).toEqual(
      expect.arrayContaining([
        'ENDPOINT',
        'ACTIVATIONCODE',
        'SQLCONNECTIONSTRING',
        'DATABASES',
        'STAGINGFOLDER',
        'ARCHIVE',
        'CAFILE',
        'SERVICEACCOUNT',
        'SERVICEPASSWORD',
        'WIX_UPGRADE_DETECTED',
      ]),
    );
    // so-connector.exe is versioned (Windows Installer replaces it with a newer version), so it has no file hash.
    expect(table('File').find((row) => row[0] === 'so_connector.exe')![4]).toBe('0.1.0.0');
    expect(table('MsiFileHash').map((row) => row[0])).not.toContain('so_connector.exe');
    expect(table('LaunchCondition').map((row) => row[1])).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ACTIVATIONCODE is given but ENDPOINT is not/),
        expect.stringMatching(/^ENDPOINT is given but ACTIVATIONCODE is not/),
      ]),
    );
    expect(table('RegLocator')).toEqual([expect.arrayContaining(['Software\\so-backup\\connector', 'InstallFolder'])]);
    const files = table('File').map((row) => row[2]);
    expect(files).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/so-connector\.exe$/),
        expect.stringMatching(/koffi\.node$/),
        expect.stringMatching(/INSTALL\.md$/),
      ]),
    );
  });

  test('a release build without a certificate is refused; a version Windows cannot hold is refused', () => {
    const refused = spawnSync(
      USER_NODE,
      ['--import', 'tsx', path.join(ROOT, 'scripts', 'build-connector.ts'), '--out', path.join(dir, 'unsigned'), '--require-signing'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, SO_BACKUP_SIGN_PKCS12: '' },
      },
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('signing is required (--require-signing or SO_BACKUP_SIGN_REQUIRED=1) but no certificate is given');
    expect(() => versionParts('1.2')).toThrow(/major\.minor\.patch/);
    expect(() => versionParts('1.70000.0')).toThrow(/at most 65535/);
    expect(versionParts('0.1.0')).toEqual([0, 1, 0, 0]);
  });
});
