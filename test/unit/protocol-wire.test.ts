// Tests of the hand-written wire primitives (src/protocol/wire.ts) that every
// generated codec relies on: varints, strings, sized tagged values, records by
// reference, frame-size patching and the Reader's bounds checks.
import { describe, expect, it } from 'vitest';

import { ProtocolDecodeError, ProtocolEncodeError, RECORDS_INLINE_BYTES_MIN, Reader, Writer, ZERO_UUID, uvarintBytes } from '../../src/protocol/wire.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const written = (fill: (w: Writer) => void, initialBytes = 16): Buffer => {
  const w = new Writer(initialBytes);
  fill(w);
  return w.toBuffer();
};

describe('varints', () => {
  it('unsigned varints at every byte-length boundary', () => {
    // Proves the 7-bit little-endian groups and the 5-byte, 32-bit ceiling.
    const cases: [number, string][] = [
      [0, '00'],
      [1, '01'],
      [127, '7f'],
      [128, '8001'],
      [300, 'ac02'],
      [16383, 'ff7f'],
      [16384, '808001'],
      [2 ** 31 - 1, 'ffffffff07'],
      [2 ** 32 - 1, 'ffffffff0f'],
    ];
    for (const [value, bytes] of cases) {
      expect(written((w) => w.uvarint(value)).toString('hex'), String(value)).toBe(bytes);
      expect(new Reader(hex(bytes)).uvarint()).toBe(value);
      expect(uvarintBytes(value)).toBe(bytes.length / 2);
    }
    expect(() => written((w) => w.uvarint(-1))).toThrow(ProtocolEncodeError);
    expect(() => written((w) => w.uvarint(2 ** 32))).toThrow(ProtocolEncodeError);
    expect(() => new Reader(hex('ffffffff1f')).uvarint()).toThrow(/exceeds 32 bits/);
    expect(() => new Reader(hex('ffffffffff01')).uvarint()).toThrow(/longer than 5 bytes/);
    expect(() => new Reader(hex('80')).uvarint()).toThrow(ProtocolDecodeError);
  });

  it('zigzag varints and varlongs', () => {
    // Proves the zigzag mapping (0,-1,1,-2 -> 0,1,2,3) at both ends of the 32- and 64-bit ranges.
    const ints: [number, string][] = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [-64, '7f'],
      [64, '8001'],
      [2147483647, 'feffffff0f'],
      [-2147483648, 'ffffffff0f'],
    ];
    for (const [value, bytes] of ints) {
      expect(written((w) => w.varint(value)).toString('hex'), String(value)).toBe(bytes);
      expect(new Reader(hex(bytes)).varint()).toBe(value);
    }
    const longs: [bigint, string][] = [
      [0n, '00'],
      [-1n, '01'],
      [1n, '02'],
      [2n ** 63n - 1n, 'feffffffffffffffff01'],
      [-(2n ** 63n), 'ffffffffffffffffff01'],
    ];
    for (const [value, bytes] of longs) {
      expect(written((w) => w.varlong(value)).toString('hex'), String(value)).toBe(bytes);
      expect(new Reader(hex(bytes)).varlong()).toBe(value);
    }
  });
});

describe('strings, bytes, uuids', () => {
  it('compact strings on the one-byte fast path and past it', () => {
    // Proves the prefix is N+1 UTF-8 bytes for short, long (2-byte prefix) and multi-byte strings.
    expect(written((w) => w.string('', true))).toEqual(hex('01'));
    expect(written((w) => w.string('é', true))).toEqual(hex('03 c3a9'));
    expect(written((w) => w.nullableString(null, true))).toEqual(hex('00'));
    for (const text of ['a'.repeat(42), 'a'.repeat(43), 'a'.repeat(126), 'a'.repeat(127), 'ü'.repeat(100), 'x'.repeat(20000)]) {
      const bytes = written((w) => w.string(text, true));
      const r = new Reader(bytes);
      expect(r.string(true)).toBe(text);
      expect(r.remaining).toBe(0);
      expect(bytes.length).toBe(uvarintBytes(Buffer.byteLength(text) + 1) + Buffer.byteLength(text));
    }
  });

  it('classic strings have an int16 length, -1 for null, and a 32767-byte ceiling', () => {
    // Proves non-compact strings and that an over-long string is refused instead of wrapping the length.
    expect(written((w) => w.string('ab', false))).toEqual(hex('0002 6162'));
    expect(written((w) => w.nullableString(null, false))).toEqual(hex('ffff'));
    expect(new Reader(hex('ffff')).nullableString(false)).toBeNull();
    expect(() => new Reader(hex('ffff')).string(false)).toThrow(/null in a non-nullable string/);
    expect(() => new Reader(hex('fffe')).nullableString(false)).toThrow(/invalid string length -2/);
    expect(written((w) => w.string('€'.repeat(10922), false)).length).toBe(2 + 32766);
    expect(() => written((w) => w.string('€'.repeat(10923), false))).toThrow(ProtocolEncodeError);
    expect(() => written((w) => w.string('a'.repeat(40000), false))).toThrow(ProtocolEncodeError);
  });

  it('bytes are int32- or uvarint-prefixed and decode as zero-copy views', () => {
    // Proves bytes encodings and that decoding does not copy.
    const input = hex('00000003 010203');
    const value = new Reader(input).bytes(false);
    expect(value).toEqual(hex('010203'));
    expect(value.buffer).toBe(input.buffer);
    expect(written((w) => w.nullableBytes(null, true))).toEqual(hex('00'));
    expect(written((w) => w.nullableBytes(null, false))).toEqual(hex('ffffffff'));
    expect(written((w) => w.bytes(hex('ff'), true))).toEqual(hex('02 ff'));
  });

  it('uuids are 16 raw bytes shown as base64url text', () => {
    // Proves the uuid representation and that malformed uuid text is refused.
    const raw = hex('00112233445566778899aabbccddeeff');
    const text = raw.toString('base64url');
    expect(written((w) => w.uuid(text))).toEqual(raw);
    expect(new Reader(raw).uuid()).toBe(text);
    expect(written((w) => w.uuid(ZERO_UUID))).toEqual(Buffer.alloc(16));
    expect(() => written((w) => w.uuid('short'))).toThrow(ProtocolEncodeError);
    expect(() => written((w) => w.uuid('!'.repeat(22)))).toThrow(ProtocolEncodeError);
  });
});

describe('Writer', () => {
  it('grows from a tiny buffer without losing bytes', () => {
    // Proves growth copies the pending bytes correctly.
    const bytes = written((w) => {
      for (let i = 0; i < 1000; i++) w.int32(i);
    }, 16);
    for (let i = 0; i < 1000; i++) expect(bytes.readInt32BE(i * 4)).toBe(i);
  });

  it('refuses numbers outside their wire type instead of wrapping them', () => {
    // Proves the range checks in front of the DataView writes.
    expect(written((w) => w.int16(-32768)).toString('hex')).toBe('8000');
    expect(written((w) => w.uint32(0xffffffff)).toString('hex')).toBe('ffffffff');
    expect(written((w) => w.int64(-(2n ** 63n))).toString('hex')).toBe('8000000000000000');
    for (const write of [
      (w: Writer) => w.int8(128),
      (w: Writer) => w.int16(40000),
      (w: Writer) => w.uint16(-1),
      (w: Writer) => w.int32(2 ** 31),
      (w: Writer) => w.int32(1.5),
      (w: Writer) => w.int32(Number.NaN),
      (w: Writer) => w.uint32(-1),
      (w: Writer) => w.int64(2n ** 63n),
      (w: Writer) => w.int64(5 as unknown as bigint),
    ]) {
      expect(() => written(write)).toThrow(ProtocolEncodeError);
    }
  });

  it('references large records and copies small ones', () => {
    // Proves the zero-copy path: large records become their own part, small ones are inlined, and the stream stays in order.
    const large = Buffer.alloc(RECORDS_INLINE_BYTES_MIN, 7);
    const small = Buffer.alloc(RECORDS_INLINE_BYTES_MIN - 1, 8);
    const w = new Writer(16);
    w.int8(1);
    w.records(large, false);
    w.int8(2);
    w.records(small, true);
    w.records(null, true);
    const parts = w.finish();
    expect(parts).toHaveLength(3);
    expect(parts[1]).toBe(large);
    expect(w.length).toBe(1 + 4 + large.length + 1 + 2 + small.length + 1);
    const r = new Reader(w.toBuffer());
    expect(r.int8()).toBe(1);
    expect(r.records(false)).toEqual(large);
    expect(r.int8()).toBe(2);
    expect(r.records(true)).toEqual(small);
    expect(r.records(true)).toBeNull();
  });

  it('patches a reserved frame size even after referenced parts', () => {
    // Proves reserveInt32/setInt32 for frame sizes and that referenced caller buffers are never written into.
    const w = new Writer(16);
    const at = w.reserveInt32();
    w.records(Buffer.alloc(1000, 1), false);
    w.setInt32(at, w.length - 4);
    const bytes = w.toBuffer();
    expect(bytes.readInt32BE(0)).toBe(bytes.length - 4);
    expect(() => w.setInt32(10, 0)).toThrow(RangeError);
  });

  it('sizes tagged values of every prefix length, moving the value when needed', () => {
    // Proves beginSized/endSized for sizes needing 1, 2 and 3 varint bytes, including across buffer growth.
    for (const size of [0, 1, 127, 128, 300, 16383, 16384, 70000]) {
      const w = new Writer(16);
      w.int8(0x55);
      const mark = w.beginSized();
      for (let i = 0; i < size; i++) w.int8(i & 0x7f);
      w.endSized(mark);
      w.int8(0x66);
      const r = new Reader(w.toBuffer());
      expect(r.int8()).toBe(0x55);
      expect(r.uvarint()).toBe(size);
      for (let i = 0; i < size; i++) if (r.int8() !== (i & 0x7f)) throw new Error(`byte ${i} of ${size}`);
      expect(r.int8()).toBe(0x66);
      expect(r.remaining).toBe(0);
    }
  });

  it('copies references while inside a sized value', () => {
    // Proves a tagged value stays contiguous (so its size can be patched) even if it contained a large blob.
    const w = new Writer(16);
    const mark = w.beginSized();
    w.records(Buffer.alloc(2000, 3), true);
    w.endSized(mark);
    expect(w.finish()).toHaveLength(1);
  });
});

describe('Reader', () => {
  it('throws ProtocolDecodeError with the offset on every truncated fixed-width read', () => {
    // Proves bounds are checked before reading (no RangeError from Buffer).
    const reads: ((r: Reader) => unknown)[] = [
      (r) => r.bool(),
      (r) => r.int8(),
      (r) => r.int16(),
      (r) => r.uint16(),
      (r) => r.int32(),
      (r) => r.uint32(),
      (r) => r.int64(),
      (r) => r.float64(),
      (r) => r.uuid(),
      (r) => r.varlong(),
    ];
    for (const read of reads) {
      const r = new Reader(hex('80'), 1);
      expect(() => read(r)).toThrow(ProtocolDecodeError);
      try {
        read(new Reader(hex('80'), 1));
      } catch (error) {
        expect((error as ProtocolDecodeError).offset).toBe(1);
      }
    }
  });

  it('caps array counts by the bytes left times the smallest element', () => {
    // Proves a count that cannot fit is refused before any allocation, and -1 means null only where allowed.
    expect(new Reader(hex('00000002 00000001 00000002')).count(false, 4)).toBe(2);
    expect(() => new Reader(hex('00000003 00000001 00000002')).count(false, 4)).toThrow(/array count 3 cannot fit in the 8 bytes left/);
    expect(() => new Reader(hex('7fffffff')).count(false, 1)).toThrow(ProtocolDecodeError);
    expect(new Reader(hex('ffffffff')).nullableCount(false, 1)).toBe(-1);
    expect(() => new Reader(hex('ffffffff')).count(false, 1)).toThrow(/null in a non-nullable array/);
    expect(new Reader(hex('00')).nullableCount(true, 1)).toBe(-1);
    expect(() => new Reader(hex('ffffffff0f')).count(true, 1)).toThrow(ProtocolDecodeError);
  });

  it('limits reads to a tagged field and checks it was read exactly', () => {
    // Proves enter/leave confine a tagged value to its declared size.
    const r = new Reader(hex('02 0001 ff'));
    const saved = r.enter();
    expect(r.int16()).toBe(1);
    expect(() => r.int8()).toThrow(ProtocolDecodeError);
    r.leave(saved);
    expect(r.int8()).toBe(-1);
    const short = new Reader(hex('03 0001 ff'));
    const s = short.enter();
    short.int16();
    expect(() => short.leave(s)).toThrow(/1 unread bytes/);
    const skipped = new Reader(hex('02 01 02 aabb 03 00 ff'));
    skipped.skipTags();
    expect(skipped.int8()).toBe(-1);
  });
});
