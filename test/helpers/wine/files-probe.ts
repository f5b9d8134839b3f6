// Bundled and run by Windows Node under Wine (test/connector/files-on-windows.test.ts): what the
// connector's file code meets on Windows, written to the JSON file named by argv[2].
import fs from 'node:fs';
import path from 'node:path';
import { scanRoot } from '../../../connector/src/backup/archive-scan';
import { hiddenAttribute } from '../../../connector/src/files/file-attributes';
import { fsPath } from '../../../connector/src/files/file-names';
import { restoreTime } from '../../../connector/src/files/file-times';

async function main(): Promise<void> {
  const [root, result] = process.argv.slice(2) as [string, string];
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root);
  const out: Record<string, unknown> = { node: process.version, uv: process.versions.uv };
  const file = path.join(root, 'times.txt');
  fs.writeFileSync(file, 'x');
  out.times = [1764000000123456700n, 1764000000999999900n, 1700000000000000100n, 1764000000000001600n, 1764000000555555500n].map((ns) => {
    const { seconds, written } = restoreTime(ns, 'win32');
    fs.utimesSync(file, seconds, seconds);
    const got = fs.statSync(file, { bigint: true }).mtimeNs;
    return { ns: String(ns), got: String(got), predicted: written.map(String) };
  });
  const long = fsPath(root, `${'long folder name '.repeat(10)}/${'x'.repeat(200)}.txt`, 'win32') as string;
  fs.mkdirSync(path.win32.dirname(long), { recursive: true });
  fs.writeFileSync(long, 'long');
  const hidden = hiddenAttribute('win32');
  fs.writeFileSync(path.join(root, 'hidden.txt'), 'h');
  out.setHidden = await hidden.setHidden(path.join(root, 'hidden.txt'));
  const hiddenNames = await hidden.hiddenBelow(root);
  out.hiddenBelow = [...hiddenNames];
  fs.writeFileSync(path.join(root, 'read-only.txt'), 'r');
  fs.chmodSync(path.join(root, 'read-only.txt'), 0o444);
  const seen: string[] = [];
  await scanRoot(
    root,
    {
      file: (f) => seen.push(`${f.relative} ${f.attributes}`),
      emptyFolder: (p) => seen.push(`${p}/`),
      link: (l) => seen.push(`${l.relative} -> ${l.target}`),
      unreadable: (p, r) => seen.push(`! ${p} ${r}`),
    },
    { hidden: hiddenNames },
  );
  out.scan = seen.sort();
  fs.writeFileSync(result, JSON.stringify(out, null, 2));
}

void main();
