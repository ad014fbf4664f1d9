/**
 * Independent reader for Kafka's on-disk partition format (RecordBatch v2
 * segment logs, offset indexes and time indexes).
 *
 * This module exists so byte-compatibility tests can check what Gregor writes
 * against a second implementation. It is written only from the published
 * format description and deliberately imports nothing from Gregor's `src/`
 * tree: a bug shared between writer and reader would otherwise go unnoticed.
 * It favours clarity and strictness over speed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export interface RefHeader {
  key: string;
  value: Buffer | null;
}

export interface RefRecord {
  /** Absolute offset: batch baseOffset + offsetDelta. */
  offset: bigint;
  offsetDelta: number;
  /** baseTimestamp + timestampDelta, or the batch maxTimestamp under LogAppendTime. */
  timestamp: bigint;
  timestampDelta: bigint;
  /** Per-record attributes byte (unused by Kafka, expected to be 0). */
  attributes: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RefHeader[];
  /** Bytes taken by the record including its leading length varint. */
  sizeBytes: number;
}

export type RefCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd' | 'unknown';

export interface RefBatch {
  /** Byte position of the batch in the .log file. */
  position: number;
  /** Total batch size in bytes (batchLength + 12). */
  sizeBytes: number;
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  /** CRC stored in the batch header. */
  crc: number;
  /** CRC-32C computed over bytes 21..end of the batch. */
  crcComputed: number;
  crcValid: boolean;
  attributes: number;
  /** Codec number from attribute bits 0-2. */
  compressionCodec: number;
  compression: RefCompression;
  timestampType: 'CreateTime' | 'LogAppendTime';
  isTransactional: boolean;
  isControl: boolean;
  lastOffsetDelta: number;
  /** baseOffset + lastOffsetDelta. */
  lastOffset: bigint;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
  /** Decoded records; null when the batch is compressed or could not be decoded. */
  records: RefRecord[] | null;
  /** Why the records of an uncompressed batch could not be decoded. */
  recordsError?: string;
}

export interface RefLog {
  /**
   * Batches in file order. Every batch whose 61-byte header and declared
   * length fit in the file is listed; if reading stopped because a batch was
   * rejected (bad CRC, undecodable records, offset out of range), that batch is
   * the last element, lies beyond `validBytes`, and `error` says why.
   */
  batches: RefBatch[];
  /** Length of the prefix made of complete, accepted batches. */
  validBytes: number;
  /** Set when reading stopped before the end of the file. */
  error?: string;
}

export interface RefIndexEntry {
  offset: bigint;
  position: number;
}

export interface RefTimeIndexEntry {
  timestamp: bigint;
  offset: bigint;
}

export interface RefSegment {
  baseOffset: bigint;
  log: RefLog;
  index: RefIndexEntry[];
  timeIndex: RefTimeIndexEntry[];
  /** Absolute paths of the segment's files; null for a file that does not exist. */
  files: { log: string | null; index: string | null; timeIndex: string | null };
}

/** The parts of a segment that the invariant checks look at. */
export type RefSegmentContent = Pick<RefSegment, 'baseOffset' | 'log' | 'index' | 'timeIndex'>;

// ---------------------------------------------------------------------------
// CRC-32C (Castagnoli)
// ---------------------------------------------------------------------------

const CASTAGNOLI_REFLECTED = 0x82f63b78;

const CRC32C_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) {
      c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REFLECTED : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF), one byte at a time. */
export function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = (crc >>> 8) ^ CRC32C_TABLE[(crc ^ bytes[i]!) & 0xff]!;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------
// Record batch layout constants (byte offsets inside a batch)
// ---------------------------------------------------------------------------

const OFF_BASE_OFFSET = 0;
const OFF_BATCH_LENGTH = 8;
const OFF_LEADER_EPOCH = 12;
const OFF_MAGIC = 16;
const OFF_CRC = 17;
const OFF_ATTRIBUTES = 21;
const OFF_LAST_OFFSET_DELTA = 23;
const OFF_BASE_TIMESTAMP = 27;
const OFF_MAX_TIMESTAMP = 35;
const OFF_PRODUCER_ID = 43;
const OFF_PRODUCER_EPOCH = 51;
const OFF_BASE_SEQUENCE = 53;
const OFF_RECORDS_COUNT = 57;
const OFF_RECORDS = 61;

/** baseOffset + batchLength: the bytes not counted by batchLength. */
const LENGTH_PREFIX_BYTES = 12;
const MIN_BATCH_LENGTH = OFF_RECORDS - LENGTH_PREFIX_BYTES;
const INT32_MAX = 0x7fffffff;

const CODEC_NAMES: readonly RefCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

// ---------------------------------------------------------------------------
// Varint decoding (zigzag, protobuf style)
// ---------------------------------------------------------------------------

class DecodeError extends Error {}

/** Sequential reader over bytes[pos, limit) that never reads past `limit`. */
class Cursor {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
    public limit: number,
  ) {}

  private unsignedVar(maxBytes: number, what: string): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < maxBytes; i++) {
      if (this.pos >= this.limit) throw new DecodeError(`truncated ${what} at byte ${this.pos}`);
      const b = this.bytes[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new DecodeError(`${what} longer than ${maxBytes} bytes ending at byte ${this.pos}`);
  }

  /** Zigzag varint limited to 32 bits (at most 5 bytes). */
  varint(what: string): number {
    const start = this.pos;
    const raw = this.unsignedVar(5, what);
    if (raw > 0xffffffffn) throw new DecodeError(`${what} at byte ${start} exceeds 32 bits`);
    return Number((raw >> 1n) ^ -(raw & 1n));
  }

  /** Zigzag varlong limited to 64 bits (at most 10 bytes). */
  varlong(what: string): bigint {
    const start = this.pos;
    const raw = this.unsignedVar(10, what);
    if (raw > 0xffffffffffffffffn) throw new DecodeError(`${what} at byte ${start} exceeds 64 bits`);
    return (raw >> 1n) ^ -(raw & 1n);
  }

  int8(what: string): number {
    if (this.pos >= this.limit) throw new DecodeError(`truncated ${what} at byte ${this.pos}`);
    const b = this.bytes[this.pos++]!;
    return b >= 0x80 ? b - 0x100 : b;
  }

  take(length: number, what: string): Uint8Array {
    if (length < 0 || this.pos + length > this.limit) {
      throw new DecodeError(
        `${what} of ${length} bytes at byte ${this.pos} overruns its container (ends at ${this.limit})`,
      );
    }
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  /** A length-prefixed byte field where length -1 means null. */
  nullableBytes(what: string): Buffer | null {
    const length = this.varint(`${what} length`);
    if (length === -1) return null;
    if (length < -1) throw new DecodeError(`${what} length ${length} is negative`);
    return Buffer.from(this.take(length, what)); // copy, so results do not alias the input
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeRecords(bytes: Uint8Array, batchStart: number, batch: RefBatch): RefRecord[] {
  const batchEnd = batchStart + batch.sizeBytes;
  const cur = new Cursor(bytes, batchStart + OFF_RECORDS, batchEnd);
  const records: RefRecord[] = [];
  if (batch.recordsCount < 0) throw new DecodeError(`recordsCount ${batch.recordsCount} is negative`);
  for (let i = 0; i < batch.recordsCount; i++) {
    const recordStart = cur.pos;
    cur.limit = batchEnd;
    const bodyLength = cur.varint(`record ${i} length`);
    if (bodyLength < 0) throw new DecodeError(`record ${i} length ${bodyLength} is negative`);
    const bodyEnd = cur.pos + bodyLength;
    if (bodyEnd > batchEnd) {
      throw new DecodeError(`record ${i} at byte ${recordStart} (length ${bodyLength}) overruns the batch`);
    }
    cur.limit = bodyEnd;
    const attributes = cur.int8(`record ${i} attributes`);
    const timestampDelta = cur.varlong(`record ${i} timestampDelta`);
    const offsetDelta = cur.varint(`record ${i} offsetDelta`);
    const key = cur.nullableBytes(`record ${i} key`);
    const value = cur.nullableBytes(`record ${i} value`);
    const headerCount = cur.varint(`record ${i} header count`);
    if (headerCount < 0) throw new DecodeError(`record ${i} header count ${headerCount} is negative`);
    const headers: RefHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const keyLength = cur.varint(`record ${i} header ${h} key length`);
      if (keyLength < 0) throw new DecodeError(`record ${i} header ${h} key length ${keyLength} is negative`);
      const keyBytes = cur.take(keyLength, `record ${i} header ${h} key`);
      let headerKey: string;
      try {
        headerKey = strictUtf8.decode(keyBytes);
      } catch {
        throw new DecodeError(`record ${i} header ${h} key is not valid UTF-8`);
      }
      headers.push({ key: headerKey, value: cur.nullableBytes(`record ${i} header ${h} value`) });
    }
    if (cur.pos !== bodyEnd) {
      throw new DecodeError(
        `record ${i} declares ${bodyLength} body bytes but its fields use ${cur.pos - (bodyEnd - bodyLength)}`,
      );
    }
    records.push({
      offset: batch.baseOffset + BigInt(offsetDelta),
      offsetDelta,
      timestamp: batch.timestampType === 'LogAppendTime' ? batch.maxTimestamp : batch.baseTimestamp + timestampDelta,
      timestampDelta,
      attributes,
      key,
      value,
      headers,
      sizeBytes: bodyEnd - recordStart,
    });
  }
  if (cur.pos !== batchEnd) {
    throw new DecodeError(`${batchEnd - cur.pos} bytes left over after ${batch.recordsCount} records`);
  }
  return records;
}

// ---------------------------------------------------------------------------
// .log
// ---------------------------------------------------------------------------

function isAllZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function parseBatchHeader(view: DataView, bytes: Uint8Array, p: number): RefBatch {
  const batchLength = view.getInt32(p + OFF_BATCH_LENGTH, false);
  const sizeBytes = batchLength + LENGTH_PREFIX_BYTES;
  const attributes = view.getInt16(p + OFF_ATTRIBUTES, false);
  const codec = attributes & 0x07;
  const baseOffset = view.getBigInt64(p + OFF_BASE_OFFSET, false);
  const lastOffsetDelta = view.getInt32(p + OFF_LAST_OFFSET_DELTA, false);
  const crc = view.getUint32(p + OFF_CRC, false);
  const crcComputed = crc32cReference(bytes.subarray(p + OFF_ATTRIBUTES, p + sizeBytes));
  return {
    position: p,
    sizeBytes,
    baseOffset,
    batchLength,
    partitionLeaderEpoch: view.getInt32(p + OFF_LEADER_EPOCH, false),
    magic: view.getInt8(p + OFF_MAGIC),
    crc,
    crcComputed,
    crcValid: crc === crcComputed,
    attributes,
    compressionCodec: codec,
    compression: CODEC_NAMES[codec] ?? 'unknown',
    timestampType: attributes & 0x08 ? 'LogAppendTime' : 'CreateTime',
    isTransactional: (attributes & 0x10) !== 0,
    isControl: (attributes & 0x20) !== 0,
    lastOffsetDelta,
    lastOffset: baseOffset + BigInt(lastOffsetDelta),
    baseTimestamp: view.getBigInt64(p + OFF_BASE_TIMESTAMP, false),
    maxTimestamp: view.getBigInt64(p + OFF_MAX_TIMESTAMP, false),
    producerId: view.getBigInt64(p + OFF_PRODUCER_ID, false),
    producerEpoch: view.getInt16(p + OFF_PRODUCER_EPOCH, false),
    baseSequence: view.getInt32(p + OFF_BASE_SEQUENCE, false),
    recordsCount: view.getInt32(p + OFF_RECORDS_COUNT, false),
    records: null,
  };
}

/**
 * Reads a segment's .log bytes as a sequence of RecordBatch v2.
 *
 * Reading stops at the first batch that is truncated, structurally invalid,
 * fails its CRC, has undecodable (uncompressed) records, or whose last offset
 * is not in [baseOffsetFromName, baseOffsetFromName + 2^31-1] (the range a
 * segment's relative offsets can express). `validBytes` is where that batch
 * starts; `error` says why.
 */
export function readLogFile(bytes: Uint8Array, baseOffsetFromName: bigint): RefLog {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: RefBatch[] = [];
  let p = 0;
  const stop = (error: string): RefLog => ({ batches, validBytes: p, error });

  while (p < bytes.length) {
    const remaining = bytes.length - p;
    if (remaining < LENGTH_PREFIX_BYTES) {
      return stop(`truncated batch at position ${p}: ${remaining} bytes left, length prefix needs 12`);
    }
    const batchLength = view.getInt32(p + OFF_BATCH_LENGTH, false);
    if (batchLength === 0 && isAllZero(bytes, p, bytes.length)) {
      return stop(`zero-filled tail of ${remaining} bytes at position ${p}`);
    }
    if (batchLength < MIN_BATCH_LENGTH) {
      return stop(`invalid batchLength ${batchLength} at position ${p} (minimum ${MIN_BATCH_LENGTH})`);
    }
    if (remaining < OFF_RECORDS) {
      return stop(`truncated batch at position ${p}: ${remaining} bytes left, header needs ${OFF_RECORDS}`);
    }
    const magic = view.getInt8(p + OFF_MAGIC);
    if (magic !== 2) {
      return stop(`unsupported magic ${magic} at position ${p} (expected 2)`);
    }
    const sizeBytes = batchLength + LENGTH_PREFIX_BYTES;
    if (sizeBytes > remaining) {
      return stop(`truncated batch at position ${p}: declares ${sizeBytes} bytes, ${remaining} left`);
    }

    const batch = parseBatchHeader(view, bytes, p);
    batches.push(batch);

    if (batch.compressionCodec === 0) {
      try {
        batch.records = decodeRecords(bytes, p, batch);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        batch.recordsError = e.message;
      }
    }

    if (!batch.crcValid) {
      return stop(
        `CRC mismatch in batch at position ${p}: stored 0x${hex32(batch.crc)}, computed 0x${hex32(batch.crcComputed)}`,
      );
    }
    if (batch.recordsError !== undefined) {
      return stop(`undecodable records in batch at position ${p}: ${batch.recordsError}`);
    }
    if (batch.lastOffsetDelta < 0) {
      return stop(`negative lastOffsetDelta ${batch.lastOffsetDelta} in batch at position ${p}`);
    }
    const relLast = batch.lastOffset - baseOffsetFromName;
    if (relLast < 0n || relLast > BigInt(INT32_MAX)) {
      return stop(
        `batch at position ${p} has last offset ${batch.lastOffset}, outside the range of segment ${baseOffsetFromName}`,
      );
    }
    p += sizeBytes;
  }
  return { batches, validBytes: p };
}

function hex32(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

// ---------------------------------------------------------------------------
// .index and .timeindex
// ---------------------------------------------------------------------------

/**
 * Number of entries in use in a (possibly preallocated) index file.
 *
 * An all-zero entry after the first one marks the start of the unused tail.
 * The first entry is kept even if it is all zeros, except when the whole file
 * is zeros and longer than one entry: such a file is an unused preallocated
 * index and is indistinguishable from one holding a single zero entry
 * followed by padding; reading it as empty cannot hide an invariant violation,
 * reading it as one entry could invent one.
 */
function usedEntries(bytes: Uint8Array, entrySize: number, what: string): number {
  if (bytes.length % entrySize !== 0) {
    throw new Error(`${what} size ${bytes.length} is not a multiple of the ${entrySize}-byte entry size`);
  }
  const total = bytes.length / entrySize;
  if (total > 1 && isAllZero(bytes, 0, bytes.length)) return 0;
  for (let i = 1; i < total; i++) {
    if (isAllZero(bytes, i * entrySize, (i + 1) * entrySize)) return i;
  }
  return total;
}

/** Parses a .index file: 8-byte entries of (relative offset u32, position u32), big-endian. */
export function readOffsetIndex(bytes: Uint8Array, baseOffset: bigint): RefIndexEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = usedEntries(bytes, 8, 'offset index');
  const out: RefIndexEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      offset: baseOffset + BigInt(view.getUint32(i * 8, false)),
      position: view.getUint32(i * 8 + 4, false),
    });
  }
  return out;
}

/** Parses a .timeindex file: 12-byte entries of (timestamp i64, relative offset u32), big-endian. */
export function readTimeIndex(bytes: Uint8Array, baseOffset: bigint): RefTimeIndexEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = usedEntries(bytes, 12, 'time index');
  const out: RefTimeIndexEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      timestamp: view.getBigInt64(i * 12, false),
      offset: baseOffset + BigInt(view.getUint32(i * 12 + 8, false)),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Partition directory
// ---------------------------------------------------------------------------

const SEGMENT_FILE = /^(\d{20})\.(log|index|timeindex)$/;

/**
 * Reads every segment in a partition directory, sorted by base offset. Only
 * `<20-digit offset>.log|.index|.timeindex` files are considered; a missing
 * .index/.timeindex reads as no entries, a missing .log as an empty log with
 * an error, and `files` records which files were present.
 */
export function readPartitionDir(dir: string): RefSegment[] {
  const found = new Map<string, { log: string | null; index: string | null; timeIndex: string | null }>();
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_FILE.exec(name);
    if (!m) continue;
    const digits = m[1]!;
    const entry = found.get(digits) ?? { log: null, index: null, timeIndex: null };
    const path = join(dir, name);
    if (m[2] === 'log') entry.log = path;
    else if (m[2] === 'index') entry.index = path;
    else entry.timeIndex = path;
    found.set(digits, entry);
  }
  const segments: RefSegment[] = [];
  for (const [digits, files] of found) {
    const baseOffset = BigInt(digits);
    segments.push({
      baseOffset,
      log: files.log
        ? readLogFile(readFileSync(files.log), baseOffset)
        : { batches: [], validBytes: 0, error: `missing ${digits}.log` },
      index: files.index ? readOffsetIndex(readFileSync(files.index), baseOffset) : [],
      timeIndex: files.timeIndex ? readTimeIndex(readFileSync(files.timeIndex), baseOffset) : [],
      files,
    });
  }
  segments.sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : a.baseOffset > b.baseOffset ? 1 : 0));
  return segments;
}

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

function acceptedBatches(log: RefLog): RefBatch[] {
  return log.batches.filter((b) => b.position + b.sizeBytes <= log.validBytes);
}

/**
 * Checks a segment's .index and .timeindex against its log. Returns one
 * message per violation; an empty list means the segment is consistent.
 * Only batches inside the log's valid prefix count.
 *
 * Offset index: offsets and positions strictly increase; each position is the
 * start of a batch; that batch's last offset equals the entry's offset.
 * Time index: timestamps non-decreasing; offsets non-decreasing; each offset
 * lies within some batch; each timestamp is at most the largest batch
 * maxTimestamp among batches starting at or before that offset.
 */
export function checkIndexInvariants(segment: RefSegmentContent): string[] {
  const problems: string[] = [];
  const batches = acceptedBatches(segment.log);
  const byPosition = new Map<number, RefBatch>(batches.map((b) => [b.position, b]));
  const rejected = segment.log.batches.find((b) => b.position >= segment.log.validBytes);

  segment.index.forEach((entry, i) => {
    const label = `index[${i}] (offset ${entry.offset}, position ${entry.position})`;
    if (entry.offset < segment.baseOffset) {
      problems.push(`${label}: offset below segment base ${segment.baseOffset}`);
    }
    if (i > 0) {
      const prev = segment.index[i - 1]!;
      if (entry.offset <= prev.offset) problems.push(`${label}: offset not greater than previous ${prev.offset}`);
      if (entry.position <= prev.position) {
        problems.push(`${label}: position not greater than previous ${prev.position}`);
      }
    }
    const batch = byPosition.get(entry.position);
    if (!batch) {
      const where =
        entry.position >= segment.log.validBytes
          ? `beyond the valid log prefix (${segment.log.validBytes} bytes${
              rejected && rejected.position === entry.position ? '; the batch there was rejected' : ''
            })`
          : 'not the start of a batch';
      problems.push(`${label}: position is ${where}`);
    } else if (batch.lastOffset !== entry.offset) {
      problems.push(
        `${label}: batch there spans ${batch.baseOffset}..${batch.lastOffset}; expected its last offset to equal the entry`,
      );
    }
  });

  segment.timeIndex.forEach((entry, i) => {
    const label = `timeindex[${i}] (timestamp ${entry.timestamp}, offset ${entry.offset})`;
    if (i > 0) {
      const prev = segment.timeIndex[i - 1]!;
      if (entry.timestamp < prev.timestamp) {
        problems.push(`${label}: timestamp decreases from previous ${prev.timestamp}`);
      }
      if (entry.offset < prev.offset) problems.push(`${label}: offset decreases from previous ${prev.offset}`);
    }
    const containing = batches.find((b) => b.baseOffset <= entry.offset && entry.offset <= b.lastOffset);
    if (!containing) {
      problems.push(`${label}: offset is not inside any batch of the segment`);
    }
    let maxSoFar: bigint | null = null;
    for (const b of batches) {
      if (b.baseOffset > entry.offset) continue;
      if (maxSoFar === null || b.maxTimestamp > maxSoFar) maxSoFar = b.maxTimestamp;
    }
    if (maxSoFar !== null && entry.timestamp > maxSoFar) {
      problems.push(`${label}: timestamp exceeds max batch timestamp ${maxSoFar} up to that offset`);
    }
  });

  return problems;
}

/**
 * Checks the log itself: reading reached the end of the file, and batches
 * start at or after the segment base offset with strictly increasing,
 * non-overlapping offset ranges.
 */
export function checkLogInvariants(segment: RefSegmentContent): string[] {
  const problems: string[] = [];
  if (segment.log.error !== undefined) problems.push(`log: ${segment.log.error}`);
  const batches = acceptedBatches(segment.log);
  batches.forEach((b, i) => {
    const label = `batch at position ${b.position} (offsets ${b.baseOffset}..${b.lastOffset})`;
    if (b.baseOffset < segment.baseOffset) problems.push(`${label}: starts below segment base ${segment.baseOffset}`);
    if (i > 0) {
      const prev = batches[i - 1]!;
      if (b.baseOffset <= prev.lastOffset) problems.push(`${label}: overlaps or precedes previous batch ending at ${prev.lastOffset}`);
    }
  });
  return problems;
}
