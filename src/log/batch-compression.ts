// What Log.append does to batches before the engine sees them, by the log's
// compression settings (Kafka's LogValidator, for the parts that need the
// records):
//
//   compression.type=producer      batches are stored as produced (no work);
//   uncompressed|gzip|snappy|lz4|zstd
//                                  a batch in another codec is decompressed,
//                                  its records checked, and recompressed in
//                                  the topic's codec at the topic's level; the
//                                  inner record bytes (offset deltas,
//                                  timestamps, keys, values, headers) and the
//                                  header fields (producer id/epoch, base
//                                  sequence, base timestamp, attributes other
//                                  than the codec) are kept; the header's
//                                  maxTimestamp is the records' (CreateTime);
//   gregor.record.validation=full  every compressed batch is decompressed and
//                                  its records checked, as Kafka does;
//   requireKeys (compacted topics) every record must have a key, so every
//                                  batch's records are walked.
//
// Everything else goes to the engine untouched: its check (header, outer
// CRC-32C, and for uncompressed batches every record) applies to every batch
// whatever happens here. A batch this module rewrites has its outer CRC
// checked first (a recomputed CRC must never launder a corrupt batch), and a
// batch the engine would refuse anyway (bad length, magic, CRC, codec, count)
// is passed through unchanged so that the engine's error is the one reported.
// An undecodable payload or malformed inner records fail the whole append
// with CORRUPT_MESSAGE (offset deltas out of sequence, a missing key or a
// payload over DECOMPRESSED_BYTES_MAX: INVALID_RECORD); nothing is written.
import { LogError, StorageErrorCodes } from '../errors.js';
import { native } from '../native.js';
import { COMPRESSION_IDS, COMPRESSION_NAMES, CompressionError, compress, decompress, type CompressionName } from '../protocol/compression.js';
import { RecordsError, walkRecords } from '../protocol/record-batch.js';
import type { LogConfig } from './config.js';

const HEADER_BYTES = 61;
const LOG_OVERHEAD_BYTES = 12;
const CRC_START = 21;
const CODEC_MASK = 0x07;
const LOG_APPEND_TIME = 0x08;
const CONTROL = 0x20;
const CODEC_MAX = 4;

export interface CompressionPolicy {
  /** Codec id every batch is stored in, or -1 to keep each batch's own (`producer`). */
  readonly targetCodec: number;
  readonly gzipLevel: number;
  readonly lz4Level: number;
  readonly zstdLevel: number;
  readonly fullValidation: boolean;
  /** True when no batch ever needs its records touched (unless keys are required). */
  readonly passthrough: boolean;
}

export function compressionPolicy(config: Readonly<LogConfig>): CompressionPolicy {
  const type = config['compression.type'];
  const targetCodec = type === 'producer' ? -1 : type === 'uncompressed' ? 0 : COMPRESSION_IDS[type];
  const fullValidation = config['gregor.record.validation'] === 'full';
  return {
    targetCodec,
    gzipLevel: config['compression.gzip.level'],
    lz4Level: config['compression.lz4.level'],
    zstdLevel: config['compression.zstd.level'],
    fullValidation,
    passthrough: targetCodec === -1 && !fullValidation,
  };
}

/** The KIP-390 level the policy sets for `codec` (undefined: the codec has none). */
export function levelOf(policy: CompressionPolicy, codec: CompressionName): number | undefined {
  if (codec === 'gzip') return policy.gzipLevel;
  if (codec === 'zstd') return policy.zstdLevel;
  if (codec === 'lz4') return policy.lz4Level;
  return undefined;
}

function corrupt(message: string): LogError {
  return new LogError(message, 'CORRUPT_MESSAGE', StorageErrorCodes.CORRUPT_MESSAGE);
}
function invalid(message: string): LogError {
  return new LogError(message, 'INVALID_RECORD', StorageErrorCodes.INVALID_RECORD);
}

/** The batch with its header rewritten (codec, length, maxTimestamp) around `payload`, and a new CRC. */
function rebuild(batch: Buffer, payload: Buffer, codec: number, maxTimestamp: number | undefined): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  batch.copy(out, 0, 0, HEADER_BYTES);
  payload.copy(out, HEADER_BYTES);
  out.writeInt32BE(out.length - LOG_OVERHEAD_BYTES, 8);
  out.writeInt16BE((batch.readInt16BE(21) & ~CODEC_MASK) | codec, 21);
  if (maxTimestamp !== undefined) out.writeBigInt64BE(BigInt(maxTimestamp), 35);
  out.writeUInt32BE(native.crc32c(out.subarray(CRC_START)), 17);
  return out;
}

/**
 * The bytes to hand to the engine for `buffer` (one or more batches) under
 * `policy`: `buffer` itself when nothing changes. Throws a LogError
 * (CORRUPT_MESSAGE or INVALID_RECORD) when a batch's records must be read and
 * cannot be.
 */
export async function prepareBatches(buffer: Buffer, policy: CompressionPolicy, requireKeys: boolean): Promise<Buffer> {
  const out: Buffer[] = [];
  let changed = false;
  let position = 0;
  for (let index = 0; position < buffer.length; index++) {
    // Anything the engine refuses on its own goes to it unchanged.
    if (buffer.length - position < HEADER_BYTES) return buffer;
    const size = LOG_OVERHEAD_BYTES + buffer.readInt32BE(position + 8);
    if (size < HEADER_BYTES || size > buffer.length - position || buffer[position + 16] !== 2) return buffer;
    const batch = buffer.subarray(position, position + size);
    position += size;
    const attributes = batch.readInt16BE(21);
    const codec = attributes & CODEC_MASK;
    if (codec > CODEC_MAX) return buffer;
    // Control batches (transaction markers) are stored as they are; the
    // batches around them still get their recompression and key check.
    if ((attributes & CONTROL) !== 0) {
      out.push(batch);
      continue;
    }
    const target = policy.targetCodec === -1 ? codec : policy.targetCodec;
    if (codec === target && !requireKeys && (codec === 0 || !policy.fullValidation)) {
      out.push(batch);
      continue;
    }
    const count = batch.readInt32BE(57);
    if (count < 1 || batch.readInt32BE(23) !== count - 1) return buffer;
    if (batch.readUInt32BE(17) !== native.crc32c(batch.subarray(CRC_START))) return buffer;

    const sourceName = COMPRESSION_NAMES[codec]!;
    const where = buffer.length === size ? 'batch' : `batch ${index}`;
    let records: Buffer;
    try {
      records = codec === 0 ? batch.subarray(HEADER_BYTES) : await decompress(sourceName, batch.subarray(HEADER_BYTES));
    } catch (error) {
      const message = `${where}: ${(error as Error).message}`;
      throw error instanceof CompressionError && error.tooLarge ? invalid(message) : corrupt(message);
    }
    let maxTimestamp: number;
    try {
      maxTimestamp = walkRecords(records, count, Number(batch.readBigInt64BE(27)), { requireKeys }).maxTimestamp;
    } catch (error) {
      if (!(error instanceof RecordsError)) throw error;
      const message = `${where} (${sourceName}): ${error.message}`;
      throw error.kind === 'invalid' ? invalid(message) : corrupt(message);
    }
    // Kafka's rule: a CreateTime batch's maxTimestamp is its records' largest
    // (the engine applies it to uncompressed batches itself).
    const logAppendTime = (attributes & LOG_APPEND_TIME) !== 0;
    const fixedMaxTimestamp = logAppendTime || Number(batch.readBigInt64BE(35)) === maxTimestamp ? undefined : maxTimestamp;
    if (codec === target) {
      if (codec !== 0 && fixedMaxTimestamp !== undefined) {
        out.push(rebuild(batch, batch.subarray(HEADER_BYTES), codec, fixedMaxTimestamp));
        changed = true;
      } else {
        out.push(batch);
      }
      continue;
    }
    const targetName = COMPRESSION_NAMES[target]!;
    const payload = await compress(targetName, records, levelOf(policy, targetName));
    out.push(rebuild(batch, payload, target, target === 0 ? undefined : fixedMaxTimestamp));
    changed = true;
  }
  if (!changed) return buffer;
  return out.length === 1 ? out[0]! : Buffer.concat(out);
}
