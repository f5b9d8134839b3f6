import { isTenantKey, keyLayout } from '../../protocol';

describe('keyLayout', () => {
  test('database backups keep one key per database, so each day is a new version', () => {
    expect(keyLayout.databaseBackup('acme', 'SuperOffice')).toBe('db/daily/acme/SuperOffice.bak');
  });

  test('archive keys keep the relative path, NFC-normalized, with control characters escaped', () => {
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/2026.01/Tilbud – kunde.docx')).toBe('archive/acme/SO_ARC/ADM/2026.01/Tilbud – kunde.docx');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'a\u0065\u0301.txt')).toBe('archive/acme/SO_ARC/a\u00e9.txt');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'bad\u0001name')).toBe('archive/acme/SO_ARC/bad%01name');
    expect(() => keyLayout.archiveFile('acme', 'SO_ARC', '../x')).toThrow(/invalid key segment/);
  });

  test('tenant prefixes have no wildcard mid-path, and one tenant cannot claim another one\'s keys', () => {
    expect(keyLayout.tenantPrefixes('acme')).toEqual(['db/daily/acme/', 'archive/acme/', 'manifests/daily/acme/']);
    expect(isTenantKey('acme', 'archive/acme/SO_ARC/x')).toBe(true);
    expect(isTenantKey('acme', 'archive/acme-evil/SO_ARC/x')).toBe(false);
    expect(isTenantKey('acme', 'archive/acme/../beta/x')).toBe(false);
    expect(isTenantKey('acme', 'db/daily/beta/SuperOffice.bak')).toBe(false);
  });
});
