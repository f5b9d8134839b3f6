import { isTenantArchiveKey, keyLayout } from '../../protocol';

describe('keyLayout', () => {
  test('database backups keep one key per database and tier, so each validated day is a new version; uploads are staged per run', () => {
    expect(keyLayout.databaseBackup('acme', 'SuperOffice')).toBe('db/daily/acme/SuperOffice.bak');
    expect(keyLayout.stagedDatabaseBackup('acme', 'acme-2026-11-25-daily', 'SuperOffice')).toBe('incoming/acme/acme-2026-11-25-daily/db/SuperOffice.bak');
    expect(keyLayout.stagedManifest('acme', 'acme-2026-11-25-daily')).toBe('incoming/acme/acme-2026-11-25-daily/manifest.json');
    expect(keyLayout.stagedSnapshot('acme', 'acme-2026-11-25-daily')).toBe('incoming/acme/acme-2026-11-25-daily/snapshot.json.gz');
  });

  test('any name SQL Server accepts is one key segment, exactly (not normalized), with "/", "%" and control characters escaped', () => {
    const key = (database: string) => keyLayout.databaseBackup('acme', database);
    expect(key("O'Brien CRM")).toBe("db/daily/acme/O'Brien CRM.bak");
    expect(key('2two')).toBe('db/daily/acme/2two.bak');
    expect(key('Kunde [Øst]')).toBe('db/daily/acme/Kunde [Øst].bak');
    expect(key('顧客データ')).toBe('db/daily/acme/顧客データ.bak');
    expect(key('a/b')).toBe('db/daily/acme/a%2fb.bak');
    expect(key('100%')).toBe('db/daily/acme/100%25.bak');
    expect(key('..')).toBe('db/daily/acme/...bak');
    expect(key('e\u0301')).not.toBe(key('\u00e9')); // two names SQL Server tells apart
    const longest = key('Ø'.repeat(128));
    expect(Buffer.byteLength(longest)).toBeLessThan(1024);
    expect(longest.split('/')).toHaveLength(4);
  });

  test('archive keys keep the relative path, NFC-normalized, with control characters escaped', () => {
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/2026.01/Tilbud – kunde.docx')).toBe('archive/acme/SO_ARC/ADM/2026.01/Tilbud – kunde.docx');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'a\u0065\u0301.txt')).toBe('archive/acme/SO_ARC/a\u00e9.txt');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'bad\u0001name')).toBe('archive/acme/SO_ARC/bad%01name');
    expect(() => keyLayout.archiveFile('acme', 'SO_ARC', '../x')).toThrow(/invalid key segment/);
  });

  test('one tenant cannot claim another one\'s archive keys', () => {
    expect(isTenantArchiveKey('acme', 'archive/acme/SO_ARC/x')).toBe(true);
    expect(isTenantArchiveKey('acme', 'archive/acme-evil/SO_ARC/x')).toBe(false);
    expect(isTenantArchiveKey('acme', 'archive/acme/../beta/x')).toBe(false);
    expect(isTenantArchiveKey('acme', 'db/daily/acme/SuperOffice.bak')).toBe(false);
  });
});
