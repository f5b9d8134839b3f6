import {
  encodeSoftFilemark,
  encodeStreamHeader,
  readDblkHeader,
  readSoftFilemark,
  readStreamHeader,
  STREAM_HEADER_BYTES,
} from '../../protocol/mtf-blocks';

describe('MTF blocks: what the stand-in writes is what the reader reads', () => {
  it('a stream header round-trips, and a flipped byte breaks its checksum', () => {
    const header = encodeStreamHeader('MQDA', 123_456_789_012);
    expect(header.length).toBe(STREAM_HEADER_BYTES);
    expect(readStreamHeader(header, 0)).toMatchObject({ id: 'MQDA', length: 123_456_789_012 });
    header[9]! ^= 1;
    expect(readStreamHeader(header, 0)).toBeUndefined();
  });

  it("a soft filemark round-trips in SQL Server's variant, its earlier filemarks newest first", () => {
    const filemark = encodeSoftFilemark([0x2c00, 0x400], 512);
    expect(readDblkHeader(filemark, 0)).toMatchObject({ type: 'SFMB', osId: 0x0e, stringType: 2 });
    expect(readSoftFilemark(filemark, 0, 512)).toEqual({ previous: [0x2c00, 0x400] });
  });

  it('refuses an id that is not four capital letters or digits', () => {
    expect(() => encodeStreamHeader('spad', 0)).toThrow(/four capital letters or digits/);
  });
});
