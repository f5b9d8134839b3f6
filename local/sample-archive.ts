import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A small SO_ARC-like tree for local mode: per-user, per-month folders of documents and mails
 * with a few larger files, deterministic so two machines generate the same bytes.
 */
export function generateSampleArchive(root: string, files = 120): { files: number; bytes: number } {
  const users = ['ADM', 'ANNA', 'OLE', 'KARI'];
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const user = users[i % users.length]!;
    const month = `2026.${String((i % 12) + 1).padStart(2, '0')}`;
    const folder = path.join(root, user, month);
    mkdirSync(folder, { recursive: true });
    const size = i % 40 === 0 ? 3 * 1024 * 1024 + i : 2000 + ((i * 7919) % 60_000);
    const content = Buffer.alloc(size);
    for (let at = 0; at < size; at += 32) createHash('sha256').update(`${i}:${at}`).digest().copy(content, at);
    const name = i % 3 === 0 ? `Tilbud ${i} – kunde ${i % 7}.docx` : i % 3 === 1 ? `mail-${i}.eml` : `Kontrakt_${i}.pdf`;
    writeFileSync(path.join(folder, name), content);
    bytes += size;
  }
  return { files, bytes };
}
