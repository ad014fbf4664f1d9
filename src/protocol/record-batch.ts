// RecordBatch v2 encoding and decoding in TypeScript, for embedding users,
// tools and tests, with every codec (gzip, snappy, lz4, zstd; see
// compression.ts). The byte layout is documented in native/record_batch.h and
// docs/STORAGE_FORMAT.md; the CRC-32C comes from the addon. walkRecords() is
// the broker's check of decompressed records (src/log/batch-compression.ts).
import { native } from '../native.js';
import { COMPRESSION_IDS, compressSync, compressionName, decompress, decompressSync, type CompressionName } from './compression.js';

export type Bytes = Buffer | Uint8Array | string;

export interface RecordHeader {
  key: string;
  value: Bytes | null;
}

export interface RecordInput {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: RecordHeader[];
  /** Milliseconds since the epoch; defaults to the batch timestamp. */
  timestamp?: number;
}

export interface EncodeOptions {
  /** Written into the batch; the log assigns real offsets on append. Default 0. */
  baseOffset?: number;
  /** Timestamp for records that have none (default: now). */
  timestamp?: number;
  compression?: CompressionName;
  /**
   * The codec's level (KIP-390): gzip 1-9 (-1: zlib's default), zstd
   * -131072..22 (default 3). lz4-napi has a single level, so lz4 ignores it.
   */
  compressionLevel?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  partitionLeaderEpoch?: number;
  transactional?: boolean;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

export interface DecodedBatch {
  baseOffset: number;
  lastOffset: number;
  /** Bytes of this batch in the buffer it was decoded from. */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  attributes: number;
  compression: CompressionName;
  timestampType: 'CreateTime' | 'LogAppendTime';
  isTransactional: boolean;
  isControl: boolean;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  records: DecodedRecord[];
}

export const BATCH_HEADER_BYTES = 61;
const LOG_OVERHEAD_BYTES = 12;
const CRC_START = 21;

function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Zigzag encoding of a safe integer, as an unsigned value (a number below 2^53 or a bigint above). */
function zigzag(value: number): number | bigint {
  if (value >= -0x40000000 && value < 0x40000000) return value >= 0 ? value * 2 : -value * 2 - 1;
  const v = BigInt(value);
  return v >= 0n ? v << 1n : (-v << 1n) - 1n;
}

function varintBytes(value: number): number {
  let u = zigzag(value);
  let n = 1;
  if (typeof u === 'number') {
    while (u >= 0x80) {
      u = Math.floor(u / 128);
      n++;
    }
    return n;
  }
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  let u = zigzag(value);
  if (typeof u === 'number') {
    while (u >= 0x80) {
      out[at++] = (u & 0x7f) | 0x80;
      u = Math.floor(u / 128);
    }
    out[at++] = u;
    return at;
  }
  while (u >= 0x80n) {
    out[at++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  out[at++] = Number(u);
  return at;
}

function sizedBytes(data: Buffer | null): number {
  return data === null ? 1 : varintBytes(data.length) + data.length;
}

function writeSized(out: Buffer, at: number, data: Buffer | null): number {
  if (data === null) return writeVarint(out, at, -1);
  at = writeVarint(out, at, data.length);
  data.copy(out, at);
  return at + data.length;
}

/** One record's fields as bytes, and the size of its framed encoding. */
interface PreparedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: [Buffer, Buffer | null][];
  timestampDelta: number;
  bodyBytes: number;
}

function prepareRecord(record: RecordInput, index: number, timestampDelta: number): PreparedRecord {
  const key = record.key === undefined || record.key === null ? null : toBuffer(record.key);
  const value = record.value === null ? null : toBuffer(record.value);
  const headers: [Buffer, Buffer | null][] = (record.headers ?? []).map((header) => {
    if (typeof header.key !== 'string') throw new TypeError(`record ${index}: header keys must be strings`);
    return [Buffer.from(header.key, 'utf8'), header.value === null ? null : toBuffer(header.value)];
  });
  let bodyBytes = 1 + varintBytes(timestampDelta) + varintBytes(index) + sizedBytes(key) + sizedBytes(value) + varintBytes(headers.length);
  for (const [k, v] of headers) bodyBytes += sizedBytes(k) + sizedBytes(v);
  return { key, value, headers, timestampDelta, bodyBytes };
}

function writeRecord(out: Buffer, at: number, r: PreparedRecord, index: number): number {
  at = writeVarint(out, at, r.bodyBytes);
  out[at++] = 0; // record attributes: unused
  at = writeVarint(out, at, r.timestampDelta);
  at = writeVarint(out, at, index);
  at = writeSized(out, at, r.key);
  at = writeSized(out, at, r.value);
  at = writeVarint(out, at, r.headers.length);
  for (const [k, v] of r.headers) {
    at = writeSized(out, at, k);
    at = writeSized(out, at, v);
  }
  return at;
}

/** Encodes records as one RecordBatch v2 (magic 2) with a valid CRC-32C. */
export function encodeRecordBatch(records: readonly RecordInput[], options: EncodeOptions = {}): Buffer {
  if (!Array.isArray(records) || records.length === 0) throw new RangeError('a record batch needs at least one record');
  const now = options.timestamp ?? Date.now();
  const timestamps = records.map((r) => r.timestamp ?? now);
  for (const t of timestamps) {
    if (!Number.isSafeInteger(t)) throw new RangeError(`record timestamps must be integers (ms), got ${t}`);
  }
  let baseTimestamp = timestamps[0]!;
  let maxTimestamp = timestamps[0]!;
  for (const t of timestamps) {
    if (t < baseTimestamp) baseTimestamp = t;
    if (t > maxTimestamp) maxTimestamp = t;
  }
  // Sizes first, then one allocation written in place.
  const prepared = records.map((r, i) => prepareRecord(r, i, timestamps[i]! - baseTimestamp));
  let recordsBytes = 0;
  for (const r of prepared) recordsBytes += varintBytes(r.bodyBytes) + r.bodyBytes;
  const compression = options.compression ?? 'none';
  let batch: Buffer;
  if (compression === 'none') {
    batch = Buffer.alloc(BATCH_HEADER_BYTES + recordsBytes);
    let at = BATCH_HEADER_BYTES;
    prepared.forEach((r, i) => (at = writeRecord(batch, at, r, i)));
  } else {
    const plain = Buffer.alloc(recordsBytes);
    let at = 0;
    prepared.forEach((r, i) => (at = writeRecord(plain, at, r, i)));
    const payload = compressSync(compression, plain, options.compressionLevel);
    batch = Buffer.alloc(BATCH_HEADER_BYTES + payload.length);
    payload.copy(batch, BATCH_HEADER_BYTES);
  }

  batch.writeBigInt64BE(BigInt(options.baseOffset ?? 0), 0);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD_BYTES, 8);
  batch.writeInt32BE(options.partitionLeaderEpoch ?? -1, 12);
  batch.writeInt8(2, 16);
  const attributes = COMPRESSION_IDS[compression] | (options.transactional ? 0x10 : 0);
  batch.writeInt16BE(attributes, 21);
  batch.writeInt32BE(records.length - 1, 23);
  batch.writeBigInt64BE(BigInt(baseTimestamp), 27);
  batch.writeBigInt64BE(BigInt(maxTimestamp), 35);
  batch.writeBigInt64BE(BigInt(options.producerId ?? -1), 43);
  batch.writeInt16BE(options.producerEpoch ?? -1, 51);
  batch.writeInt32BE(options.baseSequence ?? -1, 53);
  batch.writeInt32BE(records.length, 57);
  batch.writeUInt32BE(native.crc32c(batch.subarray(CRC_START)), 17);
  return batch;
}

class Reader {
  position: number;
  constructor(
    readonly buffer: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.position = start;
  }
  fail(what: string): never {
    throw new Error(`malformed record: ${what} at byte ${this.position}`);
  }
  varint(maxBytes = 10): number {
    // Numbers while the value fits in 49 bits (every realistic length, delta
    // and timestamp delta), BigInt beyond.
    let raw = 0;
    for (let i = 0; i < maxBytes; i++) {
      if (this.position >= this.end) this.fail('truncated varint');
      const byte = this.buffer[this.position++]!;
      if (i === 7) return this.#bigVarint(raw, byte, maxBytes);
      raw += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
    }
    return this.fail('varint too long');
  }
  #bigVarint(low: number, byte: number, maxBytes: number): number {
    let raw = BigInt(low);
    for (let i = 7; i < maxBytes; i++) {
      if (i > 7) {
        if (this.position >= this.end) this.fail('truncated varint');
        byte = this.buffer[this.position++]!;
      }
      raw |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return Number((raw >> 1n) ^ -(raw & 1n));
    }
    return this.fail('varint too long');
  }
  sized(): Buffer | null {
    const length = this.varint(5);
    if (length === -1) return null;
    if (length < 0) this.fail(`negative length ${length}`);
    if (length > this.end - this.position) this.fail(`length ${length} past the end`);
    const out = this.buffer.subarray(this.position, this.position + length);
    this.position += length;
    return out;
  }
}

/**
 * Decodes every whole RecordBatch v2 in `buffer` (as returned by Log.read),
 * decompressing gzip, snappy (raw or xerial), lz4 and zstd batches.
 * Throws on a bad CRC, a magic other than 2, an undecodable payload or
 * malformed records; a trailing partial batch is ignored, as clients do.
 */
export function decodeRecordBatches(buffer: Uint8Array): DecodedBatch[] {
  return wholeBatches(buffer).map((batch) => {
    const compression = compressionName(batch.readInt16BE(21) & 0x07);
    const payload = batch.subarray(BATCH_HEADER_BYTES);
    return decodeBatch(batch, compression === 'none' ? payload : decompressSync(compression, payload));
  });
}

/**
 * decodeRecordBatches with the decompression on libuv's thread pool instead
 * of the calling thread (the broker's form).
 */
export async function decodeRecordBatchesAsync(buffer: Uint8Array): Promise<DecodedBatch[]> {
  const decoded: DecodedBatch[] = [];
  for (const batch of wholeBatches(buffer)) {
    const compression = compressionName(batch.readInt16BE(21) & 0x07);
    const payload = batch.subarray(BATCH_HEADER_BYTES);
    decoded.push(decodeBatch(batch, compression === 'none' ? payload : await decompress(compression, payload)));
  }
  return decoded;
}

/** The whole batches in `buffer`, each checked for magic and CRC-32C; a trailing partial batch is left out. */
function wholeBatches(buffer: Uint8Array): Buffer[] {
  const data = toBuffer(buffer);
  const batches: Buffer[] = [];
  let position = 0;
  while (position + BATCH_HEADER_BYTES <= data.length) {
    const size = LOG_OVERHEAD_BYTES + data.readInt32BE(position + 8);
    if (size < BATCH_HEADER_BYTES) throw new Error(`batch at byte ${position} has invalid length ${size}`);
    if (position + size > data.length) break;
    const magic = data.readInt8(position + 16);
    if (magic !== 2) throw new Error(`batch at byte ${position} has magic ${magic}; only RecordBatch v2 is supported`);
    const batch = data.subarray(position, position + size);
    const crc = batch.readUInt32BE(17);
    const computed = native.crc32c(batch.subarray(CRC_START));
    if (crc !== computed) throw new Error(`batch at byte ${position} fails its CRC-32C check`);
    batches.push(batch);
    position += size;
  }
  return batches;
}

/** One batch's header and its records, `records` being the batch's payload decompressed. */
function decodeBatch(batch: Buffer, records: Buffer): DecodedBatch {
  const attributes = batch.readInt16BE(21);
  const compression = compressionName(attributes & 0x07);
  const logAppendTime = (attributes & 0x08) !== 0;
  const baseOffset = Number(batch.readBigInt64BE(0));
  const baseTimestamp = Number(batch.readBigInt64BE(27));
  const maxTimestamp = Number(batch.readBigInt64BE(35));
  const count = batch.readInt32BE(57);
  const reader = new Reader(records, 0, records.length);
  const decoded: DecodedRecord[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.varint(5);
    const end = reader.position + length;
    if (length < 1 || end > reader.end) reader.fail(`record ${i} length ${length}`);
    const recordReader = new Reader(records, reader.position + 1, end);
    const timestampDelta = recordReader.varint();
    const offsetDelta = recordReader.varint(5);
    const key = recordReader.sized();
    const value = recordReader.sized();
    const headerCount = recordReader.varint(5);
    const headers: DecodedRecord['headers'] = [];
    for (let h = 0; h < headerCount; h++) {
      const headerKey = recordReader.sized();
      if (headerKey === null) return recordReader.fail('null header key');
      headers.push({ key: headerKey.toString('utf8'), value: recordReader.sized() });
    }
    if (recordReader.position !== end) recordReader.fail(`record ${i} has trailing bytes`);
    reader.position = end;
    decoded.push({
      offset: baseOffset + offsetDelta,
      timestamp: logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    });
  }
  return {
    baseOffset,
    lastOffset: baseOffset + batch.readInt32BE(23),
    sizeBytes: batch.length,
    partitionLeaderEpoch: batch.readInt32BE(12),
    attributes,
    compression,
    timestampType: logAppendTime ? 'LogAppendTime' : 'CreateTime',
    isTransactional: (attributes & 0x10) !== 0,
    isControl: (attributes & 0x20) !== 0,
    baseTimestamp,
    maxTimestamp,
    producerId: Number(batch.readBigInt64BE(43)),
    producerEpoch: batch.readInt16BE(51),
    baseSequence: batch.readInt32BE(53),
    records: decoded,
  };
}

/** Why walkRecords refused a batch's records: `corrupt` maps to CORRUPT_MESSAGE, `invalid` to INVALID_RECORD. */
export class RecordsError extends Error {
  override readonly name = 'RecordsError';
  constructor(
    message: string,
    readonly kind: 'corrupt' | 'invalid',
  ) {
    super(message);
  }
}

/**
 * @internal The broker's check of a batch's (decompressed) records, the same
 * the engine makes on uncompressed batches: `count` records whose lengths
 * frame exactly their fields and together fill `records`, offset deltas
 * 0..count-1, and (for compacted topics) a key on every record. Resolves to
 * the largest record timestamp.
 */
export function walkRecords(records: Buffer, count: number, baseTimestamp: number, options: { requireKeys?: boolean } = {}): { maxTimestamp: number } {
  const reader = new Reader(records, 0, records.length);
  let maxTimestamp = -Infinity;
  let i = 0;
  try {
    for (; i < count; i++) {
      const length = reader.varint(5);
      const end = reader.position + length;
      if (length < 1 || end > reader.end) {
        throw new RecordsError(`record ${i} claims ${length} bytes but the batch has ${reader.end - reader.position} left`, 'corrupt');
      }
      const record = new Reader(records, reader.position + 1, end);
      const timestamp = baseTimestamp + record.varint();
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
      const offsetDelta = record.varint(5);
      if (offsetDelta !== i) throw new RecordsError(`record ${i} has offset delta ${offsetDelta} out of sequence`, 'invalid');
      const key = record.sized();
      if (key === null && options.requireKeys) {
        throw new RecordsError(`record ${i} has no key: a compacted topic cannot accept records without keys`, 'invalid');
      }
      record.sized();
      const headerCount = record.varint(5);
      if (headerCount < 0) throw new RecordsError(`record ${i} has a bad header count`, 'corrupt');
      for (let h = 0; h < headerCount; h++) {
        if (record.sized() === null) throw new RecordsError(`record ${i} has a null header key`, 'corrupt');
        record.sized();
      }
      if (record.position !== end) throw new RecordsError(`record ${i} length does not match its fields`, 'corrupt');
      reader.position = end;
    }
  } catch (error) {
    if (error instanceof RecordsError) throw error;
    throw new RecordsError(`record ${i}: ${(error as Error).message}`, 'corrupt');
  }
  if (reader.position !== reader.end) throw new RecordsError('batch has bytes after its last record', 'corrupt');
  return { maxTimestamp };
}
