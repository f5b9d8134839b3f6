import { execFile } from 'node:child_process';
import path from 'node:path';
import type { FileAttributes } from '../../../protocol';
import type { NamePlatform } from './file-names';

/**
 * The file attributes a restore must give back: read-only and hidden. As bits in the index
 * (one small number per file), as an object in snapshots (protocol FileAttributes).
 *   - read-only: Node reports it on both platforms through the mode. On Windows libuv maps
 *     FILE_ATTRIBUTE_READONLY to a mode without write bits, and chmod sets or clears it; on
 *     Linux a file nobody may write counts as read-only.
 *   - hidden (Windows only): Node has no call for it. One `dir /a:h /s /b` per root lists the
 *     hidden items, in UTF-16 (`cmd /u`), so any name comes through; `attrib +h` sets it again.
 */
export const READ_ONLY = 1;
export const HIDDEN = 2;

/** The attribute bits of a file from its mode, and whether it is hidden. */
export function attributeBits(mode: number, hidden: boolean): number {
  return ((mode & 0o222) === 0 ? READ_ONLY : 0) | (hidden ? HIDDEN : 0);
}

/** The snapshot's form: only attributes that are set; undefined when none is. */
export function attributesOf(bits: number): FileAttributes | undefined {
  if (bits === 0) return undefined;
  return { ...(bits & READ_ONLY ? { readOnly: true as const } : {}), ...(bits & HIDDEN ? { hidden: true as const } : {}) };
}

export function bitsOf(attributes: FileAttributes | undefined): number {
  return (attributes?.readOnly ? READ_ONLY : 0) | (attributes?.hidden ? HIDDEN : 0);
}

/**
 * The mode a restored file or folder gets. On Linux, the POSIX permission bits the snapshot
 * recorded (read, write and execute for owner, group and others; set-user-id, set-group-id and
 * sticky bits are not given back: a restore never makes a program run as another user).
 * Otherwise no write bits when read-only (on Windows: the read-only attribute). Undefined: the
 * default (what the process's umask gives).
 */
export function restoredMode(entry: { attributes?: FileAttributes; mode?: number }, platform: NamePlatform): number | undefined {
  if (platform === 'posix' && entry.mode !== undefined) return entry.mode & 0o777;
  return entry.attributes?.readOnly ? 0o444 : undefined;
}

/** Runs a program and gives its standard output as bytes (injected in tests). */
export type RunProgram = (file: string, args: string[]) => Promise<{ code: number; stdout: Buffer; stderr: string }>;

export const runProgram: RunProgram = (file, args) =>
  new Promise((resolve) => {
    execFile(
      file,
      args,
      { encoding: 'buffer', maxBuffer: 1 << 30, windowsHide: true, windowsVerbatimArguments: file.toLowerCase().endsWith('cmd.exe') },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0;
        resolve({ code, stdout: stdout as Buffer, stderr: (stderr as Buffer).toString('utf8') });
      },
    );
  });

/** Reads and sets the hidden attribute. On Linux there is none: every call is a no-op. */
export interface HiddenAttribute {
  /** Every hidden item below `root` as "/"-joined relative names (the scan's form). */
  hiddenBelow(root: string): Promise<Set<string>>;
  /** Sets the hidden attribute of one file; false when Windows refused. */
  setHidden(file: string): Promise<boolean>;
}

export function hiddenAttribute(
  platform: NamePlatform = process.platform === 'win32' ? 'win32' : 'posix',
  run: RunProgram = runProgram,
): HiddenAttribute {
  if (platform !== 'win32') return { hiddenBelow: async () => new Set(), setHidden: async () => false };
  return {
    async hiddenBelow(root) {
      const command = hiddenListCommand(root);
      const result = await run(command.file, command.args);
      // No hidden item: dir says "File Not Found" and exits 1. Anything else unreadable shows as that too;
      // then nothing is hidden, which is what a restore of an unknown attribute gives anyway.
      return parseHiddenList(result.stdout, root);
    },
    async setHidden(file) {
      const result = await run('attrib.exe', ['+h', file]);
      return result.code === 0;
    },
  };
}

/**
 * `cmd /d /u /c dir /a:h /s /b "<root>"`: every hidden file and folder below root, full paths,
 * one per line, in UTF-16LE (/u). The command line is given verbatim: cmd.exe does its own
 * parsing, and a Windows path cannot hold the quote that would end the argument.
 */
export function hiddenListCommand(root: string): { file: string; args: string[] } {
  const folder = path.win32.resolve(root);
  return { file: 'cmd.exe', args: ['/d', '/u', '/c', `dir /a:h /s /b "${folder}"`] };
}

/** The relative names of `dir /b /s` output (UTF-16LE bytes) below root; lines elsewhere are ignored. */
export function parseHiddenList(output: Buffer, root: string): Set<string> {
  const text = output.toString('utf16le').replace(/^\uFEFF/, '');
  const base = `${path.win32.resolve(root).replace(/\\+$/, '')}\\`;
  const prefix = base.toUpperCase();
  const found = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.length <= base.length || line.slice(0, base.length).toUpperCase() !== prefix) continue;
    found.add(line.slice(base.length).replace(/\\/g, '/'));
  }
  return found;
}
