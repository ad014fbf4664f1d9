// Micro-benchmarks (tinybench) of the per-call costs around the engine:
// encodeRecordBatch / decodeRecordBatches (TypeScript), crc32c through N-API,
// and one-at-a-time Log.append / Log.read round trips (latency of a single
// call with nothing else in flight).
//
// Run alone: node bench/micro/codec.mjs
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

import { LogManager, crc32c, decodeRecordBatches, encodeRecordBatch } from '../../dist/index.js';
import { KiB, MiB, envInt, fmtAuto, log, removeDir, retain, scratchDir, table } from '../lib/util.mjs';

function records(n, bytes) {
  return Array.from({ length: n }, (_, i) => ({ value: Buffer.alloc(bytes, i & 0xff) }));
}

export async function benchMicro() {
  const time = envInt('MICRO_MS', 300);
  const bench = new Bench({ time, warmupTime: 50 });
  const small = records(148, 100);
  const large = records(15, 1024);
  const smallBatch = encodeRecordBatch(small);
  const largeBatch = encodeRecordBatch(large);
  const bytes = {};
  const add = (name, b, fn) => {
    bytes[name] = b;
    bench.add(name, fn);
  };
  add('encodeRecordBatch, 148 × 100 B records (16 KiB)', smallBatch.length, () => encodeRecordBatch(small));
  add('encodeRecordBatch, 15 × 1 KiB records (16 KiB)', largeBatch.length, () => encodeRecordBatch(large));
  add('decodeRecordBatches, 148 × 100 B records (16 KiB)', smallBatch.length, () => decodeRecordBatches(smallBatch));
  const b61 = Buffer.alloc(61, 1);
  const b16 = Buffer.alloc(16 * KiB, 2);
  const b1m = Buffer.alloc(MiB, 3);
  add('crc32c (N-API), 61 B', 61, () => crc32c(b61));
  add('crc32c (N-API), 16 KiB', b16.length, () => crc32c(b16));
  add('crc32c (N-API), 1 MiB', b1m.length, () => crc32c(b1m));

  const dir = scratchDir('micro');
  const manager = retain(await LogManager.open(dir, { ioThreads: 1 }));
  try {
    const logHandle = await manager.openLog('micro-0');
    const tiny = encodeRecordBatch([{ value: Buffer.alloc(100, 7) }]);
    for (let i = 0; i < 1000; i++) await logHandle.append(smallBatch);
    add('Log.append of a 1-record batch, 1 in flight (round trip)', tiny.length, async () => {
      await logHandle.append(tiny);
    });
    add('Log.read(offset, 1) of a 16 KiB batch, 1 in flight (round trip)', smallBatch.length, async () => {
      await logHandle.read(1000, 1);
    });
    log(`micro: tinybench, ${time} ms per task`);
    await bench.run();
  } finally {
    await manager.close();
    removeDir(dir);
  }
  return bench.tasks.map((task) => {
    const r = task.result;
    const p50ms = r.latency?.p50;
    return {
      name: task.name,
      bytes: bytes[task.name],
      p50us: p50ms * 1000,
      opsPerSec: 1000 / p50ms,
      mbs: (bytes[task.name] / (p50ms / 1000)) / 1e6,
      samples: r.latency?.samplesCount ?? r.latency?.samples?.length,
    };
  });
}

export function microMarkdown(rows) {
  return [
    'tinybench 6, median (p50) latency per call; MB/s = bytes of the batch or buffer per call / p50.',
    '',
    table(
      ['operation', 'bytes/call', 'p50 µs', 'calls/s at p50', 'MB/s at p50'],
      rows.map((r) => [r.name, String(r.bytes), fmtAuto(r.p50us), fmtAuto(r.opsPerSec), fmtAuto(r.mbs)]),
    ),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(microMarkdown(await benchMicro()));
}
