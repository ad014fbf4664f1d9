// Kafka wire primitives: the Writer and Reader that every generated codec in
// src/protocol/generated/ uses. Hand-written; the generated code only calls
// the methods below.
//
// Encodings (all big-endian):
//   bool/int8/int16/uint16/int32/uint32/int64/float64  fixed width
//   uuid                16 raw bytes; in TypeScript the 22-character
//                       base64url text Kafka itself prints (Uuid.toString()),
//                       so ids compare with === and work as Map keys.
//                       ZERO_UUID is the all-zero id.
//   string              classic: int16 length (-1 = null) + UTF-8;
//                       compact (flexible versions): unsigned varint N+1
//                       (0 = null) + UTF-8
//   bytes / records     classic: int32 length (-1 = null); compact as above
//   array               classic: int32 count (-1 = null); compact as above
//   tagged fields       at the end of every struct in flexible versions:
//                       uvarint count, then per field uvarint tag,
//                       uvarint size, value
//   varint / varlong    zigzag, as inside record batches
//
// Writer design. Bytes go into one growable Buffer (doubling, allocUnsafe);
// nothing is built as intermediate arrays of numbers. Fixed-width values go
// through a DataView over that Buffer (several times faster than Buffer's
// writeInt32BE & co.), after a cheap range check that throws
// ProtocolEncodeError instead of silently wrapping. `records` values are
// not copied when they are large (>= RECORDS_INLINE_BYTES_MIN): the pending
// bytes are cut off as a part, the caller's Buffer is appended by reference
// as its own part, and writing continues in the unused tail of the same
// allocation. `finish()` returns the parts in order, ready for
// socket.writev/cork, and `toBuffer()` concatenates them when one Buffer is
// wanted. This is the seam for sending Fetch data straight from segment
// files later: a part can become a file region instead of a Buffer without
// touching the generated code (it only calls `records()`).
// Tagged-field values are written in place after a one-byte size
// placeholder (`beginSized`/`endSized`); in the rare case the value is 128
// bytes or more the value is shifted to make room for a longer varint.
//
// Reader design. A Reader is a cursor over one Buffer with a movable `end`
// (fixed-width reads also go through a DataView).
// Every read checks the bytes left first and throws ProtocolDecodeError (never
// a RangeError from Buffer); every length and count is checked against the
// bytes left *before* anything is allocated, and counts are additionally
// divided by the smallest possible element size, so a forged count of 2^31
// fails at once. bytes/records values are zero-copy subarrays of the input
// (copy them if they must outlive the request buffer). Tagged fields are
// read inside a temporary `end` (`enter`/`leave`), so a tagged value can
// never read past its declared size, and unknown tags are skipped.

/** A message could not be decoded: truncated, a length past the end, a bad varint, null where not allowed. */
export class ProtocolDecodeError extends Error {
  override readonly name = 'ProtocolDecodeError';
  constructor(
    message: string,
    /** Byte offset in the decoded buffer where the problem was found. */
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
  }
}

/** A message cannot be encoded at the requested version, or a value is out of range for its wire type. */
export class ProtocolEncodeError extends Error {
  override readonly name = 'ProtocolEncodeError';
}

/**
 * The type of `records` fields: raw record-batch bytes. An alias so that it
 * can later widen (e.g. to file regions for zero-copy Fetch) in one place.
 */
export type Records = Buffer;

/** The highest version number; "N+" ranges end here. */
export const VERSION_MAX = 0x7fff;
/** Kafka's all-zero UUID in the base64url form used for uuid fields. */
export const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';
/** Shared empty buffer used as the default of non-nullable bytes fields. Never write into it. */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);
/** Shared empty array used as the default of array fields when encoding. */
export const EMPTY_ARRAY: readonly never[] = Object.freeze([]);

/** `records` values at least this long are referenced, shorter ones copied (an extra iovec costs more than a small copy). */
export const RECORDS_INLINE_BYTES_MIN = 512;
/** First allocation of a Writer; it doubles as needed. */
const WRITER_INITIAL_BYTES = 1024;
const INT16_MAX = 0x7fff;
const UUID_TEXT_LENGTH = 22;
const UUID_BYTES = 16;

/**
 * The input type of encoders: every field optional (absent = the schema
 * default, as Kafka's Java message constructors do), recursively.
 */
export type Init<T> = T extends Buffer | bigint | number | string | boolean | null | undefined
  ? T
  : T extends readonly (infer E)[]
    ? readonly Init<E>[]
    : { readonly [K in keyof T]?: Init<T[K]> };

/** Runs a generated write function into a fresh Writer and returns the bytes as one Buffer. */
export function encodeMessage<T>(write: (w: Writer, message: T, version: number) => void, message: T, version: number): Buffer {
  const w = new Writer();
  write(w, message, version);
  return w.toBuffer();
}

/** Throws unless `version` is within [min, max]. */
export function checkVersion(message: string, version: number, min: number, max: number): void {
  if (!(version >= min && version <= max) || !Number.isInteger(version)) {
    throw new ProtocolEncodeError(`${message} version ${version} is not supported (valid versions ${min}-${max})`);
  }
}

/** Decoder twin of checkVersion. */
export function checkReadVersion(message: string, version: number, min: number, max: number, r: Reader): void {
  if (!(version >= min && version <= max) || !Number.isInteger(version)) {
    throw new ProtocolDecodeError(`${message} version ${version} is not supported (valid versions ${min}-${max})`, r.pos);
  }
}

/** Encoder guard for a field that does not exist in `version` but holds a non-default value. */
export function unsupportedField(path: string, version: number): never {
  throw new ProtocolEncodeError(
    `${path} cannot be encoded at version ${version}: the field does not exist in that version and is not ignorable`,
  );
}

/** Encoder guard for null in a version where the field is not nullable. */
export function notNull<T>(value: T | null, path: string): T {
  if (value === null) throw new ProtocolEncodeError(`${path} is null but is not nullable in this version`);
  return value;
}

function outOfRange(type: string, value: unknown): never {
  throw new ProtocolEncodeError(`${typeof value === 'bigint' ? `${value}n` : String(value)} is not a valid ${type}`);
}

/** Bytes an unsigned varint takes. */
export function uvarintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

/**
 * Buffers that the Writer always appends by reference, whatever their size,
 * so that the caller can find them among the parts of finish(): the broker
 * marks placeholders for Fetch record data and swaps them for file regions.
 */
export const ALWAYS_REFERENCED = new WeakSet<Uint8Array>();

export class Writer {
  private buf: Buffer;
  /** DataView over `buf`: its typed accessors are several times faster than Buffer's read/write methods. */
  private view: DataView;
  /** Write position in `buf`. */
  private pos = 0;
  /** Start of the bytes in `buf` not yet cut off into `parts`. */
  private start = 0;
  private readonly parts: Buffer[] = [];
  /** parts[i] is one of our own allocations (patchable), not a caller's Buffer. */
  private readonly partOwned: boolean[] = [];
  private partsBytes = 0;
  /** Open beginSized() regions; references are copied while > 0 so the region stays contiguous. */
  private sizedDepth = 0;

  constructor(initialBytes = WRITER_INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.partsBytes + this.pos - this.start;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes > this.buf.length) this.grow(bytes);
  }

  private grow(bytes: number): void {
    const used = this.pos - this.start;
    let size = this.buf.length * 2;
    while (size < used + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
    this.start = 0;
    this.pos = used;
  }

  private cut(): void {
    if (this.pos > this.start) {
      this.parts.push(this.buf.subarray(this.start, this.pos));
      this.partOwned.push(true);
      this.partsBytes += this.pos - this.start;
      this.start = this.pos;
    }
  }

  bool(value: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
  }

  int8(value: number): void {
    if (((value << 24) >> 24) !== value) outOfRange('int8', value);
    this.ensure(1);
    this.view.setInt8(this.pos, value);
    this.pos += 1;
  }

  int16(value: number): void {
    if (((value << 16) >> 16) !== value) outOfRange('int16', value);
    this.ensure(2);
    this.view.setInt16(this.pos, value);
    this.pos += 2;
  }

  uint16(value: number): void {
    if ((value & 0xffff) !== value) outOfRange('uint16', value);
    this.ensure(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
  }

  int32(value: number): void {
    if ((value | 0) !== value) outOfRange('int32', value);
    this.ensure(4);
    this.view.setInt32(this.pos, value);
    this.pos += 4;
  }

  uint32(value: number): void {
    if (value >>> 0 !== value) outOfRange('uint32', value);
    this.ensure(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
  }

  int64(value: bigint): void {
    if (typeof value !== 'bigint' || BigInt.asIntN(64, value) !== value) outOfRange('int64', value);
    this.ensure(8);
    this.view.setBigInt64(this.pos, value);
    this.pos += 8;
  }

  float64(value: number): void {
    if (typeof value !== 'number') outOfRange('float64', value);
    this.ensure(8);
    this.view.setFloat64(this.pos, value);
    this.pos += 8;
  }

  /** Unsigned varint, 0 <= value <= 2^32-1. */
  uvarint(value: number): void {
    if (!(value >= 0 && value <= 0xffffffff)) throw new ProtocolEncodeError(`unsigned varint out of range: ${value}`);
    this.ensure(5);
    let v = value >>> 0;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** Zigzag varint of a 32-bit signed integer. */
  varint(value: number): void {
    if (!(value >= -0x80000000 && value <= 0x7fffffff)) throw new ProtocolEncodeError(`varint out of range: ${value}`);
    this.uvarint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  /** Zigzag varlong of a 64-bit signed integer. */
  varlong(value: bigint): void {
    let u = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
    this.ensure(10);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  /** A uuid in base64url text form (see the header). */
  uuid(value: string): void {
    if (value.length !== UUID_TEXT_LENGTH) throw new ProtocolEncodeError(`invalid uuid ${JSON.stringify(value)}: want 22 base64url characters`);
    this.ensure(UUID_BYTES);
    const written = this.buf.write(value, this.pos, UUID_BYTES, 'base64url');
    if (written !== UUID_BYTES) throw new ProtocolEncodeError(`invalid uuid ${JSON.stringify(value)}: not base64url`);
    this.pos += UUID_BYTES;
  }

  /** Length (or count) prefix: int32 classic / uvarint N+1 compact; -1 means null. */
  private length32(length: number, compact: boolean): void {
    if (compact) this.uvarint(length + 1);
    else this.int32(length);
  }

  /** A non-null string. */
  string(value: string, compact: boolean): void {
    if (typeof value !== 'string') throw new ProtocolEncodeError(`expected a string, got ${value === null ? 'null' : typeof value}`);
    const chars = value.length;
    if (compact) {
      if (chars <= 42) {
        // At most 126 UTF-8 bytes: the N+1 prefix fits in one byte, so write the text first and the prefix after.
        this.ensure(1 + chars * 3);
        const bytes = this.utf8(value, this.pos + 1);
        this.buf[this.pos] = bytes + 1;
        this.pos += 1 + bytes;
        return;
      }
      const bytes = Buffer.byteLength(value, 'utf8');
      this.uvarint(bytes + 1);
      this.ensure(bytes);
      this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
      return;
    }
    if (chars > INT16_MAX) throw new ProtocolEncodeError(`string of ${chars} characters is longer than an int16 length allows`);
    this.ensure(2 + chars * 3);
    const bytes = this.utf8(value, this.pos + 2);
    if (bytes > INT16_MAX) throw new ProtocolEncodeError(`string of ${bytes} bytes is longer than an int16 length allows`);
    this.buf.writeInt16BE(bytes, this.pos);
    this.pos += 2 + bytes;
  }

  /** Writes `value` as UTF-8 at `at` (room already ensured); returns the byte count. Short ASCII is copied by hand, which beats Buffer.write. */
  private utf8(value: string, at: number): number {
    const chars = value.length;
    if (chars > 32) return this.buf.write(value, at, 'utf8');
    const buf = this.buf;
    for (let i = 0; i < chars; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) return buf.write(value, at, 'utf8');
      buf[at + i] = c;
    }
    return chars;
  }

  nullableString(value: string | null, compact: boolean): void {
    if (value === null) {
      if (compact) this.uvarint(0);
      else this.int16(-1);
    } else {
      this.string(value, compact);
    }
  }

  /** Raw bytes with no length prefix (copied). */
  raw(value: Uint8Array): void {
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** A non-null bytes value (copied). */
  bytes(value: Buffer, compact: boolean): void {
    if (!(value instanceof Uint8Array)) throw new ProtocolEncodeError('expected a Buffer for a bytes field');
    this.length32(value.length, compact);
    this.raw(value);
  }

  nullableBytes(value: Buffer | null, compact: boolean): void {
    if (value === null) this.length32(-1, compact);
    else this.bytes(value, compact);
  }

  /** A records value (nullable): large values are appended by reference, see the header. */
  records(value: Records | null, compact: boolean): void {
    if (value === null) {
      this.length32(-1, compact);
      return;
    }
    if (!(value instanceof Uint8Array)) throw new ProtocolEncodeError('expected a Buffer for a records field');
    this.length32(value.length, compact);
    this.ref(value);
  }

  /** Appends `value` without copying when it is large enough (see the header); the caller must not modify it afterwards. */
  ref(value: Buffer): void {
    if ((value.length < RECORDS_INLINE_BYTES_MIN && !ALWAYS_REFERENCED.has(value)) || this.sizedDepth > 0) {
      this.raw(value);
      return;
    }
    this.cut();
    this.parts.push(value);
    this.partOwned.push(false);
    this.partsBytes += value.length;
  }

  /** Array count prefix of a non-null array. */
  arrayLength(count: number, compact: boolean): void {
    this.length32(count, compact);
  }

  /** Writes the count prefix of `value` (or the null marker) and tells whether elements follow. */
  array<T>(value: readonly T[] | null, compact: boolean): value is readonly T[] {
    if (value === null) {
      this.length32(-1, compact);
      return false;
    }
    this.length32(value.length, compact);
    return true;
  }

  int8Array(value: readonly number[] | null, compact: boolean): void {
    if (this.array(value, compact)) for (const e of value) this.int8(e);
  }

  int16Array(value: readonly number[] | null, compact: boolean): void {
    if (this.array(value, compact)) for (const e of value) this.int16(e);
  }

  int32Array(value: readonly number[] | null, compact: boolean): void {
    if (this.array(value, compact)) for (const e of value) this.int32(e);
  }

  int64Array(value: readonly bigint[] | null, compact: boolean): void {
    if (this.array(value, compact)) for (const e of value) this.int64(e);
  }

  stringArray(value: readonly string[] | null, compact: boolean): void {
    if (this.array(value, compact)) for (const e of value) this.string(e, compact);
  }

  uuidArray(value: readonly string[] | null, compact: boolean): void {
    if (this.array(value, compact)) for (const e of value) this.uuid(e);
  }

  /** Starts a value whose uvarint byte size precedes it; returns a mark for endSized(). */
  beginSized(): number {
    this.ensure(1);
    const mark = this.pos - this.start;
    this.pos += 1;
    this.sizedDepth++;
    return mark;
  }

  /** Writes the size of the value started at `mark`, moving the value if the size needs more than one byte. */
  endSized(mark: number): void {
    this.sizedDepth--;
    const size = this.pos - this.start - mark - 1;
    if (size < 0x80) {
      this.buf[this.start + mark] = size;
      return;
    }
    const prefix = uvarintBytes(size);
    this.ensure(prefix - 1);
    const at = this.start + mark;
    this.buf.copyWithin(at + prefix, at + 1, this.pos);
    this.pos += prefix - 1;
    let v = size;
    let p = at;
    while (v >= 0x80) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
  }

  /** Reserves 4 bytes (e.g. a frame size) to fill in later with setInt32(); returns their offset. */
  reserveInt32(): number {
    const at = this.length;
    this.int32(0);
    return at;
  }

  /** Overwrites 4 bytes at stream offset `at` (from reserveInt32()). */
  setInt32(at: number, value: number): void {
    let base = 0;
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i]!;
      if (at < base + part.length) {
        if (!this.partOwned[i] || at + 4 > base + part.length) throw new RangeError(`setInt32: offset ${at} is not a reserved slot`);
        part.writeInt32BE(value, at - base);
        return;
      }
      base += part.length;
    }
    if (at + 4 > base + this.pos - this.start) throw new RangeError(`setInt32: offset ${at} is past the end`);
    this.buf.writeInt32BE(value, this.start + at - base);
  }

  /** The written bytes as parts in order (own chunks and referenced records). The Writer can keep writing afterwards. */
  finish(): Buffer[] {
    this.cut();
    return this.parts.slice();
  }

  /** The written bytes as one Buffer (no copy when there is a single part). */
  toBuffer(): Buffer {
    const parts = this.finish();
    if (parts.length === 1) return parts[0]!;
    return Buffer.concat(parts, this.partsBytes);
  }
}

export class Reader {
  /** Next byte to read. */
  pos: number;
  private readonly view: DataView;
  /** Reads stop here (moved temporarily while inside a tagged field). */
  end: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    if (!(start >= 0 && start <= end && end <= buf.length)) throw new RangeError(`bad reader range ${start}..${end} of ${buf.length}`);
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string): never {
    throw new ProtocolDecodeError(message, this.pos);
  }

  private need(bytes: number, what: string): void {
    if (bytes > this.end - this.pos) this.fail(`truncated: ${what} needs ${bytes} bytes, ${this.end - this.pos} left`);
  }

  bool(): boolean {
    this.need(1, 'bool');
    return this.buf[this.pos++] !== 0;
  }

  int8(): number {
    this.need(1, 'int8');
    const v = this.view.getInt8(this.pos);
    this.pos += 1;
    return v;
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(): number {
    this.need(2, 'uint16');
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, 'int64');
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }

  float64(): number {
    this.need(8, 'float64');
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  /** Unsigned varint of at most 5 bytes and 32 bits. */
  uvarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail('truncated unsigned varint');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (value > 0xffffffff) this.fail('unsigned varint exceeds 32 bits');
        return value;
      }
      scale *= 128;
    }
    return this.fail('unsigned varint longer than 5 bytes');
  }

  /** Zigzag varint (32-bit). */
  varint(): number {
    const u = this.uvarint();
    return (u >>> 1) ^ -(u & 1);
  }

  /** Zigzag varlong (64-bit). */
  varlong(): bigint {
    let u = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varlong');
      const b = this.buf[this.pos++]!;
      u |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        u = BigInt.asUintN(64, u);
        return (u >> 1n) ^ -(u & 1n);
      }
    }
    return this.fail('varlong longer than 10 bytes');
  }

  uuid(): string {
    this.need(UUID_BYTES, 'uuid');
    const v = this.buf.toString('base64url', this.pos, this.pos + UUID_BYTES);
    this.pos += UUID_BYTES;
    return v;
  }

  /** A string length: -1 for null; anything else negative or past the end throws. */
  private stringLength(compact: boolean): number {
    const n = compact ? this.uvarint() - 1 : this.int16();
    if (n < -1) this.fail(`invalid string length ${n}`);
    if (n > this.end - this.pos) this.fail(`string length ${n} exceeds the ${this.end - this.pos} bytes left`);
    return n;
  }

  /** A bytes/records length: -1 for null; anything else negative or past the end throws. */
  private bytesLength(compact: boolean): number {
    const n = compact ? this.uvarint() - 1 : this.int32();
    if (n < -1) this.fail(`invalid bytes length ${n}`);
    if (n > this.end - this.pos) this.fail(`bytes length ${n} exceeds the ${this.end - this.pos} bytes left`);
    return n;
  }

  private utf8(n: number): string {
    const v = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  string(compact: boolean): string {
    const n = this.stringLength(compact);
    if (n < 0) this.fail('null in a non-nullable string');
    return this.utf8(n);
  }

  nullableString(compact: boolean): string | null {
    const n = this.stringLength(compact);
    return n < 0 ? null : this.utf8(n);
  }

  /** Zero-copy. */
  bytes(compact: boolean): Buffer {
    const n = this.bytesLength(compact);
    if (n < 0) this.fail('null in a non-nullable bytes field');
    return this.slice(n);
  }

  /** Zero-copy. */
  nullableBytes(compact: boolean): Buffer | null {
    const n = this.bytesLength(compact);
    return n < 0 ? null : this.slice(n);
  }

  /** Zero-copy, nullable. */
  records(compact: boolean): Records | null {
    return this.nullableBytes(compact);
  }

  /** `n` raw bytes, zero-copy. */
  slice(n: number): Buffer {
    this.need(n, 'bytes');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /**
   * Array count, -1 for null. `elementBytesMin` is the smallest encoding of one element:
   * a count that could not fit in the bytes left throws before anything is allocated.
   */
  nullableCount(compact: boolean, elementBytesMin: number): number {
    const at = this.pos;
    const n = compact ? this.uvarint() - 1 : this.int32();
    if (n < -1) this.fail(`invalid array count ${n}`);
    if (n > 0 && n * elementBytesMin > this.end - this.pos) {
      throw new ProtocolDecodeError(
        `array count ${n} cannot fit in the ${this.end - this.pos} bytes left (each element takes at least ${elementBytesMin})`,
        at,
      );
    }
    return n;
  }

  /** Array count of a non-nullable array. */
  count(compact: boolean, elementBytesMin: number): number {
    const n = this.nullableCount(compact, elementBytesMin);
    if (n < 0) this.fail('null in a non-nullable array');
    return n;
  }

  int8s(n: number): number[] {
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(this.int8());
    return a;
  }

  int16s(n: number): number[] {
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(this.int16());
    return a;
  }

  int32s(n: number): number[] {
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(this.int32());
    return a;
  }

  int64s(n: number): bigint[] {
    const a: bigint[] = [];
    for (let i = 0; i < n; i++) a.push(this.int64());
    return a;
  }

  strings(n: number, compact: boolean): string[] {
    const a: string[] = [];
    for (let i = 0; i < n; i++) a.push(this.string(compact));
    return a;
  }

  uuids(n: number): string[] {
    const a: string[] = [];
    for (let i = 0; i < n; i++) a.push(this.uuid());
    return a;
  }

  /** Skips a whole tagged-field section (for structs with no known tagged fields). */
  skipTags(): void {
    for (let n = this.uvarint(); n > 0; n--) {
      this.uvarint();
      const size = this.uvarint();
      this.need(size, 'tagged field');
      this.pos += size;
    }
  }

  /** Reads a tagged field's size and limits reads to it; returns the previous end for leave(). */
  enter(): number {
    const size = this.uvarint();
    this.need(size, 'tagged field');
    const saved = this.end;
    this.end = this.pos + size;
    return saved;
  }

  /** Ends a tagged field started with enter(); its value must have used exactly its declared size. */
  leave(saved: number): void {
    if (this.pos !== this.end) this.fail(`tagged field value has ${this.end - this.pos} unread bytes`);
    this.end = saved;
  }

  /** Skips the rest of the current tagged field (an unknown tag). */
  skipRest(): void {
    this.pos = this.end;
  }
}
