import { createCipheriv, createHash } from 'node:crypto';

/**
 * Writes backup files in the layout SQL Server uses (Microsoft Tape Format): a TAPE block at 0,
 * SFMB at 0x400, SSET at 0x600, VOLB at 0xA00 and MSCI at 0xE00 whose SCIN structure names the
 * database and server as UTF-16 strings referenced by size/offset pairs at SCIN+0x68/+0x6C.
 * This mirrors the real backups in shared/fixtures/mssql, which the validator's parser is
 * tested against; the body is the stand-in database's pages.
 */
export const MTF_BLOCK_SIZE = 1024;
const SCIN_OFFSET = 0xe4e;
const HEADER_BYTES = 0x1400;

export interface BackupHeaderInput {
  database: string;
  server: string;
  backupSetName: string;
  startedAt: Date;
}

export function mtfHeader(input: BackupHeaderInput): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  const block = (at: number, magic: string) => header.write(magic, at, 'latin1');
  block(0x000, 'TAPE');
  header.writeUInt16LE(0x0300, 6); // MTF major version 3
  header.writeUInt16LE(MTF_BLOCK_SIZE, 0x52);
  writeUcs2At(header, 0x5c, 'Microsoft SQL Server');
  block(0x400, 'SFMB');
  block(0x600, 'SSET');
  header.writeUInt32LE(4, 0x634); // attributes: full backup
  writeUcs2At(header, 0x67a, `${input.backupSetName}`.slice(0, 60));
  header.writeBigUInt64LE(BigInt(input.startedAt.getTime()), 0x658);
  block(0xa00, 'VOLB');
  writeUcs2At(header, 0xa60, input.server.slice(0, 60));
  block(0xe00, 'MSCI');
  block(0xe38, 'MQCI');
  block(SCIN_OFFSET, 'SCIN');
  const databaseBytes = Buffer.from(input.database, 'utf16le');
  const serverBytes = Buffer.from(input.server, 'utf16le');
  const databaseAt = 0x16c;
  const serverAt = databaseAt + databaseBytes.length;
  if (SCIN_OFFSET + serverAt + serverBytes.length > HEADER_BYTES) throw new Error('database or server name too long for the stand-in header');
  header.writeUInt16LE(databaseBytes.length, SCIN_OFFSET + 0x68);
  header.writeUInt16LE(databaseAt, SCIN_OFFSET + 0x6a);
  header.writeUInt16LE(serverBytes.length, SCIN_OFFSET + 0x6c);
  header.writeUInt16LE(serverAt, SCIN_OFFSET + 0x6e);
  databaseBytes.copy(header, SCIN_OFFSET + databaseAt);
  serverBytes.copy(header, SCIN_OFFSET + serverAt);
  return header;
}

function writeUcs2At(buffer: Buffer, at: number, text: string): void {
  Buffer.from(text, 'utf16le').copy(buffer, at);
}

/**
 * Deterministic page content: an AES-CTR key stream seeded by the database and the backup time,
 * so every backup differs and nothing compresses away.
 */
export function* databasePages(seed: string, totalBytes: number, chunkBytes = 1024 * 1024): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  for (let done = 0; done < totalBytes; ) {
    const size = Math.min(chunkBytes, totalBytes - done);
    done += size;
    yield cipher.update(Buffer.alloc(size));
  }
}
