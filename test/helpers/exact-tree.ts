import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

/** Writes a file whose path is given as bytes ("/"-separated, below `root`): names that are not UTF-8 too. */
export function writeBytes(root: string, relative: Buffer, content: string | Buffer): Buffer {
  const full = Buffer.concat([Buffer.from(`${root}/`), relative]);
  mkdirSync(full.subarray(0, full.lastIndexOf(0x2f)), { recursive: true });
  writeFileSync(full, content);
  return full;
}

/**
 * Every file, link and empty folder below a folder, keyed by its exact path bytes (hex): names
 * compared byte for byte, never decoded. Files map to their content (latin1), links to
 * "-> <target hex>", empty folders to "<empty folder>".
 */
export function exactTree(root: string, prefix = Buffer.alloc(0)): Record<string, string> {
  const folder = Buffer.concat([Buffer.from(root), prefix.length ? Buffer.from('/') : Buffer.alloc(0), prefix]);
  const out: Record<string, string> = {};
  const entries = readdirSync(folder, { withFileTypes: true, encoding: 'buffer' });
  if (entries.length === 0 && prefix.length > 0) out[prefix.toString('hex')] = '<empty folder>';
  for (const entry of entries) {
    const relative = prefix.length ? Buffer.concat([prefix, Buffer.from('/'), entry.name]) : entry.name;
    const full = Buffer.concat([Buffer.from(`${root}/`), relative]);
    if (entry.isDirectory()) Object.assign(out, exactTree(root, relative));
    else if (entry.isSymbolicLink()) out[relative.toString('hex')] = `-> ${readlinkSync(full, { encoding: 'buffer' }).toString('hex')}`;
    else if (entry.isFile()) out[relative.toString('hex')] = readFileSync(full, 'latin1');
  }
  return out;
}
