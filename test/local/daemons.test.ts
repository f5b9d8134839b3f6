import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemons } from '../../local/daemons';

describe('local mode daemons', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'so-backup-daemons-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('GIVEN a daemon started with a secret in its configuration THEN its fingerprint file holds a hash, not the secret, and only its owner may read it, even where an older 0644 file was (v14 review)', async () => {
    const daemons = new Daemons(dir);
    const file = path.join(dir, 'run', 'sleeper.fingerprint');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'old fingerprint with a secret', { mode: 0o644 });
    const secret = 'operator-secret-key-9f8e7d';
    try {
      await expect(
        daemons.ensure({
          name: 'sleeper',
          command: process.execPath,
          args: ['-e', 'setInterval(() => {}, 1000)'],
          fingerprint: JSON.stringify({ secretAccessKey: secret }),
          ready: async () => true,
        }),
      ).resolves.toBe('started');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await daemons.stop('sleeper');
    }
  });
});
