import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { crc32c, decodeRecordBatches, encodeRecordBatch, type RecordInput } from '../../src/index.js';
import { crc32cReference, readLogFile } from '../support/kafka-format-reader.js';
import { BATCH, T0, fixCrc, makeBatch, readZigzag } from '../support/log-test-helpers.js';

describe('crc32c', () => {
  it('matches the published CRC-32C check value for "123456789"', () => {
    // Proves the exported crc32c is Castagnoli's CRC (reflected 0x82F63B78) via its standard check value.
    expect(crc32c(Buffer.from('123456789', 'ascii'))).toBe(0xe3069283);
  });

  it('matches the RFC 3720 (iSCSI) test vectors', () => {
    // Proves crc32c agrees with the iSCSI vectors for zeros, ones, ascending and descending bytes.
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
  });

  it('is 0 for no bytes', () => {
    // Proves the empty input gives the CRC of nothing (init and final xor cancel).
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with a bytewise reference for many lengths and unaligned views', () => {
    // Proves the (possibly hardware) implementation handles every length and alignment like a table-driven reference.
    const backing = randomBytes(4096 + 64);
    for (const start of [0, 1, 3, 7, 8, 13]) {
      for (const length of [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 2048, 4095, 4096]) {
        const view = new Uint8Array(backing.buffer, backing.byteOffset + start, length);
        expect(crc32c(view), `start ${start} length ${length}`).toBe(crc32cReference(view));
      }
    }
  });
});

describe('encodeRecordBatch / decodeRecordBatches', () => {
  it('round-trips keys, null keys and values, headers with null values, explicit timestamps, unicode and empty values', () => {
    // Proves every record field survives encode -> decode unchanged and the batch header fields are derived correctly.
    const records: RecordInput[] = [
      { key: 'k0', value: 'v0', timestamp: T0 + 5 },
      { key: null, value: 'no key', timestamp: T0 },
      { key: 'tombstone', value: null, timestamp: T0 + 100 },
      { value: '', timestamp: T0 + 2, headers: [{ key: 'h', value: null }, { key: 'h2', value: Buffer.from([0, 1, 2]) }] },
      { key: 'ключ-🔑', value: '值 – ünïcödé ✓', timestamp: T0 - 7, headers: [{ key: 'ヘッダー', value: 'värde' }] },
      { key: Buffer.alloc(0), value: Buffer.alloc(0), timestamp: T0 + 1 },
    ];
    const batch = encodeRecordBatch(records, {
      baseOffset: 42,
      partitionLeaderEpoch: 7,
      producerId: 1234,
      producerEpoch: 3,
      baseSequence: 99,
    });
    const [decoded, ...rest] = decodeRecordBatches(batch);
    expect(rest).toEqual([]);
    expect(decoded).toBeDefined();
    const b = decoded!;
    expect(b.baseOffset).toBe(42);
    expect(b.lastOffset).toBe(42 + records.length - 1);
    expect(b.sizeBytes).toBe(batch.length);
    expect(b.partitionLeaderEpoch).toBe(7);
    expect(b.producerId).toBe(1234);
    expect(b.producerEpoch).toBe(3);
    expect(b.baseSequence).toBe(99);
    expect(b.compression).toBe('none');
    expect(b.timestampType).toBe('CreateTime');
    expect(b.isControl).toBe(false);
    expect(b.isTransactional).toBe(false);
    expect(b.baseTimestamp).toBe(T0 - 7);
    expect(b.maxTimestamp).toBe(T0 + 100);
    expect(b.records.map((r) => r.offset)).toEqual([42, 43, 44, 45, 46, 47]);
    expect(b.records.map((r) => r.timestamp)).toEqual(records.map((r) => r.timestamp));
    expect(b.records[0]!.key!.toString()).toBe('k0');
    expect(b.records[0]!.value!.toString()).toBe('v0');
    expect(b.records[1]!.key).toBeNull();
    expect(b.records[2]!.value).toBeNull();
    expect(b.records[3]!.key).toBeNull();
    expect(b.records[3]!.value!.length).toBe(0);
    expect(b.records[3]!.headers).toEqual([
      { key: 'h', value: null },
      { key: 'h2', value: Buffer.from([0, 1, 2]) },
    ]);
    expect(b.records[4]!.key!.toString('utf8')).toBe('ключ-🔑');
    expect(b.records[4]!.value!.toString('utf8')).toBe('值 – ünïcödé ✓');
    expect(b.records[4]!.headers[0]!.key).toBe('ヘッダー');
    expect(b.records[4]!.headers[0]!.value!.toString('utf8')).toBe('värde');
    expect(b.records[5]!.key).not.toBeNull();
    expect(b.records[5]!.key!.length).toBe(0);
    expect(b.records[5]!.value!.length).toBe(0);
  });

  it('writes what an independent Kafka-format reader decodes to the same records', () => {
    // Proves the encoder's bytes follow Kafka's published layout, not just a private convention shared with the decoder.
    const records: RecordInput[] = [
      { key: 'a', value: 'alpha', timestamp: T0 + 3, headers: [{ key: 'x', value: null }] },
      { key: null, value: null, timestamp: T0 },
    ];
    const batch = encodeRecordBatch(records, { baseOffset: 10, transactional: true, producerId: 5, producerEpoch: 1 });
    const ref = readLogFile(batch, 10n);
    expect(ref.error).toBeUndefined();
    expect(ref.batches).toHaveLength(1);
    const rb = ref.batches[0]!;
    expect(rb.magic).toBe(2);
    expect(rb.crcValid).toBe(true);
    expect(rb.isTransactional).toBe(true);
    expect(rb.recordsCount).toBe(2);
    expect(rb.lastOffsetDelta).toBe(1);
    expect(rb.baseTimestamp).toBe(BigInt(T0));
    expect(rb.maxTimestamp).toBe(BigInt(T0 + 3));
    expect(rb.records!.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
      [10n, BigInt(T0 + 3), 'a', 'alpha'],
      [11n, BigInt(T0), null, null],
    ]);
    expect(rb.records![0]!.headers).toEqual([{ key: 'x', value: null }]);
  });

  it('round-trips records larger than 64 KiB and 1 MiB (multi-byte length varints)', () => {
    // Proves 3- and 4-byte varint lengths are encoded and decoded correctly.
    const medium = randomBytes(70_000);
    const large = randomBytes(1_100_000);
    const batch = encodeRecordBatch(
      [
        { key: 'medium', value: medium, timestamp: T0 },
        { key: 'small', value: 'x', timestamp: T0 },
        { key: null, value: large, timestamp: T0 },
      ],
      { timestamp: T0 },
    );
    // Record 0's length varint, read by hand: attributes, ts delta, offset delta, key (1+6), value (3+70000), headers.
    const first = readZigzag(batch, BATCH.records);
    expect(first.length).toBe(3);
    expect(first.value).toBe(1 + 1 + 1 + 1 + 6 + 3 + 70_000 + 1);
    const [decoded] = decodeRecordBatches(batch);
    expect(decoded!.records).toHaveLength(3);
    expect(decoded!.records[0]!.value!.equals(medium)).toBe(true);
    expect(decoded!.records[1]!.value!.toString()).toBe('x');
    expect(decoded!.records[2]!.value!.equals(large)).toBe(true);
    const ref = readLogFile(batch, 0n);
    expect(ref.error).toBeUndefined();
    expect(ref.batches[0]!.records![2]!.value!.equals(large)).toBe(true);
    // The 1.1 MB value needs a 4-byte length: zigzag(1_100_000) = 2_200_000 >= 2^21.
    // Record 1 ('small' -> 'x') takes 1 length byte + 12 body bytes.
    const thirdStart = BATCH.records + first.length + first.value + 13;
    expect(readZigzag(batch, thirdStart).length).toBe(4);
  });

  it('stores a CRC-32C over bytes 21..end that crc32c verifies', () => {
    // Proves the CRC field holds crc32c of attributes..end, as Kafka's v2 format requires.
    const batch = makeBatch(5, 'crc');
    expect(batch.readUInt32BE(BATCH.crc)).toBe(crc32c(batch.subarray(BATCH.attributes)));
    expect(batch.readUInt32BE(BATCH.crc)).toBe(crc32cReference(batch.subarray(BATCH.attributes)));
  });

  it('rejects a batch with any byte flipped in the CRC-covered range', () => {
    // Proves decode checks the CRC: a single flipped bit anywhere from attributes to the end is detected.
    const batch = makeBatch(3, 'flip');
    for (const position of [BATCH.attributes, BATCH.lastOffsetDelta + 3, BATCH.maxTimestamp, BATCH.recordsCount + 3, BATCH.records + 4, batch.length - 1]) {
      const damaged = Buffer.from(batch);
      damaged[position] = damaged[position]! ^ 0x01;
      expect(() => decodeRecordBatches(damaged), `byte ${position}`).toThrow(/CRC/);
    }
    const crcDamaged = Buffer.from(batch);
    crcDamaged[BATCH.crc + 2] = crcDamaged[BATCH.crc + 2]! ^ 0x80;
    expect(() => decodeRecordBatches(crcDamaged)).toThrow(/CRC/);
  });

  it('does not cover baseOffset and batchLength-prefix fields with the CRC (Kafka semantics)', () => {
    // Proves the CRC starts at attributes: changing baseOffset (rewritten by brokers) keeps the batch valid.
    const batch = makeBatch(2, 'base');
    const moved = Buffer.from(batch);
    moved.writeBigInt64BE(1000n, BATCH.baseOffset);
    const [decoded] = decodeRecordBatches(moved);
    expect(decoded!.baseOffset).toBe(1000);
    expect(decoded!.records.map((r) => r.offset)).toEqual([1000, 1001]);
  });

  it('rejects a magic other than 2', () => {
    // Proves the decoder refuses message-format v0/v1 bytes instead of misreading them.
    const batch = makeBatch(1, 'magic');
    batch[BATCH.magic] = 1;
    expect(() => decodeRecordBatches(fixCrc(batch))).toThrow(/magic/);
  });

  it('decodes several batches and ignores a trailing partial batch', () => {
    // Proves a truncated last batch (as a fetch with a byte limit may return) is skipped, not an error.
    const a = makeBatch(2, 'a', { baseOffset: 0 });
    const b = makeBatch(3, 'b', { baseOffset: 2 });
    const c = makeBatch(4, 'c', { baseOffset: 5 });
    for (const cut of [1, 11, 12, 30, 60, 61, 62, c.length - 1]) {
      const bytes = Buffer.concat([a, b, c.subarray(0, cut)]);
      const decoded = decodeRecordBatches(bytes);
      expect(decoded.map((d) => d.baseOffset), `cut ${cut}`).toEqual([0, 2]);
      expect(decoded.flatMap((d) => d.records.map((r) => r.value!.toString()))).toEqual([
        'a-value-0',
        'a-value-1',
        'b-value-0',
        'b-value-1',
        'b-value-2',
      ]);
    }
    expect(decodeRecordBatches(Buffer.concat([a, b, c])).map((d) => d.lastOffset)).toEqual([1, 4, 8]);
    expect(decodeRecordBatches(Buffer.alloc(0))).toEqual([]);
  });

  it('uses the batch timestamp for records without one and refuses an empty batch', () => {
    // Proves the default-timestamp option applies per record and that a batch needs at least one record.
    const batch = encodeRecordBatch([{ value: 'a' }, { value: 'b', timestamp: T0 + 50 }], { timestamp: T0 });
    const [decoded] = decodeRecordBatches(batch);
    expect(decoded!.records.map((r) => r.timestamp)).toEqual([T0, T0 + 50]);
    expect(() => encodeRecordBatch([])).toThrow(RangeError);
  });
});
