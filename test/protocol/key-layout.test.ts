import { exactPathBytes, isTenantArchiveKey, keyLayout, MAX_KEY_BYTES, pathFields, pathFieldsConsistent } from '../../protocol';

describe('keyLayout', () => {
  test('database backups keep one key per database and tier, so each validated day is a new version; uploads are staged per run', () => {
    expect(keyLayout.databaseBackup('acme', 'SuperOffice')).toBe('db/daily/acme/SuperOffice.bak');
    expect(keyLayout.stagedDatabaseBackup('acme', 'acme-2026-11-25-daily', 'SuperOffice')).toBe(
      'incoming/acme/acme-2026-11-25-daily/db/SuperOffice.bak',
    );
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

  test('archive keys keep the relative path exactly as named (never normalized), with control characters and "%" escaped', () => {
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/2026.01/Tilbud – kunde.docx')).toBe(
      'archive/acme/SO_ARC/ADM/2026.01/Tilbud – kunde.docx',
    );
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'a\u0065\u0301.txt')).toBe('archive/acme/SO_ARC/a\u0065\u0301.txt');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'a\u00e9.txt')).toBe('archive/acme/SO_ARC/a\u00e9.txt');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'bad\u0001name')).toBe('archive/acme/SO_ARC/bad%01name');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', '%hash/x')).toBe('archive/acme/SO_ARC/%25hash/x');
    expect(keyLayout.archiveFile('acme', 'SO_ARC', Buffer.from('ADM/a.docx'))).toBe('archive/acme/SO_ARC/ADM/a.docx');
    expect(() => keyLayout.archiveFile('acme', 'SO_ARC', '../x')).toThrow(/invalid key segment/);
    expect(() => keyLayout.archiveFile('acme', 'SO_ARC', 'a//x')).toThrow(/invalid key segment/);
    expect(() => keyLayout.archiveFile('acme', 'SO_ARC', 'lone \ud800 surrogate')).toThrow(/give its exact bytes/);
  });

  test('GIVEN a path with no plain key (over 1,024 bytes, not UTF-8, or U+FFFF) THEN it gets a derived key under the root, from the SHA-256 of its exact bytes', () => {
    const derived = /^archive\/acme\/SO_ARC\/%hash\/[0-9a-f]{64}$/;
    // The case: a document at a 1,041-byte path (its plain key would be 1,061 bytes here).
    const long = `${'Kunder og prosjekter/'.repeat(48)}${'x'.repeat(28)}.docx`;
    expect(Buffer.byteLength(long)).toBe(1041);
    const key = keyLayout.archiveFile('acme', 'SO_ARC', long);
    expect(key).toMatch(derived);
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(MAX_KEY_BYTES);
    expect(keyLayout.archiveFile('acme', 'SO_ARC', long.slice(0, 990))).toBe(`archive/acme/SO_ARC/${long.slice(0, 990)}`);
    // A Latin-1 "café" (Linux) and a name with an unpaired surrogate (Windows, WTF-8) are not UTF-8.
    const latin1 = Buffer.from('ADM/caf\xe9.txt', 'latin1');
    const wtf8 = Buffer.concat([Buffer.from('ADM/a'), Buffer.of(0xed, 0xa0, 0x80), Buffer.from('.txt')]);
    expect(keyLayout.archiveFile('acme', 'SO_ARC', latin1)).toMatch(derived);
    expect(keyLayout.archiveFile('acme', 'SO_ARC', wtf8)).toMatch(derived);
    expect(keyLayout.archiveFile('acme', 'SO_ARC', latin1)).not.toBe(keyLayout.archiveFile('acme', 'SO_ARC', wtf8));
    expect(keyLayout.archiveFile('acme', 'SO_ARC', 'odd \uffff.txt')).toMatch(derived);
  });

  test('snapshot path fields: pathBytes only when the text is not exact, and the two must agree', () => {
    const latin1 = Buffer.from('caf\xe9.txt', 'latin1');
    expect(pathFields(Buffer.from('café.txt'))).toEqual({ path: 'café.txt' });
    expect(pathFields(latin1)).toEqual({ path: 'caf\ufffd.txt', pathBytes: latin1.toString('base64') });
    expect(exactPathBytes(pathFields(latin1)).equals(latin1)).toBe(true);
    expect(pathFieldsConsistent(pathFields(latin1))).toBe(true);
    expect(pathFieldsConsistent({ path: 'cafe.txt', pathBytes: latin1.toString('base64') })).toBe(false);
    expect(pathFieldsConsistent({ path: 'café.txt', pathBytes: Buffer.from('café.txt').toString('base64') })).toBe(false);
    // A name that starts with a byte-order mark keeps it.
    expect(pathFields(Buffer.from('\ufeffnotes.txt')).path).toBe('\ufeffnotes.txt');
  });

  test("one tenant cannot claim another one's archive keys", () => {
    expect(isTenantArchiveKey('acme', 'archive/acme/SO_ARC/x')).toBe(true);
    expect(isTenantArchiveKey('acme', 'archive/acme-evil/SO_ARC/x')).toBe(false);
    expect(isTenantArchiveKey('acme', 'archive/acme/../beta/x')).toBe(false);
    expect(isTenantArchiveKey('acme', 'db/daily/acme/SuperOffice.bak')).toBe(false);
  });
});
