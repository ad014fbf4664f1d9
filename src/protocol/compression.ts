// Compression codecs of RecordBatch v2 (attributes bits 0-2): the bytes after
// a compressed batch's 61-byte header are all its records as one blob in the
// batch's codec. Framings, as real clients write them (see
// ../shared/kafka-protocol/CLIENTS.md §3):
//
//   gzip (1)   RFC 1952 (Node's zlib); concatenated members are read.
//   snappy (2) Two framings, both read:
//              raw block     varint uncompressed length + snappy elements
//                            (librdkafka, kafkajs-snappy);
//              xerial        82 53 4E 41 50 50 59 00 | 00 00 00 01 | 00 00 00 01
//                            (magic, version 1 and compat 1 as big-endian
//                            int32s), then [int32 BE length][raw block] per
//                            <= 32 KiB of input (Java, kafka-python).
//              Gregor writes xerial with exactly that header: kafka-python
//              compares all 16 bytes, and every other client detects it.
//   lz4 (3)    the LZ4 frame format (lz4-napi, i.e. lz4_flex): written with
//              independent blocks (FLG 0x60, as Java), 64 KiB to 4 MiB by
//              input size; linked or independent blocks and either checksum
//              are read.
//   zstd (4)   an RFC 8878 frame (@mongodb-js/zstd); the content size may be
//              absent, as in frames written by Java and librdkafka.
//
// Each codec has an asynchronous form (the broker: the work runs on libuv's
// thread pool) and a synchronous one (encodeRecordBatch/decodeRecordBatches).
// @mongodb-js/zstd 1.2.2 is asynchronous only; its synchronous form runs it on
// a helper thread (zstd-sync.ts). The native codec packages load on first use,
// so a program that never meets a codec never loads its binary.
//
// Limits: decompressed output is capped at DECOMPRESSED_BYTES_MAX. gzip stops
// at the cap; snappy and lz4 (when the frame states its content size) and zstd
// (likewise) are checked before decompressing; an lz4 or zstd frame without a
// content size is checked after. lz4-napi has a single compression level:
// `compression.lz4.level` is validated and stored, and does not change the
// bytes (see README).
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { constants as zlibConstants, gunzip, gunzipSync, gzip, gzipSync } from 'node:zlib';

import { zstdSync } from './zstd-sync.js';

export type CompressionName = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export const COMPRESSION_IDS: Record<CompressionName, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };
export const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/**
 * Largest decompressed payload of one batch. Kafka's own batches are at most
 * max.message.bytes (1 MiB by default) compressed; JSON compresses 5-20x, so
 * 256 MiB leaves room for any real batch while a "compression bomb" (a few KiB
 * of zstd that expand to gigabytes) is refused instead of exhausting memory.
 */
export const DECOMPRESSED_BYTES_MAX = 256 * 1024 * 1024;

/** Codec levels (KIP-390): Kafka's ranges and defaults. */
export const COMPRESSION_LEVELS = {
  gzip: { min: 1, max: 9, default: -1 },
  lz4: { min: 1, max: 17, default: 9 },
  zstd: { min: -131072, max: 22, default: 3 },
} as const;

/** The 16-byte xerial (snappy-java) stream header Gregor writes. */
export const XERIAL_HEADER = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
/** Uncompressed bytes per xerial block (snappy-java's and kafka-python's default). */
export const XERIAL_BLOCK_BYTES = 32 * 1024;
const XERIAL_MAGIC_BYTES = 8;

/** A payload that cannot be decompressed, or that decompresses past `DECOMPRESSED_BYTES_MAX`. */
export class CompressionError extends Error {
  override readonly name = 'CompressionError';
  constructor(
    message: string,
    /** True when the payload is too large rather than undecodable. */
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

export function compressionName(id: number): CompressionName {
  const name = COMPRESSION_NAMES[id];
  if (name === undefined) throw new Error(`unknown compression codec id ${id}`);
  return name;
}

// ---- the native codec packages, loaded on first use ------------------------

const requireModule = createRequire(import.meta.url);
type Snappy = typeof import('snappy');
type Lz4 = typeof import('lz4-napi');
// The package's index.js drops the level argument before calling its
// binding, so the binding (same functions, level honoured) is used directly.
interface Zstd {
  compress(data: Buffer, level?: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}
const ZSTD_BINDING = '@mongodb-js/zstd/bindings.js';
let snappyModule: Snappy | undefined;
let lz4Module: Lz4 | undefined;
let zstdModule: Zstd | undefined;
const snappy = (): Snappy => (snappyModule ??= requireModule('snappy') as Snappy);
const lz4 = (): Lz4 => (lz4Module ??= requireModule('lz4-napi') as Lz4);
const zstd = (): Zstd => (zstdModule ??= requireModule(ZSTD_BINDING) as Zstd);

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

// ---- size checks -----------------------------------------------------------

function tooLarge(codec: string, bytes: number | bigint, limit: number): CompressionError {
  return new CompressionError(`${codec} payload decompresses to ${bytes} bytes, more than the ${limit}-byte limit`, true);
}

/** The uncompressed length a raw snappy block announces (its varint preamble). */
function snappyBlockLength(block: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const byte = block[i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return value;
  }
  throw new CompressionError('snappy block has a malformed length preamble');
}

/** Content size from an LZ4 frame header (FLG bit 3), or undefined when absent. */
function lz4ContentSize(frame: Uint8Array): bigint | undefined {
  if (frame.length < 15 || frame[0] !== 0x04 || frame[1] !== 0x22 || frame[2] !== 0x4d || frame[3] !== 0x18) return undefined;
  if ((frame[4]! & 0x08) === 0) return undefined;
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).readBigUInt64LE(6);
}

/** Frame_Content_Size of a zstd frame header, or undefined when absent. */
function zstdContentSize(frame: Uint8Array): bigint | undefined {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return undefined;
  const descriptor = frame[4]!;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 0x03]!;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + dictionaryIdBytes;
  if (at + fcsBytes > frame.length) return undefined;
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  switch (fcsBytes) {
    case 1:
      return BigInt(view[at]!);
    case 2:
      return BigInt(view.readUInt16LE(at) + 256);
    case 4:
      return BigInt(view.readUInt32LE(at));
    default:
      return view.readBigUInt64LE(at);
  }
}

function checkStatedSize(codec: string, stated: bigint | undefined, limit: number): void {
  if (stated !== undefined && stated > BigInt(limit)) throw tooLarge(codec, stated, limit);
}

function checkOutput(codec: string, output: Buffer, limit: number): Buffer {
  if (output.length > limit) throw tooLarge(codec, output.length, limit);
  return output;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Wraps a codec library's failure as a CompressionError naming the codec. */
function undecodable(codec: string, error: unknown): CompressionError {
  if (error instanceof CompressionError) return error;
  const code = (error as { code?: string }).code;
  if (code === 'ERR_BUFFER_TOO_LARGE') return new CompressionError(`${codec} payload decompresses past the ${DECOMPRESSED_BYTES_MAX}-byte limit`, true);
  return new CompressionError(`${codec} payload cannot be decompressed: ${(error as Error).message ?? String(error)}`);
}

// ---- snappy framings -------------------------------------------------------

/** True when `data` starts with the xerial magic (the version fields are not checked, as librdkafka). */
export function isXerial(data: Uint8Array): boolean {
  if (data.length < XERIAL_HEADER.length) return false;
  for (let i = 0; i < XERIAL_MAGIC_BYTES; i++) if (data[i] !== XERIAL_HEADER[i]) return false;
  return true;
}

/** The raw blocks of a xerial stream, after the 16-byte header. */
function xerialBlocks(data: Buffer, limit: number): Buffer[] {
  const blocks: Buffer[] = [];
  let total = 0;
  let at = XERIAL_HEADER.length;
  while (at < data.length) {
    if (at + 4 > data.length) throw new CompressionError(`xerial snappy stream ends inside a block length at byte ${at}`);
    const length = data.readInt32BE(at);
    at += 4;
    if (length < 0 || at + length > data.length) throw new CompressionError(`xerial snappy block of ${length} bytes runs past the end at byte ${at}`);
    const block = data.subarray(at, at + length);
    total += snappyBlockLength(block);
    if (total > limit) throw tooLarge('snappy', total, limit);
    blocks.push(block);
    at += length;
  }
  return blocks;
}

function xerialFrame(blocks: Buffer[]): Buffer {
  const parts: Buffer[] = [XERIAL_HEADER];
  for (const block of blocks) {
    const length = Buffer.alloc(4);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

function xerialChunks(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += XERIAL_BLOCK_BYTES) chunks.push(data.subarray(at, at + XERIAL_BLOCK_BYTES));
  return chunks;
}

/** Raw snappy block (librdkafka's framing); for tests and tools. */
export function snappyRawCompressSync(data: Uint8Array): Buffer {
  return snappy().compressSync(data);
}

// ---- the codecs ------------------------------------------------------------

/** `level` is the codec's KIP-390 level; undefined means the codec's default. */
export async function compress(codec: CompressionName, data: Uint8Array, level?: number): Promise<Buffer> {
  const input = asBuffer(data);
  switch (codec) {
    case 'none':
      return input;
    case 'gzip':
      return gzipAsync(input, { level: gzipLevel(level) });
    case 'snappy': {
      const blocks = await Promise.all(xerialChunks(input).map((chunk) => snappy().compress(chunk)));
      return xerialFrame(blocks);
    }
    case 'lz4':
      return lz4().compressFrame(input);
    case 'zstd':
      return zstd().compress(input, level ?? COMPRESSION_LEVELS.zstd.default);
  }
}

export function compressSync(codec: CompressionName, data: Uint8Array, level?: number): Buffer {
  const input = asBuffer(data);
  switch (codec) {
    case 'none':
      return input;
    case 'gzip':
      return gzipSync(input, { level: gzipLevel(level) });
    case 'snappy':
      return xerialFrame(xerialChunks(input).map((chunk) => snappy().compressSync(chunk)));
    case 'lz4':
      return lz4().compressFrameSync(input);
    case 'zstd':
      return zstdSync('compress', input, level ?? COMPRESSION_LEVELS.zstd.default);
  }
}

/** Decompresses one batch payload; throws CompressionError when it cannot, or when it exceeds `limit`. */
export async function decompress(codec: CompressionName, data: Uint8Array, limit = DECOMPRESSED_BYTES_MAX): Promise<Buffer> {
  const input = asBuffer(data);
  try {
    switch (codec) {
      case 'none':
        return checkOutput('none', input, limit);
      case 'gzip':
        return await gunzipAsync(input, { maxOutputLength: Math.max(1, limit) });
      case 'snappy': {
        if (isXerial(input)) {
          const blocks = await Promise.all(xerialBlocks(input, limit).map((block) => snappy().uncompress(block, { asBuffer: true }) as Promise<Buffer>));
          return Buffer.concat(blocks);
        }
        const length = snappyBlockLength(input);
        if (length > limit) throw tooLarge('snappy', length, limit);
        return (await snappy().uncompress(input, { asBuffer: true })) as Buffer;
      }
      case 'lz4':
        checkStatedSize('lz4', lz4ContentSize(input), limit);
        return checkOutput('lz4', await lz4().decompressFrame(input), limit);
      case 'zstd':
        checkStatedSize('zstd', zstdContentSize(input), limit);
        return checkOutput('zstd', await zstd().decompress(input), limit);
    }
  } catch (error) {
    throw undecodable(codec, error);
  }
}

export function decompressSync(codec: CompressionName, data: Uint8Array, limit = DECOMPRESSED_BYTES_MAX): Buffer {
  const input = asBuffer(data);
  try {
    switch (codec) {
      case 'none':
        return checkOutput('none', input, limit);
      case 'gzip':
        return gunzipSync(input, { maxOutputLength: Math.max(1, limit) });
      case 'snappy': {
        if (isXerial(input)) {
          return Buffer.concat(xerialBlocks(input, limit).map((block) => snappy().uncompressSync(block, { asBuffer: true }) as Buffer));
        }
        const length = snappyBlockLength(input);
        if (length > limit) throw tooLarge('snappy', length, limit);
        return snappy().uncompressSync(input, { asBuffer: true }) as Buffer;
      }
      case 'lz4':
        checkStatedSize('lz4', lz4ContentSize(input), limit);
        return checkOutput('lz4', lz4().decompressFrameSync(input), limit);
      case 'zstd':
        checkStatedSize('zstd', zstdContentSize(input), limit);
        return checkOutput('zstd', zstdSync('decompress', input), limit);
    }
  } catch (error) {
    throw undecodable(codec, error);
  }
}

function gzipLevel(level: number | undefined): number {
  return level === undefined || level === -1 ? zlibConstants.Z_DEFAULT_COMPRESSION : level;
}
