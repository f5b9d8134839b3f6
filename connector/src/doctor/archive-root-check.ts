import { opendir } from 'node:fs/promises';
import path from 'node:path';

/** Lists a folder (throws the file system's error): Windows grants or denies access when a folder is listed, not when it is looked at. */
export type FolderProbe = (folder: string) => Promise<void>;

export const listFolder: FolderProbe = async (folder) => {
  const dir = await opendir(folder);
  try {
    await dir.read();
  } finally {
    await dir.close();
  }
};

/** The doctor's verdict on one archive root: what is wrong, and the fix. */
export interface RootVerdict {
  ok: boolean;
  detail: string;
  fix?: string;
}

/** Errors a Windows client gets for a share it cannot reach; libuv has no name for ERROR_BAD_NETPATH (53) and says UNKNOWN. */
const NETWORK = new Set([
  'UNKNOWN',
  'ENOENT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTCONN',
  'EINVAL',
  'EIO',
]);
const DENIED = new Set(['EACCES', 'EPERM']);

/** `\\server\share\` of a UNC path (also `\\?\UNC\server\share\…`), or undefined for a local path. */
export function shareOf(root: string): string | undefined {
  const plain = /^\\\\\?\\UNC\\/i.test(root) ? `\\\\${root.slice(8)}` : root.replace(/\//g, '\\');
  const match = /^\\\\([^\\?.][^\\]*)\\([^\\]+)/.exec(plain);
  return match ? `\\\\${match[1]}\\${match[2]}` : undefined;
}

/**
 * Checks that the service account can list an archive root and, when it cannot, tells which of
 * three things is wrong, because each has another fix: the share cannot be reached at all
 * (server or share name, the network, or an account that cannot reach shares), the folder does
 * not exist (the path in the configuration), or access is denied (grant read access).
 */
export async function checkArchiveRoot(root: { name: string; path: string }, probe: FolderProbe = listFolder): Promise<RootVerdict> {
  const codeOf = async (folder: string) => {
    try {
      await probe(folder);
      return undefined;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    }
  };
  const code = await codeOf(root.path);
  if (code === undefined) return { ok: true, detail: `${root.path} can be listed` };
  const share = shareOf(root.path);
  const shareCode =
    share && !DENIED.has(code)
      ? share.toUpperCase() === root.path.replace(/[\\/]+$/, '').toUpperCase()
        ? code
        : await codeOf(share)
      : undefined;
  return explainArchiveAccess({ name: root.name, path: root.path, code, share, shareCode });
}

/** The verdict for an error listing a root; `shareCode`: the error listing its share (undefined: the share itself can be listed). */
export function explainArchiveAccess(facts: { name: string; path: string; code: string; share?: string; shareCode?: string }): RootVerdict {
  const { name, path: folder, code, share, shareCode } = facts;
  if (DENIED.has(code)) {
    return {
      ok: false,
      detail: `${folder}: access denied (${code})`,
      fix: `grant the connector's service account read access to ${folder}${share ? ` (NTFS Read & execute, and Read on the share ${share})` : ''}`,
    };
  }
  if (share && shareCode !== undefined && NETWORK.has(shareCode)) {
    return {
      ok: false,
      detail: `${folder}: network path not found (${shareCode}): ${share} cannot be reached`,
      fix: `check the server and share name in archive root "${name}" and that the server is up; the connector's service account must reach the share: run the service as a domain account (a local or virtual account reaches other servers only as this computer, DOMAIN\\COMPUTER$)`,
    };
  }
  if (code === 'ENOENT' || (code === 'UNKNOWN' && share)) {
    return {
      ok: false,
      detail: `${folder}: path not found${share ? ` (the share ${share} is there)` : ''}`,
      fix: `correct the path of archive root "${name}" in the configuration: the folder does not exist (${path.win32.isAbsolute(folder) ? "SuperOffice's ArchivePath names it" : 'check the spelling'})`,
    };
  }
  if (code === 'ENOTDIR')
    return {
      ok: false,
      detail: `${folder} is a file, not a folder`,
      fix: `correct the path of archive root "${name}": it must name the SO_ARC folder`,
    };
  return {
    ok: false,
    detail: `${folder}: cannot be listed (${code})`,
    fix: `check the path of archive root "${name}" and the service account's access to it`,
  };
}
