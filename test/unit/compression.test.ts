// The compression codecs (src/protocol/compression.ts), the record-batch
// helpers with every codec, and what Log.append does with compressed batches
// (src/log/batch-compression.ts): recompression by compression.type, full
// validation, keys on compacted topics, append order, and record-level
// timestamp lookups in compressed batches. Codec bytes come from real client
// libraries: kafka-python's codec module (Debian's python3-snappy, -lz4,
// -zstandard), kafkajs-snappy and kafkajs-lz4.
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  COMPRESSION_LEVELS,
  CompressionError,
  XERIAL_HEADER,
  compress,
  compressSync,
  decompress,
  decompressSync,
  isXerial,
  snappyRawCompressSync,
  type CompressionName,
} from '../../src/protocol/compression.js';
import { decodeRecordBatchesAsync } from '../../src/protocol/record-batch.js';
import { ConfigError, MAX_TIMESTAMP, decodeRecordBatches, encodeRecordBatch, resolveLogConfig, type Log } from '../../src/index.js';
import {
  BATCH,
  T0,
  expectLogError,
  fixCrc,
  makeRecords,
  makeTempDir,
  openTestLog,
  readAllBatches,
  readAllBytes,
  removeTempDir,
} from '../support/log-test-helpers.js';

const requireCjs = createRequire(import.meta.url);
const CODECS: CompressionName[] = ['gzip', 'snappy', 'lz4', 'zstd'];
const PYTHON = '/usr/bin/python3';

/** Realistic payload: JSON log lines (what the bench uses too). */
function jsonLines(count: number): Buffer {
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ ts: new Date(T0 + i * 37).toISOString(), level: i % 11 === 0 ? 'WARN' : 'INFO', service: `svc-${i % 5}`, msg: `request ${i} served`, ms: (i * 7919) % 500 }),
  );
  return Buffer.from(lines.join('\n'));
}

/** Runs kafka-python's codec module on `input` (hex in, hex out). */
function python(op: string, input: Buffer): Buffer {
  const script = `
import sys, binascii
from kafka import codec
import snappy
data = binascii.unhexlify(sys.stdin.read().strip())
op = sys.argv[1]
out = {
  'gzip_encode': lambda d: codec.gzip_encode(d),
  'snappy_xerial_encode': lambda d: codec.snappy_encode(d, xerial_compatible=True),
  'snappy_raw_encode': lambda d: snappy.compress(d),
  'lz4_encode': lambda d: codec.lz4_encode(d),
  'zstd_encode': lambda d: codec.zstd_encode(d),
  'gzip_decode': lambda d: codec.gzip_decode(d),
  'snappy_decode': lambda d: codec.snappy_decode(d),
  'lz4_decode': lambda d: codec.lz4_decode(d),
  'zstd_decode': lambda d: codec.zstd_decode(d),
  'xerial_detected': lambda d: b'1' if codec._detect_xerial_stream(d) else b'0',
}[op](data)
sys.stdout.write(binascii.hexlify(out).decode())
`;
  const out = execFileSync(PYTHON, ['-c', script, op], { input: input.toString('hex'), maxBuffer: 64 * 1024 * 1024 });
  return Buffer.from(out.toString().trim(), 'hex');
}

describe('codecs', () => {
  const payload = jsonLines(2000); // ~200 KB: several xerial blocks and lz4 blocks

  it('round-trips every codec, synchronously and asynchronously, and actually compresses JSON', async () => {
    // Proves both forms agree with each other and with the input, for every codec.
    for (const codec of CODECS) {
      const viaAsync = await compress(codec, payload);
      const viaSync = compressSync(codec, payload);
      expect(viaSync.length, codec).toBeLessThan(payload.length / 3);
      expect((await decompress(codec, viaSync)).equals(payload), codec).toBe(true);
      expect(decompressSync(codec, viaAsync).equals(payload), codec).toBe(true);
    }
  });

  it('writes snappy as xerial with the big-endian header kafka-python compares byte for byte', async () => {
    // The example of CLIENTS.md §3 ("foobar\n"), exactly; and kafka-python detects and decodes ours.
    const expected = '82534e41505059000000000100000001000000090718666f6f6261720a';
    expect(compressSync('snappy', Buffer.from('foobar\n')).toString('hex')).toBe(expected);
    expect((await compress('snappy', Buffer.from('foobar\n'))).toString('hex')).toBe(expected);
    expect(XERIAL_HEADER.toString('hex')).toBe('82534e4150505900' + '00000001' + '00000001');
    const ours = compressSync('snappy', payload);
    expect(python('xerial_detected', ours).toString()).toBe('1');
    expect(python('snappy_decode', ours).equals(payload)).toBe(true);
    // Blocks hold at most 32 KiB of input each, as snappy-java writes them.
    let at = 16;
    let blocks = 0;
    while (at < ours.length) {
      const length = ours.readInt32BE(at);
      const block = ours.subarray(at + 4, at + 4 + length);
      expect(decompressSync('snappy', block).length).toBeLessThanOrEqual(32 * 1024);
      at += 4 + length;
      blocks++;
    }
    expect(blocks).toBe(Math.ceil(payload.length / (32 * 1024)));
  });

  it('reads both snappy framings: raw blocks (librdkafka, kafkajs-snappy) and xerial (kafka-python, Java)', async () => {
    // Bytes from python-snappy (raw, as librdkafka), kafka-python (xerial) and kafkajs-snappy.
    const raw = python('snappy_raw_encode', payload);
    expect(isXerial(raw)).toBe(false);
    expect((await decompress('snappy', raw)).equals(payload)).toBe(true);
    const xerial = python('snappy_xerial_encode', payload);
    expect(isXerial(xerial)).toBe(true);
    expect((await decompress('snappy', xerial)).equals(payload)).toBe(true);
    const kafkajsSnappy = (requireCjs('kafkajs-snappy') as () => { compress(e: { buffer: Buffer }): Promise<Buffer> })();
    const fromKafkajs = await kafkajsSnappy.compress({ buffer: payload });
    expect(decompressSync('snappy', fromKafkajs).equals(payload)).toBe(true);
    expect(snappyRawCompressSync(Buffer.from('foobar\n')).toString('hex')).toBe('0718666f6f6261720a');
  });

  it('reads gzip, lz4 and zstd written by kafka-python and kafkajs-lz4, and they read ours', async () => {
    // Each codec in both directions against a real client's codec library.
    for (const codec of ['gzip', 'lz4', 'zstd'] as const) {
      const theirs = python(`${codec}_encode`, payload);
      expect((await decompress(codec, theirs)).equals(payload), codec).toBe(true);
      expect(python(`${codec}_decode`, await compress(codec, payload)).equals(payload), codec).toBe(true);
    }
    const Lz4Codec = requireCjs('kafkajs-lz4') as new () => { codec(): { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> } };
    const kafkajsLz4 = new Lz4Codec().codec();
    // kafkajs-lz4 writes 4 MB independent blocks with a content checksum.
    expect((await decompress('lz4', await kafkajsLz4.compress({ buffer: payload }))).equals(payload)).toBe(true);
    expect((await kafkajsLz4.decompress(await compress('lz4', payload))).equals(payload)).toBe(true);
  });

  it('writes lz4 frames with independent blocks (FLG 0x60, as Java), which Java requires', () => {
    for (const input of [Buffer.from('foobar\n'), payload]) {
      const frame = compressSync('lz4', input);
      expect(frame.subarray(0, 5).toString('hex')).toBe('04224d1860');
      expect((frame[5]! >> 4) & 0x07).toBeGreaterThanOrEqual(4); // 64 KiB .. 4 MiB blocks
    }
    expect(compressSync('lz4', Buffer.from('foobar\n'))[5]).toBe(0x40);
  });

  it('reads concatenated gzip members, honours the gzip level, and reads zstd frames without a content size', async () => {
    const members = Buffer.concat([gzipSync(payload.subarray(0, 1000)), gzipSync(payload.subarray(1000))]);
    expect((await decompress('gzip', members)).equals(payload)).toBe(true);
    expect(compressSync('gzip', payload, 1).length).toBeGreaterThan(compressSync('gzip', payload, 9).length);
    const zstdDefault = await compress('zstd', payload);
    expect((await compress('zstd', payload, 19)).length).toBeLessThan(zstdDefault.length);
    expect(zstdDefault[4]! & 0xc0).toBe(0); // no Frame_Content_Size, like Java's and librdkafka's frames
  });

  it('refuses undecodable payloads (truncated, or not compressed at all) with CompressionError naming the codec', async () => {
    // Structural damage only: snappy, lz4 (no block checksums) and zstd (no content checksum) can
    // decode flipped bytes into other bytes; the record walk catches those (see the Log tests).
    for (const codec of CODECS) {
      const good = await compress(codec, payload);
      for (const input of [good.subarray(0, Math.floor(good.length / 2)), Buffer.from('definitely not a compressed payload')]) {
        const error = await decompress(codec, input).catch((e: unknown) => e);
        expect(error, codec).toBeInstanceOf(CompressionError);
        expect((error as Error).message, codec).toContain(codec);
        expect(() => decompressSync(codec, input), codec).toThrow(CompressionError);
      }
    }
  });

  it('stops at the decompressed-size limit instead of inflating a compression bomb', async () => {
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    for (const codec of CODECS) {
      const bomb = await compress(codec, zeros);
      const error = await decompress(codec, bomb, 1024 * 1024).catch((e: unknown) => e);
      expect(error, codec).toBeInstanceOf(CompressionError);
      expect((error as CompressionError).tooLarge, codec).toBe(true);
      expect(() => decompressSync(codec, bomb, 1024 * 1024), codec).toThrow(/limit/);
    }
  });

  it('exposes Kafka\'s level ranges and validates the level configs by them', () => {
    expect(COMPRESSION_LEVELS).toEqual({ gzip: { min: 1, max: 9, default: -1 }, lz4: { min: 1, max: 17, default: 9 }, zstd: { min: -131072, max: 22, default: 3 } });
    expect(resolveLogConfig({})).toMatchObject({ 'compression.type': 'producer', 'compression.gzip.level': -1, 'compression.lz4.level': 9, 'compression.zstd.level': 3, 'gregor.record.validation': 'shallow' });
    expect(resolveLogConfig({ 'compression.gzip.level': '9', 'compression.zstd.level': '-5' })).toMatchObject({ 'compression.gzip.level': 9, 'compression.zstd.level': -5 });
    for (const bad of [{ 'compression.gzip.level': 0 }, { 'compression.gzip.level': 10 }, { 'compression.lz4.level': 18 }, { 'compression.zstd.level': 23 }, { 'compression.type': 'brotli' }, { 'gregor.record.validation': 'deep' }]) {
      expect(() => resolveLogConfig(bad), JSON.stringify(bad)).toThrow(ConfigError);
    }
  });
});

describe('encodeRecordBatch / decodeRecordBatches with codecs', () => {
  it('round-trips records, headers, nulls and timestamps through every codec', async () => {
    const records = [
      { key: 'k1', value: '{"a":1}', headers: [{ key: 'h', value: 'v' }], timestamp: T0 + 5 },
      { key: null, value: null, timestamp: T0 },
      { key: Buffer.from([0, 1, 2]), value: 'x'.repeat(5000), headers: [{ key: 'n', value: null }], timestamp: T0 + 9 },
    ];
    for (const compression of CODECS) {
      const batch = encodeRecordBatch(records, { compression, compressionLevel: compression === 'gzip' ? 9 : undefined, timestamp: T0, producerId: 7, producerEpoch: 1, baseSequence: 3 });
      expect(batch.readInt16BE(BATCH.attributes) & 0x07).toBe(['none', 'gzip', 'snappy', 'lz4', 'zstd'].indexOf(compression));
      for (const [decoded] of [decodeRecordBatches(batch), await decodeRecordBatchesAsync(batch)]) {
        expect(decoded!.compression).toBe(compression);
        expect(decoded!.maxTimestamp).toBe(T0 + 9);
        expect(decoded!.records.map((r) => [r.offset, r.timestamp, r.key?.toString('hex') ?? null, r.value?.length ?? null])).toEqual([
          [0, T0 + 5, Buffer.from('k1').toString('hex'), 7],
          [1, T0, null, null],
          [2, T0 + 9, '000102', 5000],
        ]);
        expect(decoded!.records[0]!.headers).toEqual([{ key: 'h', value: Buffer.from('v') }]);
        expect(decoded!.records[2]!.headers).toEqual([{ key: 'n', value: null }]);
      }
    }
  });
});

/** A batch whose compressed payload is garbage but whose outer CRC is valid. */
function corruptPayloadBatch(codec: CompressionName): Buffer {
  const batch = encodeRecordBatch(makeRecords(20, `bad-${codec}`), { compression: codec, timestamp: T0 });
  const copy = Buffer.from(batch);
  copy.fill(0x41, BATCH.records + 4, copy.length - 2);
  return fixCrc(copy);
}

describe('Log.append and compression settings', () => {
  let dir: string;
  let log: Log | undefined;
  beforeEach(() => {
    dir = makeTempDir('gregor-compression-');
  });
  afterEach(async () => {
    await log?.close();
    log = undefined;
    removeTempDir(dir);
  });

  it('stores batches as produced under compression.type=producer, without looking inside (a corrupt payload with a valid CRC is accepted)', async () => {
    // Shallow validation: header and outer CRC only; every codec is stored byte for byte.
    log = await openTestLog(dir);
    const batches = CODECS.map((codec) => encodeRecordBatch(makeRecords(10, codec), { compression: codec, timestamp: T0 }));
    for (const b of batches) await log.append(b);
    await log.append(corruptPayloadBatch('zstd'));
    const stored = await log.read(0, 1 << 20);
    let at = 0;
    for (const b of batches) {
      expect(stored.subarray(at + 12, at + b.length).equals(b.subarray(12)), 'stored as produced').toBe(true);
      at += b.length;
    }
    expect(stored.length).toBe(at + corruptPayloadBatch('zstd').length);
    expect(log.logEndOffset).toBe(60);
  });

  it('recompresses into the topic codec, keeping offsets, timestamps, keys, headers and producer fields', async () => {
    // compression.type=zstd receiving every other codec stores zstd; the records read back unchanged.
    log = await openTestLog(dir, { 'compression.type': 'zstd', 'compression.zstd.level': 5 });
    const sources: CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
    const inputs = sources.map((compression, i) =>
      encodeRecordBatch(
        makeRecords(5, `from-${compression}`, [T0 + 3, T0 + 1, T0 + 4, T0, T0 + 2]).map((r, j) => ({ ...r, headers: [{ key: 'j', value: String(j) }] })),
        { compression, timestamp: T0, producerId: 100 + i, producerEpoch: 2, baseSequence: 10 * i },
      ),
    );
    for (const b of inputs) await log.append(b);
    const batches = await readAllBatches(log);
    expect(batches.map((b) => b.compression)).toEqual(['zstd', 'zstd', 'zstd', 'zstd', 'zstd']);
    batches.forEach((b, i) => {
      const original = decodeRecordBatches(inputs[i]!)[0]!;
      expect(b).toMatchObject({ baseOffset: 5 * i, lastOffset: 5 * i + 4, producerId: 100 + i, producerEpoch: 2, baseSequence: 10 * i, baseTimestamp: T0, maxTimestamp: T0 + 4 });
      expect(b.records.map((r) => [r.offset - b.baseOffset, r.timestamp, r.key?.toString(), r.value?.toString(), r.headers[0]?.value?.toString()])).toEqual(
        original.records.map((r) => [r.offset, r.timestamp, r.key?.toString(), r.value?.toString(), r.headers[0]?.value?.toString()]),
      );
    });
  });

  it('stores decompressed batches under compression.type=uncompressed, and follows a compression.type change at runtime', async () => {
    log = await openTestLog(dir, { 'compression.type': 'uncompressed' });
    await log.append(encodeRecordBatch(makeRecords(3, 'a'), { compression: 'lz4', timestamp: T0 }));
    await log.setConfig({ 'compression.type': 'gzip', 'compression.gzip.level': 1 });
    await log.append(encodeRecordBatch(makeRecords(3, 'b'), { compression: 'snappy', timestamp: T0 }));
    await log.append(encodeRecordBatch(makeRecords(3, 'c'), { timestamp: T0 }));
    await log.setConfig({ 'compression.type': 'producer' });
    await log.append(encodeRecordBatch(makeRecords(3, 'd'), { compression: 'snappy', timestamp: T0 }));
    const batches = await readAllBatches(log);
    expect(batches.map((b) => b.compression)).toEqual(['none', 'gzip', 'gzip', 'snappy']);
    expect(batches.flatMap((b) => b.records.map((r) => r.value?.toString()))).toEqual(['a', 'b', 'c', 'd'].flatMap((t) => [0, 1, 2].map((i) => `${t}-value-${i}`)));
  });

  it('refuses a corrupt compressed payload with CORRUPT_MESSAGE where it decompresses (recompression, full validation) and writes nothing', async () => {
    for (const config of [{ 'compression.type': 'lz4' }, { 'gregor.record.validation': 'full' }] as const) {
      const sub = makeTempDir('gregor-compression-corrupt-');
      const l = await openTestLog(sub, config);
      try {
        await l.append(encodeRecordBatch(makeRecords(2, 'ok'), { timestamp: T0 }));
        for (const codec of CODECS) {
          if (config['compression.type'] === codec) continue;
          const before = await readAllBytes(l);
          // The payload's bad bytes sit inside a batch that also carries a good one: nothing of the append is written.
          const good = encodeRecordBatch(makeRecords(2, 'good'), { compression: 'gzip', timestamp: T0 });
          const error = await expectLogError(l.append(Buffer.concat([good, corruptPayloadBatch(codec)])), 'CORRUPT_MESSAGE');
          expect(error.message).toContain(codec);
          expect((await readAllBytes(l)).equals(before)).toBe(true);
          expect(l.logEndOffset).toBe(2);
        }
      } finally {
        await l.close();
        removeTempDir(sub);
      }
    }
  });

  it('still refuses a batch whose outer CRC is wrong, even when it would be recompressed', async () => {
    log = await openTestLog(dir, { 'compression.type': 'zstd' });
    const batch = Buffer.from(encodeRecordBatch(makeRecords(4, 'crc'), { compression: 'gzip', timestamp: T0 }));
    batch[batch.length - 5] = batch[batch.length - 5]! ^ 0x01;
    const error = await expectLogError(log.append(batch), 'CORRUPT_MESSAGE');
    expect(error.message).toMatch(/CRC/);
    expect(log.logEndOffset).toBe(0);
  });

  it('checks inner records under full validation: offset deltas, framing, and corrects the header maxTimestamp', async () => {
    log = await openTestLog(dir, { 'gregor.record.validation': 'full' });
    // Inner offset deltas 0,1,2 rewritten to 0,1,5 inside a gzip payload: INVALID_RECORD.
    const plain = encodeRecordBatch(makeRecords(3, 'od'), { timestamp: T0 });
    const records = Buffer.from(plain.subarray(BATCH.records));
    // third record: length varint (1 byte), attributes (1), timestampDelta (1), offsetDelta (1)
    const first = records[0]! >> 1;
    const second = records[first + 1]! >> 1;
    const third = first + 1 + second + 1;
    expect(records[third + 3]).toBe(4); // zigzag(2)
    records[third + 3] = 10; // zigzag(5)
    const outOfSequence = Buffer.concat([plain.subarray(0, BATCH.records), gzipSync(records)]);
    outOfSequence.writeInt32BE(outOfSequence.length - 12, BATCH.batchLength);
    outOfSequence.writeInt16BE(1, BATCH.attributes);
    await expectLogError(log.append(fixCrc(outOfSequence)), 'INVALID_RECORD');

    // A producer's maxTimestamp that disagrees with its records is corrected (CreateTime).
    const lying = Buffer.from(encodeRecordBatch(makeRecords(3, 'ts', [T0, T0 + 7, T0 + 2]), { compression: 'snappy', timestamp: T0 }));
    lying.writeBigInt64BE(BigInt(T0 + 1000), BATCH.maxTimestamp);
    await log.append(fixCrc(lying));
    const [stored] = await readAllBatches(log);
    expect(stored).toMatchObject({ compression: 'snappy', maxTimestamp: T0 + 7 });
    expect(log.logEndOffset).toBe(3);
  });

  it('requires a key on every record when asked (compacted topics), compressed or not', async () => {
    log = await openTestLog(dir);
    for (const compression of ['none', ...CODECS] as CompressionName[]) {
      const keyless = encodeRecordBatch([{ key: 'k', value: 'v' }, { key: null, value: 'no key' }], { compression, timestamp: T0 });
      const error = await expectLogError(log.append(keyless, { requireKeys: true }), 'INVALID_RECORD');
      expect(error.message).toMatch(/key/);
    }
    expect(log.logEndOffset).toBe(0);
    await log.append(encodeRecordBatch([{ key: 'k', value: null }], { compression: 'lz4', timestamp: T0 }), { requireKeys: true });
    expect(log.logEndOffset).toBe(1);
  });

  it('keeps the order of append calls when a recompressed append is followed by ones that need no work', async () => {
    // The first append is recompressed asynchronously; the next ones must not overtake it.
    log = await openTestLog(dir, { 'compression.type': 'gzip' });
    const big = encodeRecordBatch(makeRecords(2000, 'first'), { compression: 'zstd', timestamp: T0 });
    const appends = [log.append(big), ...Array.from({ length: 5 }, (_, i) => log!.append(encodeRecordBatch(makeRecords(1, `next${i}`), { compression: 'gzip', timestamp: T0 })))];
    const results = await Promise.all(appends);
    expect(results.map((r) => r.baseOffset)).toEqual([0, 2000, 2001, 2002, 2003, 2004]);
    const values = (await readAllBatches(log)).flatMap((b) => b.records.map((r) => r.value?.toString()));
    expect(values.slice(1999)).toEqual(['first-value-1999', 'next0-value-0', 'next1-value-0', 'next2-value-0', 'next3-value-0', 'next4-value-0']);
  });

  it('answers timestamp lookups inside compressed batches at the record level', async () => {
    // Kafka's answer is the first record with timestamp >= the target, not the batch's first offset.
    log = await openTestLog(dir);
    await log.append(encodeRecordBatch(makeRecords(4, 'u', [T0, T0 + 1, T0 + 2, T0 + 3]), { timestamp: T0 }));
    for (const [i, compression] of CODECS.entries()) {
      const base = T0 + 100 * (i + 1);
      await log.append(encodeRecordBatch(makeRecords(5, compression, [base, base + 30, base + 10, base + 40, base + 20]), { compression, timestamp: T0 }));
    }
    for (const [i] of CODECS.entries()) {
      const baseOffset = 4 + 5 * i;
      const base = T0 + 100 * (i + 1);
      expect(await log.offsetForTimestamp(base + 5)).toEqual({ offset: baseOffset + 1, timestamp: base + 30 });
      expect(await log.offsetForTimestamp(base + 35)).toEqual({ offset: baseOffset + 3, timestamp: base + 40 });
      expect(await log.offsetForTimestamp(base)).toEqual({ offset: baseOffset, timestamp: base });
    }
    expect(await log.offsetForTimestamp(T0 + 2)).toEqual({ offset: 2, timestamp: T0 + 2 });
    expect(await log.offsetForTimestamp(T0 + 10_000)).toBeNull();
    // The largest timestamp sits in the middle of the last (zstd) batch.
    expect(await log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: 4 + 5 * 3 + 3, timestamp: T0 + 440 });
  });

  it('finds the record in a later batch when a compressed batch\'s header claims a larger maxTimestamp than its records', async () => {
    log = await openTestLog(dir);
    const lying = Buffer.from(encodeRecordBatch(makeRecords(3, 'lie', [T0, T0 + 1, T0 + 2]), { compression: 'lz4', timestamp: T0 }));
    lying.writeBigInt64BE(BigInt(T0 + 50), BATCH.maxTimestamp);
    await log.append(fixCrc(lying));
    await log.append(encodeRecordBatch(makeRecords(3, 'next', [T0 + 10, T0 + 20, T0 + 30]), { compression: 'gzip', timestamp: T0 }));
    expect(await log.offsetForTimestamp(T0 + 15)).toEqual({ offset: 4, timestamp: T0 + 20 });
    expect(await log.offsetForTimestamp(T0 + 45)).toBeNull();
  });
});
