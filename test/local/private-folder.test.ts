import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makePrivateFolder, writePrivateFile } from '../../local/private-folder';

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

describe("local mode's data folder and secret files are readable by their owner only (v14 re-check)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-private-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('GIVEN no data folder WHEN local mode makes it THEN it is 0700, its missing parents too', () => {
    makePrivateFolder(path.join(dir, 'new', 'data'));
    expect(mode(path.join(dir, 'new', 'data'))).toBe('700');
  });

  test('GIVEN a data folder an earlier version left 0755 WHEN local mode starts on it THEN it is tightened to 0700', () => {
    const old = path.join(dir, 'old');
    mkdirSync(old, { mode: 0o755 });
    chmodSync(old, 0o755);
    makePrivateFolder(old);
    expect(mode(old)).toBe('700');
  });

  test('GIVEN sql-stand-in.json left 0644 by an earlier version WHEN it is written again THEN it is 0600', () => {
    const file = path.join(dir, 'sql-stand-in.json');
    writeFileSync(file, '{}', { mode: 0o644 });
    chmodSync(file, 0o644);
    writePrivateFile(file, '{"login":{"password":"x"}}');
    expect(mode(file)).toBe('600');
    writePrivateFile(path.join(dir, 'fresh.json'), '{}');
    expect(mode(path.join(dir, 'fresh.json'))).toBe('600');
  });
});
