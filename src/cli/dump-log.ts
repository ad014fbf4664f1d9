// gregor dump-log: prints segment files as Kafka's kafka-dump-log.sh does.
//
//   --files a.log,b.index,...   (required; .log, .index or .timeindex)
//   --print-data-log            also print each record's key and value
//                               (compressed batches are decompressed)
//
// Works on Gregor's and Kafka's files alike, without a broker.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { native } from '../native.js';
import { decodeRecordBatches, type DecodedRecord } from '../protocol/record-batch.js';
import { COMPRESSION_NAMES } from '../protocol/compression.js';
import { parseArgs } from './args.js';

const CODEC_NAMES = COMPRESSION_NAMES;

export async function dumpLogCommand(argv: string[], out: (line: string) => void): Promise<void> {
  const args = parseArgs(argv, ['print-data-log', 'deep-iteration'], ['files']);
  const files = args.require('files').split(',').filter(Boolean);
  for (const file of files) {
    out(`Dumping ${file}`);
    const bytes = await readFile(file);
    const base = Number(/^(\d{20})\./.exec(basename(file))?.[1] ?? 0);
    if (file.endsWith('.index')) {
      for (let at = 0; at + 8 <= bytes.length; at += 8) {
        const relative = bytes.readUInt32BE(at);
        if (at > 0 && relative === 0) break; // preallocated, unused tail
        out(`offset: ${base + relative} position: ${bytes.readUInt32BE(at + 4)}`);
      }
    } else if (file.endsWith('.timeindex')) {
      for (let at = 0; at + 12 <= bytes.length; at += 12) {
        const timestamp = bytes.readBigInt64BE(at);
        if (at > 0 && timestamp === 0n) break;
        out(`timestamp: ${timestamp} offset: ${base + bytes.readUInt32BE(at + 8)}`);
      }
    } else {
      out(`Log starting offset: ${base}`);
      dumpBatches(bytes, args.has('print-data-log'), out);
    }
  }
}

function dumpBatches(bytes: Buffer, printData: boolean, out: (line: string) => void): void {
  let position = 0;
  while (position + 61 <= bytes.length) {
    const size = 12 + bytes.readInt32BE(position + 8);
    if (size < 61 || position + size > bytes.length) {
      out(`Found ${bytes.length - position} invalid bytes at the end of the file (position ${position})`);
      return;
    }
    const batch = bytes.subarray(position, position + size);
    const attributes = batch.readInt16BE(21);
    const baseOffset = batch.readBigInt64BE(0);
    const lastOffsetDelta = batch.readInt32BE(23);
    const baseSequence = batch.readInt32BE(53);
    const count = batch.readInt32BE(57);
    const crcValid = batch.readUInt32BE(17) === native.crc32c(batch.subarray(21));
    const timestampType = attributes & 0x08 ? 'LogAppendTime' : 'CreateTime';
    out(
      `baseOffset: ${baseOffset} lastOffset: ${baseOffset + BigInt(lastOffsetDelta)} count: ${count}` +
        ` baseSequence: ${baseSequence} lastSequence: ${baseSequence < 0 ? -1 : baseSequence + lastOffsetDelta}` +
        ` producerId: ${batch.readBigInt64BE(43)} producerEpoch: ${batch.readInt16BE(51)}` +
        ` partitionLeaderEpoch: ${batch.readInt32BE(12)} isTransactional: ${(attributes & 0x10) !== 0}` +
        ` isControl: ${(attributes & 0x20) !== 0} position: ${position} ${timestampType}: ${batch.readBigInt64BE(35)}` +
        ` size: ${size} magic: ${batch.readInt8(16)} compresscodec: ${CODEC_NAMES[attributes & 0x07] ?? 'unknown'} crcValid: ${crcValid}`,
    );
    if (printData && crcValid) {
      // Compressed batches are decompressed (every codec), as kafka-dump-log does.
      let records: DecodedRecord[];
      try {
        records = decodeRecordBatches(batch)[0]?.records ?? [];
      } catch (error) {
        out(`| records cannot be decoded: ${(error as Error).message}`);
        records = [];
      }
      for (const record of records) {
        out(
          `| offset: ${record.offset} ${timestampType}: ${record.timestamp} keySize: ${record.key?.length ?? -1}` +
            ` valueSize: ${record.value?.length ?? -1} sequence: ${baseSequence < 0 ? -1 : baseSequence + record.offset - Number(baseOffset)}` +
            ` headerKeys: [${record.headers.map((h) => h.key).join(',')}]` +
            ` key: ${record.key?.toString('utf8') ?? ''} payload: ${record.value?.toString('utf8') ?? ''}`,
        );
      }
    }
    position += size;
  }
}
