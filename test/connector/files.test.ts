import { closeSync, fstatSync, futimesSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  attributeBits,
  attributesOf,
  hiddenAttribute,
  hiddenListCommand,
  parseHiddenList,
  type RunProgram,
} from '../../connector/src/files/file-attributes';
import { fsPath, isWtf8, nameBytes, nameText } from '../../connector/src/files/file-names';
import { POSIX_KEEPS_NANOSECONDS, restoreTime, sameMtime, utimesArgument, writtenBy } from '../../connector/src/files/file-times';

describe('file names as the file system holds them', () => {
  test('GIVEN names that are not valid UTF-8 on Linux (a Latin-1 "café") THEN each byte outside UTF-8 becomes one escape, and the bytes come back exactly', () => {
    const latin1 = Buffer.from('caf\xe9.txt', 'latin1');
    const text = nameText(latin1, 'posix');
    expect(text).toBe('caf\udce9.txt');
    expect(nameBytes(text, 'posix').equals(latin1)).toBe(true);
    // Every byte string survives: random bytes (no "/" or NUL, which no name holds).
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(Array.from({ length: 1 + (i % 40) }, () => 1 + Math.floor(Math.random() * 255)).filter((b) => b !== 0x2f));
      if (bytes.length === 0) continue;
      expect(nameBytes(nameText(bytes, 'posix'), 'posix').equals(bytes)).toBe(true);
    }
    // Valid UTF-8 is plain text, a byte-order mark and decomposed letters included.
    expect(nameText(Buffer.from('\ufeffe\u0301'), 'posix')).toBe('\ufeffe\u0301');
  });

  test('GIVEN a Windows name with an unpaired UTF-16 surrogate (WTF-8 bytes from Node) THEN it is that UTF-16 name, and its bytes come back exactly', () => {
    const wtf8 = Buffer.concat([Buffer.from('rapport '), Buffer.of(0xed, 0xa0, 0xbd), Buffer.from('.docx')]);
    const text = nameText(wtf8, 'win32');
    expect(text).toBe('rapport \ud83d.docx');
    expect(nameBytes(text, 'win32').equals(wtf8)).toBe(true);
    expect(isWtf8(wtf8)).toBe(true);
    expect(isWtf8(Buffer.from('caf\xe9', 'latin1'))).toBe(false);
    // A pair stays a pair: 😀 is ordinary UTF-8.
    expect(nameText(Buffer.from('😀'), 'win32')).toBe('😀');
  });

  test('a name that is not text reaches fs calls as bytes; on Windows with the \\\\?\\ prefix Node adds only to strings', () => {
    expect(fsPath('/srv/SO_ARC', 'ANNA/café.txt', 'posix')).toBe('/srv/SO_ARC/ANNA/café.txt');
    expect(fsPath('/srv/SO_ARC', 'ANNA/caf\udce9.txt', 'posix')).toEqual(Buffer.from('/srv/SO_ARC/ANNA/caf\xe9.txt', 'latin1'));
    expect(fsPath('C:\\SO_ARC', 'ANNA/a\ud800.txt', 'win32')).toEqual(
      Buffer.concat([Buffer.from('\\\\?\\C:\\SO_ARC\\ANNA\\a'), Buffer.of(0xed, 0xa0, 0x80), Buffer.from('.txt')]),
    );
    expect((fsPath('\\\\fileserver\\SO_ARC', 'a\ud800', 'win32') as Buffer).subarray(0, 22).toString()).toBe('\\\\?\\UNC\\fileserver\\SO_');
  });
});

describe('modification times, exact', () => {
  const linuxRestored = (ns: bigint) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-times-'));
    const fd = openSync(path.join(dir, 'f'), 'w');
    try {
      const seconds = utimesArgument(restoreTime(ns, 'posix').seconds);
      futimesSync(fd, seconds, seconds);
      return fstatSync(fd, { bigint: true }).mtimeNs;
    } finally {
      closeSync(fd);
    }
  };

  test('GIVEN times with sub-millisecond parts WHEN restored on Linux THEN the file gets the closest time libuv can write (within a microsecond), and the unchanged check accepts exactly that', () => {
    for (const ns of [1764000000123456789n, 1764000000999999999n, 1764000000000000001n, 1764000000500000500n]) {
      const written = linuxRestored(ns);
      expect(written).toBe(restoreTime(ns, 'posix').written[0]);
      expect(written - ns < 1000n && ns - written < 1000n).toBe(true);
      expect(sameMtime(ns, written, 'posix')).toBe(true);
      expect(sameMtime(ns, written + 1000n, 'posix')).toBe(false);
    }
  });

  test('GIVEN a restore by a connector on the other libuv (Node.js 22 truncates to microseconds, 24 keeps nanoseconds) WHEN the next run compares times THEN it accepts what either wrote, and nothing else', () => {
    const ns = 1764000000123456789n;
    // libuv's arithmetic on the double nearest 1764000000.123456789 s (…0.1234567165… s):
    expect(writtenBy(1764000000.1234567, 'posix', false)).toEqual([1764000000123456000n, 1764000000123456716n]);
    expect(writtenBy(1764000000.1234567, 'posix', true)).toEqual([1764000000123456716n, 1764000000123456000n]);
    const byNode22 = restoreTime(ns, 'posix', false).written[0]!;
    const byNode24 = restoreTime(ns, 'posix', true).written[0]!;
    expect(byNode22).toBe(1764000000123457000n);
    expect(byNode24 - ns < 250n && ns - byNode24 < 250n).toBe(true);
    expect(sameMtime(ns, byNode22, 'posix')).toBe(true);
    expect(sameMtime(ns, byNode24, 'posix')).toBe(true);
    expect(sameMtime(ns, byNode24 + 1n, 'posix')).toBe(false);
    expect(sameMtime(ns, byNode22 + 1000n, 'posix')).toBe(false);
  });

  test("GIVEN NTFS times (100 ns ticks) WHEN restored on Windows THEN the seconds given to utimes land, by libuv's arithmetic, within 800 ns, and the check accepts that value and no other", () => {
    for (let i = 0; i < 200; i++) {
      const ns = ((1764000000000000000n + BigInt(Math.floor(Math.random() * 1e15))) / 100n) * 100n;
      const { seconds, written } = restoreTime(ns, 'win32');
      expect(writtenBy(seconds, 'win32')).toEqual(written);
      const off = written[0]! - ns;
      expect(off <= 800n && off >= -800n).toBe(true);
      expect(sameMtime(ns, written[0]!, 'win32')).toBe(true);
      expect(sameMtime(ns, written[0]! + 1600n, 'win32')).toBe(false);
    }
  });

  test('GIVEN times before 1970 WHEN restored on Linux THEN each lands on the closest time libuv can write (not "now", not up to 999 ns off), and the check accepts exactly that', () => {
    // ext4 holds times from 1901-12-13 (-2^31 s) on.
    const samples = [
      -1n,
      -999n,
      -1000n,
      -1_000_001n,
      -1_123_456_789n,
      -1_000_000_000n,
      -300_000_000_987_654_321n,
      -2_100_000_000_000_000_500n,
    ];
    for (let i = 0; i < 100; i++)
      samples.push(-BigInt(Math.floor(Math.random() * 2e9)) * 1_000_000_000n - BigInt(Math.floor(Math.random() * 1e9)));
    for (const ns of samples) {
      const nearest = ((ns + 500n) / 1000n - ((ns + 500n) % 1000n < 0n ? 1n : 0n)) * 1000n;
      const written = linuxRestored(ns);
      // libuv before 1.52 writes the nearest microsecond; 1.52 and later the double nearest `ns` (about 0.24–0.48 µs apart).
      const expected = POSIX_KEEPS_NANOSECONDS ? restoreTime(ns, 'posix').written[0]! : nearest;
      expect({ ns, written }).toEqual({ ns, written: expected });
      if (POSIX_KEEPS_NANOSECONDS) expect(written - ns < 250n && ns - written < 250n).toBe(true);
      else expect(restoreTime(ns, 'posix').written[0]).toBe(nearest);
      expect(sameMtime(ns, written, 'posix')).toBe(true);
      expect(sameMtime(ns, written - 1000n, 'posix')).toBe(false);
    }
    expect(restoreTime(-1n, 'posix', false).written[0]).toBe(0n);
  });

  test("GIVEN NTFS times before 1970 WHEN restored on Windows THEN libuv's arithmetic lands within 800 ns", () => {
    for (let i = 0; i < 200; i++) {
      const ns = (-(BigInt(Math.floor(Math.random() * 1e15)) * 100n + (i % 2 === 0 ? 0n : 3_000_000_000_000_000_000n)) / 100n) * 100n;
      const { seconds, written } = restoreTime(ns, 'win32');
      expect(writtenBy(seconds, 'win32')).toEqual(written);
      const off = written[0]! - ns;
      expect({ ns, ok: off <= 800n && off >= -800n }).toEqual({ ns, ok: true });
    }
  });

  test('Node takes a negative number as "now": a time before 1970 goes to utimes as the numeric string of the same double', () => {
    expect(utimesArgument(1.5)).toBe(1.5);
    expect(utimesArgument(-1.1234565)).toBe('-1.1234565');
    expect(Number(utimesArgument(-1e-7))).toBe(-1e-7);
  });

  test('a time from an older index (double milliseconds) matches within a microsecond, an exact one only exactly', () => {
    expect(sameMtime(1764000000123456000n, 1764000000123456200n, 'posix', false)).toBe(true);
    expect(sameMtime(1764000000123456000n, 1764000000123458000n, 'posix', false)).toBe(false);
    expect(sameMtime(1764000000123456789n, 1764000000123456790n, 'posix')).toBe(false);
  });
});

describe('read-only and hidden attributes', () => {
  test('read-only follows the mode (Windows maps the attribute to it), hidden is a bit of its own; the snapshot lists only what is set', () => {
    expect(attributeBits(0o100444, false)).toBe(1);
    expect(attributeBits(0o100644, true)).toBe(2);
    expect(attributesOf(3)).toEqual({ readOnly: true, hidden: true });
    expect(attributesOf(0)).toBeUndefined();
  });

  test('on Windows, hidden items come from one `cmd /u /c dir /a:h /s /b` per root (UTF-16, so any name, an unpaired surrogate too) and are set with attrib +h', async () => {
    const calls: string[][] = [];
    const listing = Buffer.from(
      'C:\\SO_ARC\\ANNA\\skjult.docx\r\nc:\\so_arc\\Desktop.ini\r\nC:\\SO_ARC\\ANNA\\a\ud800.txt\r\nC:\\OTHER\\x\r\n',
      'utf16le',
    );
    const run: RunProgram = async (file, args) => {
      calls.push([file, ...args]);
      return file === 'cmd.exe' ? { code: 0, stdout: listing, stderr: '' } : { code: 0, stdout: Buffer.alloc(0), stderr: '' };
    };
    const hidden = hiddenAttribute('win32', run);
    expect([...(await hidden.hiddenBelow('C:\\SO_ARC\\'))].sort()).toEqual(['ANNA/a\ud800.txt', 'ANNA/skjult.docx', 'Desktop.ini']);
    expect(calls[0]).toEqual(['cmd.exe', '/d', '/u', '/c', 'dir /a:h /s /b "C:\\SO_ARC"']);
    expect(await hidden.setHidden('C:\\SO_ARC\\ANNA\\skjult.docx')).toBe(true);
    expect(calls[1]).toEqual(['attrib.exe', '+h', 'C:\\SO_ARC\\ANNA\\skjult.docx']);
    expect(hiddenListCommand('\\\\fileserver\\SO_ARC').args.at(-1)).toBe('dir /a:h /s /b "\\\\fileserver\\SO_ARC\\"');
    expect(parseHiddenList(Buffer.alloc(0), 'C:\\SO_ARC')).toEqual(new Set());
    // Linux has no hidden attribute: nothing is listed, nothing is run.
    expect(await hiddenAttribute('posix', run).hiddenBelow('/srv/SO_ARC')).toEqual(new Set());
    expect(calls).toHaveLength(2);
  });
});
