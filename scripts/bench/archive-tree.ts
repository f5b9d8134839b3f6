// A SO_ARC-like tree for the archive benchmark, and a "day of activity" on it. Deterministic for
// a seed: per-user and per-month folders ("<USER>/<year>.<month>/"), log-normal sizes around
// 40 KB with a few multi-MB files, part compressible text and part incompressible data.
import { createCipheriv } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const USERS = [
  'ADMIN',
  'ANNE',
  'BJØRN',
  'CARLOS',
  'DAGNY',
  'ERIK',
  'FRIDA',
  'GEIR',
  'HANNE',
  'INGRID',
  'JONAS',
  'KARI',
  'LARS',
  'MARIT',
  'NILS',
  'OLA',
  'PER',
  'RAGNHILD',
  'SIGRID',
  'TOR',
  'ULF',
  'VIGDIS',
  'ÅSE',
  'ØYVIND',
  'ZOË',
];
const KINDS = [
  { ext: 'msg', compressible: true },
  { ext: 'docx', compressible: false },
  { ext: 'pdf', compressible: false },
  { ext: 'xlsx', compressible: false },
  { ext: 'txt', compressible: true },
  { ext: 'html', compressible: true },
];
const WORDS =
  'tilbud kontrakt møte faktura kunde avtale prosjekt oppfølging leveranse pris rabatt salg support ordre referat notat e-post vedlegg'.split(
    ' ',
  );

/** A small seeded PRNG (mulberry32): the same seed gives the same tree on every machine. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logNormal(next: () => number, median: number, sigma: number): number {
  const u = Math.max(next(), 1e-12);
  const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  return Math.round(median * Math.exp(sigma * normal));
}

function fileSize(next: () => number): number {
  // About 1 file in 300 is a multi-MB attachment (2-12 MB); the rest are log-normal around 40 KB.
  if (next() < 0.0035) return Math.round((2 + next() * 10) * 1024 * 1024);
  return Math.min(Math.max(logNormal(next, 40_000, 1.0), 0), 1_500_000);
}

const TEXT = (() => {
  const next = random(7);
  const parts: string[] = [];
  for (let length = 0; length < 1 << 20; ) {
    const word = WORDS[Math.floor(next() * WORDS.length)]!;
    parts.push(word);
    length += word.length + 1;
  }
  return Buffer.from(parts.join(' '));
})();

function content(next: () => number, size: number, compressible: boolean): Buffer {
  if (compressible) {
    const body = Buffer.alloc(size);
    for (let at = 0; at < size; ) {
      const from = Math.floor(next() * (TEXT.length - 4096));
      at += TEXT.copy(body, at, from, from + Math.min(4096, size - at));
    }
    return body;
  }
  const key = Buffer.alloc(32);
  const iv = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) key.writeUInt32LE(Math.floor(next() * 2 ** 32), i * 4);
  for (let i = 0; i < 4; i++) iv.writeUInt32LE(Math.floor(next() * 2 ** 32), i * 4);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
}

function writeDocument(root: string, relative: string, next: () => number, maxSize = Infinity): number {
  const kind = KINDS[Math.floor(next() * KINDS.length)]!;
  const size = Math.min(fileSize(next), maxSize);
  const file = path.join(root, `${relative}.${kind.ext}`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content(next, size, kind.compressible));
  return size;
}

function documentName(next: () => number, n: number): string {
  const word = WORDS[Math.floor(next() * WORDS.length)]!;
  return `${word} ${n}`;
}

/** Writes `files` documents under `root` (replacing it); returns the bytes written. `maxSize` caps sizes (a many-files tree for memory checks). */
export function generateArchiveTree(root: string, files: number, seed = 1, maxSize = Infinity): number {
  rmSync(root, { recursive: true, force: true });
  const next = random(seed);
  let bytes = 0;
  for (let n = 0; n < files; n++) {
    const user = USERS[Math.floor(next() * USERS.length)]!;
    const month = `${2019 + Math.floor(next() * 7)}.${1 + Math.floor(next() * 12)}`;
    bytes += writeDocument(root, `${user}/${month}/${documentName(next, n)}`, next, maxSize);
  }
  return bytes;
}

/** Every file below root, "/"-separated and sorted (so a seed picks the same files every time). */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (folder: string, prefix: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path.join(folder, entry.name), relative);
      else out.push(relative);
    }
  };
  walk(root, '');
  return out.sort();
}

/**
 * One day of activity: 1 % of the files changed (rewritten), 1 % added (this month's folders),
 * 0.1 % deleted. Returns what it did.
 */
export function mutateArchiveTree(root: string, day: number): { changed: number; added: number; deleted: number; bytesWritten: number } {
  const next = random(1000 + day);
  const files = listFiles(root);
  const pick = (share: number) => {
    const chosen = new Set<string>();
    const wanted = Math.max(1, Math.round(files.length * share));
    while (chosen.size < wanted) chosen.add(files[Math.floor(next() * files.length)]!);
    return [...chosen];
  };
  const deleted = pick(0.001);
  const changed = pick(0.01).filter((f) => !deleted.includes(f));
  let bytesWritten = 0;
  for (const relative of changed) {
    const file = path.join(root, relative);
    const size = Math.max(1, Math.round(statSync(file).size * (0.9 + next() * 0.3)));
    writeFileSync(file, content(next, size, relative.endsWith('.msg') || relative.endsWith('.txt') || relative.endsWith('.html')));
    bytesWritten += size;
  }
  for (const relative of deleted) rmSync(path.join(root, relative));
  const added = Math.round(files.length * 0.01);
  for (let n = 0; n < added; n++) {
    const user = USERS[Math.floor(next() * USERS.length)]!;
    bytesWritten += writeDocument(root, `${user}/2026.${1 + (day % 12)}/${documentName(next, 1_000_000 * day + n)}`, next);
  }
  return { changed: changed.length, added, deleted: deleted.length, bytesWritten };
}
