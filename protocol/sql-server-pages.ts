/**
 * SQL Server data pages as a full or differential backup carries them: 8 KiB each, the 96-byte page
 * header first. Pure functions over bytes; little-endian throughout.
 *
 * Page header fields used here (the layout Microsoft's engineers have described in public, e.g. Paul
 * Randal, "Inside the Storage Engine: Anatomy of a page", and DBCC PAGE's output names):
 *   0x00 UINT8  m_headerVersion (1)        0x01 UINT8  m_type (1 data, 2 index, … 15 file header)
 *   0x04 UINT16 m_flagBits (0x200: the page carries a checksum; 0x100: torn-page bits instead)
 *   0x20 UINT32 m_pageId.page              0x24 UINT16 m_pageId.file
 *   0x3C UINT32 m_tornBits: the checksum when 0x200 is set
 *
 * The page checksum (PAGE_VERIFY CHECKSUM, the default since SQL Server 2005) is not documented by
 * Microsoft; the algorithm is public reverse engineering ("SQL Server data page verify: algorithm of
 * checksum and torn page detection", DZone): XOR the 128 UINT32 words of each 512-byte sector (the
 * checksum field counted as 0), rotate sector i's result left by 15 − i bits, XOR the 16 results.
 * Confirmed here on every page with the checksum flag in the real backups of shared/fixtures/mssql
 * (159, 168 and 44 pages; SQL Server 10.50), so a mismatch is damage, not a guess gone wrong.
 *
 * What a backup may legitimately hold besides formatted pages (observed on difftest-full.bak): pages
 * of allocated extents that were never formatted — zeros, or whatever the disk held before (machine
 * code, in that file). Such a slot proves nothing either way and is counted, never failed.
 */
export const PAGE_BYTES = 8192;
const HEADER_BYTES = 96;
const CHECKSUM_AT = 0x3c;
export const PageFlag = { TORN_BITS: 0x100, CHECKSUM: 0x200 } as const;

/** Page types SQL Server writes (m_type); anything else in a page header is not a formatted page. */
const PAGE_TYPES: Record<number, string> = {
  1: 'data',
  2: 'index',
  3: 'text mix',
  4: 'text tree',
  7: 'sort',
  8: 'GAM',
  9: 'SGAM',
  10: 'IAM',
  11: 'PFS',
  13: 'boot',
  14: 'server configuration',
  15: 'file header',
  16: 'differential map',
  17: 'bulk-changed map',
  18: 'deallocated',
  19: 'unlinked',
  20: 'preallocated',
};
export const PageType = { FILE_HEADER: 15, BOOT: 13, PFS: 11 } as const;

/** The page checksum over 8 KiB at `at` (see the module comment). */
export function pageChecksum(bytes: Uint8Array, at = 0): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, PAGE_BYTES);
  let checksum = 0;
  for (let sector = 0; sector < 16; sector++) {
    let overall = 0;
    for (let word = 0; word < 128; word++) {
      const offset = sector * 512 + word * 4;
      if (offset !== CHECKSUM_AT) overall ^= view.getUint32(offset, true);
    }
    const rotate = 15 - sector;
    checksum ^= rotate === 0 ? overall : (overall << rotate) | (overall >>> (32 - rotate));
  }
  return checksum >>> 0;
}

export type PageSlotKind =
  /** A formatted page whose checksum is right. */
  | 'verified'
  /** A formatted page that carries a checksum, and it is wrong: damage. */
  | 'checksumFailed'
  /** A formatted page without a checksum (PAGE_VERIFY NONE or TORN_PAGE_DETECTION): nothing to verify. */
  | 'noChecksum'
  /** All zeros: a page never formatted. */
  | 'zero'
  /** No page header: a never-formatted page of an allocated extent holding old disk contents, or damage (cannot be told apart). */
  | 'notAPage';

export interface PageSlot {
  kind: PageSlotKind;
  type?: number;
  fileId?: number;
  pageId?: number;
}

/** What the 8 KiB at `at` are. */
export function classifyPage(bytes: Uint8Array, at = 0): PageSlot {
  let zero = true;
  for (let i = at; i < at + PAGE_BYTES; i++) {
    if (bytes[i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return { kind: 'zero' };
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_BYTES);
  const type = bytes[at + 1]!;
  if (bytes[at] !== 1 || PAGE_TYPES[type] === undefined) return { kind: 'notAPage' };
  const flags = view.getUint16(4, true);
  const slot = { type, pageId: view.getUint32(0x20, true), fileId: view.getUint16(0x24, true) };
  if ((flags & PageFlag.CHECKSUM) === 0) return { kind: 'noChecksum', ...slot };
  return { kind: pageChecksum(bytes, at) === view.getUint32(CHECKSUM_AT, true) ? 'verified' : 'checksumFailed', ...slot };
}

export function pageTypeName(type: number): string {
  return PAGE_TYPES[type] ?? `type ${type}`;
}

/** Counts of the page slots checked, with the first few damaged ones named. */
export interface PageTally {
  /** 8 KiB slots looked at. */
  checked: number;
  verified: number;
  checksumFailed: number;
  noChecksum: number;
  zero: number;
  notAPage: number;
  /** Up to 10 damaged pages: where in the file (or, compressed, in the decoded stream) and which page. */
  failures: Array<{ offset: number; fileId?: number; pageId?: number }>;
}

export function emptyTally(): PageTally {
  return { checked: 0, verified: 0, checksumFailed: 0, noChecksum: 0, zero: 0, notAPage: 0, failures: [] };
}

export function addSlot(tally: PageTally, slot: PageSlot, offset: number): void {
  tally.checked++;
  tally[slot.kind]++;
  if (slot.kind === 'checksumFailed' && tally.failures.length < 10)
    tally.failures.push({ offset, fileId: slot.fileId, pageId: slot.pageId });
}

/**
 * Writes a formatted page: header version 1, `type`, the page id, `body` after the 96-byte header,
 * and the checksum (flag 0x200). For test data and the SQL Server stand-in.
 */
export function formatPage(out: Uint8Array, at: number, page: { type: number; fileId: number; pageId: number; objectId?: number }): void {
  const view = new DataView(out.buffer, out.byteOffset + at, PAGE_BYTES);
  out[at] = 1;
  out[at + 1] = page.type;
  view.setUint16(4, PageFlag.CHECKSUM, true);
  view.setUint32(0x18, page.objectId ?? 0, true);
  view.setUint32(0x20, page.pageId, true);
  view.setUint16(0x24, page.fileId, true);
  view.setUint32(CHECKSUM_AT, 0, true);
  view.setUint32(CHECKSUM_AT, pageChecksum(out, at), true);
}
