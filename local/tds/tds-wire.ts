/**
 * TDS 7.4 wire format for the SQL Server stand-in: packet framing, the tokens a server sends,
 * and parsers for what the client sends (PRELOGIN, LOGIN7, SQL_BATCH, RPC). Pure functions.
 */

export const PacketType = { SQL_BATCH: 0x01, RPC: 0x03, TABULAR_RESULT: 0x04, ATTENTION: 0x06, LOGIN7: 0x10, PRELOGIN: 0x12 } as const;
export const PACKET_HEADER_BYTES = 8;
const STATUS_EOM = 0x01;
export const DoneStatus = { FINAL: 0x00, MORE: 0x01, ERROR: 0x02, COUNT: 0x10, ATTN: 0x20 } as const;

/** A whole client message, reassembled from its packets. */
export interface TdsMessage {
  type: number;
  payload: Buffer;
}

/** Reassembles packets into messages; rejects malformed headers. */
export class PacketReader {
  private buffered = Buffer.alloc(0);
  private parts: Buffer[] = [];

  /** Feeds bytes from the socket; returns the messages completed by them. */
  push(chunk: Buffer): TdsMessage[] {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const messages: TdsMessage[] = [];
    while (this.buffered.length >= PACKET_HEADER_BYTES) {
      const type = this.buffered.readUInt8(0);
      const status = this.buffered.readUInt8(1);
      const length = this.buffered.readUInt16BE(2);
      if (length < PACKET_HEADER_BYTES) throw new Error(`TDS packet length ${length} is shorter than its 8-byte header`);
      if (this.buffered.length < length) break;
      this.parts.push(this.buffered.subarray(PACKET_HEADER_BYTES, length));
      this.buffered = this.buffered.subarray(length);
      if (status & STATUS_EOM) {
        messages.push({ type, payload: Buffer.concat(this.parts) });
        this.parts = [];
      }
    }
    return messages;
  }
}

/** Splits a payload into packets of at most packetSize bytes; `last` marks end of message. */
export function framePackets(type: number, payload: Buffer, packetSize: number, last = true): Buffer {
  const room = packetSize - PACKET_HEADER_BYTES;
  const packets: Buffer[] = [];
  let packetId = 1;
  for (let offset = 0; offset < payload.length || packets.length === 0; offset += room) {
    const body = payload.subarray(offset, offset + room);
    const header = Buffer.alloc(PACKET_HEADER_BYTES);
    const isLast = offset + room >= payload.length;
    header.writeUInt8(type, 0);
    header.writeUInt8(isLast && last ? STATUS_EOM : 0, 1);
    header.writeUInt16BE(PACKET_HEADER_BYTES + body.length, 2);
    header.writeUInt16BE(0, 4);
    header.writeUInt8(packetId++ % 256, 6);
    packets.push(header, body);
  }
  return Buffer.concat(packets);
}

const ucs2 = (text: string) => Buffer.from(text, 'utf16le');
const bVarChar = (text: string) => Buffer.concat([Buffer.from([text.length]), ucs2(text)]);
const usVarChar = (text: string) => {
  const length = Buffer.alloc(2);
  length.writeUInt16LE(text.length);
  return Buffer.concat([length, ucs2(text)]);
};
const withUInt16Length = (tokenType: number, body: Buffer) => {
  const head = Buffer.alloc(3);
  head.writeUInt8(tokenType, 0);
  head.writeUInt16LE(body.length, 1);
  return Buffer.concat([head, body]);
};

/** PRELOGIN answer: version, encryption not supported, no MARS. */
export function preloginResponse(): Buffer {
  const options: Array<[number, Buffer]> = [
    [0x00, Buffer.from([16, 0, 0x10, 0x00, 0, 0])], // VERSION 16.0.4096
    [0x01, Buffer.from([0x02])], // ENCRYPTION: ENCRYPT_NOT_SUP
    [0x02, Buffer.from([0x00])], // INSTOPT
    [0x03, Buffer.alloc(4)], // THREADID
    [0x04, Buffer.from([0x00])], // MARS off
  ];
  const headerBytes = options.length * 5 + 1;
  const header = Buffer.alloc(headerBytes);
  let dataOffset = headerBytes;
  options.forEach(([token, data], i) => {
    header.writeUInt8(token, i * 5);
    header.writeUInt16BE(dataOffset, i * 5 + 1);
    header.writeUInt16BE(data.length, i * 5 + 3);
    dataOffset += data.length;
  });
  header.writeUInt8(0xff, headerBytes - 1);
  return Buffer.concat([header, ...options.map(([, data]) => data)]);
}

export function loginAckToken(programName: string): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(0x74000004);
  return withUInt16Length(0xad, Buffer.concat([Buffer.from([1]), version, bVarChar(programName), Buffer.from([16, 0, 0x10, 0x00])]));
}

export function envChangeToken(kind: 'database' | 'packetSize', newValue: string, oldValue: string): Buffer {
  const code = kind === 'database' ? 1 : 4;
  return withUInt16Length(0xe3, Buffer.concat([Buffer.from([code]), bVarChar(newValue), bVarChar(oldValue)]));
}

/** An INFO (class ≤ 10) or ERROR message token. */
export function messageToken(message: { number: number; state?: number; severity: number; text: string; server: string }): Buffer {
  const head = Buffer.alloc(6);
  head.writeInt32LE(message.number, 0);
  head.writeUInt8(message.state ?? 1, 4);
  head.writeUInt8(message.severity, 5);
  const line = Buffer.alloc(4);
  line.writeInt32LE(1);
  return withUInt16Length(
    message.severity > 10 ? 0xaa : 0xab,
    Buffer.concat([head, usVarChar(message.text), bVarChar(message.server), bVarChar(''), line]),
  );
}

/** DONE (0xFD), DONEPROC (0xFE) or DONEINPROC (0xFF). */
export function doneToken(status: number, rowCount = 0, tokenType: 0xfd | 0xfe | 0xff = 0xfd): Buffer {
  const token = Buffer.alloc(13);
  token.writeUInt8(tokenType, 0);
  token.writeUInt16LE(status, 1);
  token.writeUInt16LE(0xc1, 3);
  token.writeBigUInt64LE(BigInt(rowCount), 5);
  return token;
}

export function returnStatusToken(value: number): Buffer {
  const token = Buffer.alloc(5);
  token.writeUInt8(0x79, 0);
  token.writeInt32LE(value, 1);
  return token;
}

export type SqlValue = string | number | boolean | null;
const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]); // Latin1_General_CI_AS

/** COLMETADATA + ROW tokens for a result set. Numbers become int/bigint, everything else nvarchar. */
export function resultSetTokens(columns: string[], rows: SqlValue[][]): Buffer {
  const isNumeric = columns.map(
    (_, c) =>
      rows.length > 0 &&
      rows.every((row) => typeof row[c] === 'number' || row[c] === null) &&
      rows.some((row) => typeof row[c] === 'number'),
  );
  const meta: Buffer[] = [Buffer.from([0x81]), Buffer.from([columns.length & 0xff, columns.length >> 8])];
  columns.forEach((name, c) => {
    const userTypeAndFlags = Buffer.from([0, 0, 0, 0, 0x01, 0x00]); // nullable
    const typeInfo = isNumeric[c] ? Buffer.from([0x26, 8]) : Buffer.concat([Buffer.from([0xe7, 0x40, 0x1f]), COLLATION]);
    meta.push(userTypeAndFlags, typeInfo, bVarChar(name));
  });
  const rowTokens = rows.map((row) =>
    Buffer.concat([
      Buffer.from([0xd1]),
      ...row.map((value, c) => {
        if (isNumeric[c]) {
          if (value === null) return Buffer.from([0]);
          const data = Buffer.alloc(9);
          data.writeUInt8(8, 0);
          data.writeBigInt64LE(BigInt(value as number), 1);
          return data;
        }
        if (value === null) return Buffer.from([0xff, 0xff]);
        const text = ucs2(String(value));
        return Buffer.concat([Buffer.from([text.length & 0xff, text.length >> 8]), text]);
      }),
    ]),
  );
  return Buffer.concat([...meta, ...rowTokens]);
}

/** The login fields the stand-in checks. */
export interface Login7 {
  userName: string;
  password: string;
  database: string;
  packetSize: number;
}

export function parseLogin7(payload: Buffer): Login7 {
  if (payload.length < 94) throw new Error('LOGIN7 message is too short');
  const field = (at: number) => {
    const offset = payload.readUInt16LE(at);
    const chars = payload.readUInt16LE(at + 2);
    return payload.subarray(offset, offset + chars * 2);
  };
  // Passwords are sent with each byte's nibbles swapped and XORed with 0xA5.
  const password = Buffer.from(
    field(44).map((b) => {
      const x = b ^ 0xa5;
      return ((x & 0x0f) << 4) | (x >> 4);
    }),
  );
  return {
    packetSize: payload.readUInt32LE(12),
    userName: field(40).toString('utf16le'),
    password: password.toString('utf16le'),
    database: field(68).toString('utf16le'),
  };
}

/** Skips ALL_HEADERS at the start of SQL_BATCH and RPC payloads. */
function skipAllHeaders(payload: Buffer): number {
  if (payload.length < 4) return 0;
  const total = payload.readUInt32LE(0);
  return total >= 4 && total <= payload.length && total < 0x1000 ? total : 0;
}

export function parseSqlBatch(payload: Buffer): string {
  return payload.subarray(skipAllHeaders(payload)).toString('utf16le');
}

/** An RPC call: the procedure and its parameters by name (without "@"). */
export interface RpcCall {
  procedure: string;
  /** In order, names lower-cased without "@" (empty for unnamed). */
  parameters: Array<[string, SqlValue]>;
}

const PROC_IDS: Record<number, string> = { 10: 'sp_executesql', 11: 'sp_prepare', 12: 'sp_execute', 13: 'sp_prepexec', 15: 'sp_unprepare' };

export function parseRpc(payload: Buffer): RpcCall {
  let at = skipAllHeaders(payload);
  let procedure: string;
  const nameLength = payload.readUInt16LE(at);
  at += 2;
  if (nameLength === 0xffff) {
    const id = payload.readUInt16LE(at);
    at += 2;
    procedure = PROC_IDS[id] ?? `proc#${id}`;
  } else {
    procedure = payload.subarray(at, at + nameLength * 2).toString('utf16le');
    at += nameLength * 2;
  }
  at += 2; // option flags
  const parameters: Array<[string, SqlValue]> = [];
  while (at < payload.length) {
    const nameChars = payload.readUInt8(at);
    const name = payload
      .subarray(at + 1, at + 1 + nameChars * 2)
      .toString('utf16le')
      .replace(/^@/, '');
    at += 1 + nameChars * 2 + 1; // name + status flags
    const [value, next] = readTypedValue(payload, at);
    at = next;
    parameters.push([name.toLowerCase(), value]);
  }
  return { procedure, parameters };
}

function readTypedValue(buf: Buffer, at: number): [SqlValue, number] {
  const type = buf.readUInt8(at);
  switch (type) {
    case 0x26: {
      // INTN
      const length = buf.readUInt8(at + 2);
      const data = buf.subarray(at + 3, at + 3 + length);
      const value =
        length === 0
          ? null
          : length === 1
            ? data.readUInt8()
            : length === 2
              ? data.readInt16LE()
              : length === 4
                ? data.readInt32LE()
                : Number(data.readBigInt64LE());
      return [value, at + 3 + length];
    }
    case 0x68: {
      // BITN
      const length = buf.readUInt8(at + 2);
      return [length === 0 ? null : buf.readUInt8(at + 3) !== 0, at + 3 + length];
    }
    case 0xe7: // NVARCHAR
    case 0xa7: {
      // VARCHAR
      const maxLength = buf.readUInt16LE(at + 1);
      let p = at + 3 + 5; // type, max length, collation
      const encoding = type === 0xe7 ? 'utf16le' : 'latin1';
      if (maxLength === 0xffff) {
        const total = buf.readBigUInt64LE(p);
        p += 8;
        if (total === 0xffffffffffffffffn) return [null, p];
        const chunks: Buffer[] = [];
        for (;;) {
          const chunkLength = buf.readUInt32LE(p);
          p += 4;
          if (chunkLength === 0) break;
          chunks.push(buf.subarray(p, p + chunkLength));
          p += chunkLength;
        }
        return [Buffer.concat(chunks).toString(encoding), p];
      }
      const length = buf.readUInt16LE(p);
      p += 2;
      if (length === 0xffff) return [null, p];
      return [buf.subarray(p, p + length).toString(encoding), p + length];
    }
    default:
      throw new Error(`the SQL Server stand-in does not support parameter type 0x${type.toString(16)}`);
  }
}
