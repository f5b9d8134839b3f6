import { randomBytes } from 'node:crypto';
import { compressXpressHuffman, decompressXpressHuffman, XpressError } from '../../protocol/xpress-huffman';
import { describeWithMssqlFixtures, mssqlFixture } from '../helpers/fixtures';

/** A 256-byte code-length table from {symbol: length}. */
function table(lengths: Record<number, number>): Buffer {
  const t = Buffer.alloc(256);
  for (const [symbol, length] of Object.entries(lengths)) t[Number(symbol) >> 1]! |= length << ((Number(symbol) & 1) * 4);
  return t;
}

function expectXpressError(run: () => unknown, code: string, message: RegExp) {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(XpressError);
    expect((error as XpressError).code).toBe(code);
    expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected an XpressError');
}

describe('decompressXpressHuffman', () => {
  // The example Microsoft's Open Specifications support confirmed on the cifs-protocol list (Nov 2022):
  // 65,537 zeros as one literal zero, one match of 65,536 (escape bytes ff fd ff), then end of data.
  const zeros = Buffer.concat([table({ 0: 2, 256: 2, 271: 1 }), Buffer.from('00980000fffdff', 'hex')]);

  test('GIVEN the [MS-XCA] long-match example WHEN decoded THEN 65,537 zeros', () => {
    const out = decompressXpressHuffman(zeros, 65537);
    expect(out.length).toBe(65537);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  test('GIVEN an all-zero table WHEN decoded THEN XPRESS_BAD_TABLE, not a crash', () => {
    expectXpressError(() => decompressXpressHuffman(Buffer.alloc(300), 10), 'XPRESS_BAD_TABLE', /empty/);
  });

  test('GIVEN an oversubscribed table WHEN decoded THEN XPRESS_BAD_TABLE', () => {
    expectXpressError(
      () => decompressXpressHuffman(Buffer.concat([table({ 0: 1, 1: 1, 2: 1 }), Buffer.alloc(8)]), 10),
      'XPRESS_BAD_TABLE',
      /oversubscribed/,
    );
  });

  test('GIVEN a match before any output WHEN decoded THEN XPRESS_BAD_OFFSET', () => {
    expectXpressError(
      () => decompressXpressHuffman(Buffer.concat([table({ 0: 2, 256: 2, 271: 1 }), Buffer.from('0000000005', 'hex')]), 100),
      'XPRESS_BAD_OFFSET',
      /1 bytes back from output byte 0/,
    );
  });

  test('GIVEN the stream cut short WHEN decoded THEN XPRESS_TRUNCATED', () => {
    expectXpressError(
      () => decompressXpressHuffman(zeros.subarray(0, zeros.length - 2), 65537),
      'XPRESS_TRUNCATED',
      /the bit stream ends at byte 261 with 65536 of 65537 bytes still to decode/,
    );
  });

  test('GIVEN more output than one block holds WHEN asked THEN XPRESS_TOO_LONG', () => {
    expectXpressError(() => decompressXpressHuffman(zeros, 200_000), 'XPRESS_TOO_LONG', /at most/);
  });
});

describe('compressXpressHuffman', () => {
  const text = Buffer.from('SuperOffice CRM: contacts, sales, projects. '.repeat(400)).subarray(0, 16384);
  test.each([
    ['zeros', Buffer.alloc(65536)],
    ['one byte', Buffer.from([7])],
    ['text', text],
    ['random', randomBytes(65536)],
    [
      'runs of every escape length',
      Buffer.concat([
        randomBytes(10),
        Buffer.alloc(17),
        randomBytes(3),
        Buffer.alloc(280),
        randomBytes(5),
        Buffer.alloc(40000),
        randomBytes(20),
      ]),
    ],
  ])('GIVEN %s WHEN compressed and decompressed THEN the same bytes', (_, data) => {
    const block = compressXpressHuffman(data);
    expect(Buffer.from(decompressXpressHuffman(block, data.length)).equals(data)).toBe(true);
  });

  test('GIVEN compressible data WHEN compressed THEN it shrinks', () => {
    expect(compressXpressHuffman(Buffer.alloc(65536)).length).toBeLessThan(300);
    expect(compressXpressHuffman(text).length).toBeLessThan(text.length / 4);
  });

  test('GIVEN more than one block WHEN compressed THEN refused', () => {
    expect(() => compressXpressHuffman(Buffer.alloc(65537))).toThrow(/at most 65536/);
  });
});

describeWithMssqlFixtures('decompressXpressHuffman on a real compressed SQL Server backup', () => {
  test('GIVEN the first chunk of sharepoint-config-compressed.bak WHEN decoded THEN the MTF TAPE block', () => {
    const file = mssqlFixture('sharepoint-config-compressed.bak');
    const size = file.readUInt16LE(0x1e2);
    const tape = Buffer.from(decompressXpressHuffman(file.subarray(0x1fc, 0x1fc + size), 1024));
    expect(tape.subarray(0, 4).toString('latin1')).toBe('TAPE');
    expect(tape.subarray(0x5e, 0x5e + 40).toString('utf16le')).toBe('Microsoft SQL Server');
  });
});
