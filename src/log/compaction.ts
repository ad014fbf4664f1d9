// The TypeScript part of compacting compressed batches (the codecs live
// here, not in the addon). The native cleaner (native/log_cleaner.h) hands
// over the compressed batches of the range it rewrites and calls:
//
//   keys(batches)   decompress each batch and describe each record, in order:
//                   i32 key length (-1: null key), key, i64 offset, u8 null value;
//   rebuild(keep)   given keep/drop per record (in the same order), one entry
//                   per batch: null to keep the batch as it is, an empty
//                   Buffer to drop it (no record left), or the rebuilt batch:
//                   the kept records' bytes as they were, recompressed with
//                   the same codec, in the original header (base offset,
//                   lastOffsetDelta, timestamps, producer fields), with
//                   batchLength, recordsCount and the CRC recomputed.
//
// Everything else (uncompressed batches, the offset map, reading and writing
// the segments) stays native; only the records of compressed batches cross.
import { native } from '../native.js';
import { compress, compressionName, decompress } from '../protocol/compression.js';
import { levelOf, type CompressionPolicy } from './batch-compression.js';

const RECORDS = 61;

function varint(buffer: Buffer, at: number): [value: number, next: number] {
  let result = 0;
  let shift = 0;
  for (let i = at; i < buffer.length && i < at + 10; i++) {
    const byte = buffer[i]!;
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) {
      // zigzag
      const value = result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      return [value, i + 1];
    }
  }
  throw new RangeError(`malformed varint at byte ${at}`);
}

interface DecodedBatch {
  header: Buffer;
  codec: ReturnType<typeof compressionName>;
  /** Each record's bytes (length varint included), as stored. */
  records: Buffer[];
}

export interface CompressedBatchHandler {
  keys(batches: Buffer[]): Promise<Buffer>;
  rebuild(keep: Buffer): Promise<(Buffer | null)[]>;
}

/**
 * A handler for one cleaning (it keeps the decoded batches between the two
 * calls); batches are recompressed at the levels of `policy` (the topic's
 * compression.*.level).
 */
export function compressedBatchHandler(policy?: CompressionPolicy): CompressedBatchHandler {
  let decoded: DecodedBatch[] = [];
  return {
    async keys(batches: Buffer[]): Promise<Buffer> {
      const parts: Buffer[] = [];
      decoded = [];
      for (const batch of batches) {
        const baseOffset = Number(batch.readBigInt64BE(0));
        const count = batch.readInt32BE(57);
        const codec = compressionName(batch.readInt16BE(21) & 0x07);
        const data = await decompress(codec, batch.subarray(RECORDS));
        const records: Buffer[] = [];
        let at = 0;
        for (let i = 0; i < count; i++) {
          const [length, bodyAt] = varint(data, at);
          const end = bodyAt + length;
          if (length < 1 || end > data.length) throw new RangeError(`record ${i} of the batch at offset ${baseOffset} runs past its data`);
          let p = bodyAt + 1; // attributes
          [, p] = varint(data, p); // timestampDelta
          let offsetDelta: number;
          [offsetDelta, p] = varint(data, p);
          let keyLength: number;
          [keyLength, p] = varint(data, p);
          const key = keyLength >= 0 ? data.subarray(p, p + keyLength) : null;
          if (keyLength > 0) p += keyLength;
          const [valueLength] = varint(data, p);
          const entry = Buffer.allocUnsafe(4 + (key?.length ?? 0) + 9);
          entry.writeInt32BE(key === null ? -1 : key.length, 0);
          if (key !== null) key.copy(entry, 4);
          entry.writeBigInt64BE(BigInt(baseOffset + offsetDelta), 4 + (key?.length ?? 0));
          entry[entry.length - 1] = valueLength < 0 ? 1 : 0;
          parts.push(entry);
          records.push(data.subarray(at, end));
          at = end;
        }
        decoded.push({ header: batch.subarray(0, RECORDS), codec, records });
      }
      return Buffer.concat(parts);
    },

    async rebuild(keep: Buffer): Promise<(Buffer | null)[]> {
      const out: (Buffer | null)[] = [];
      let index = 0;
      for (const batch of decoded) {
        const kept = batch.records.filter(() => keep[index++] === 1);
        if (kept.length === batch.records.length) {
          out.push(null);
        } else if (kept.length === 0) {
          out.push(Buffer.alloc(0));
        } else {
          const payload = await compress(batch.codec, Buffer.concat(kept), policy && levelOf(policy, batch.codec));
          const rebuilt = Buffer.concat([batch.header, payload]);
          rebuilt.writeInt32BE(rebuilt.length - 12, 8);
          rebuilt.writeInt32BE(kept.length, 57);
          rebuilt.writeUInt32BE(native.crc32c(rebuilt.subarray(21)), 17);
          out.push(rebuilt);
        }
      }
      decoded = [];
      return out;
    },
  };
}
