// Child process for the reopen-after-SIGKILL benchmark (bench/recovery.mjs).
//
//   node bench/lib/recovery-writer.mjs <dir> <bulk MiB> <scenario>
//
// Writes <bulk MiB> of 1 MiB batches (1 KiB records) into one partition of a
// LogManager whose checkpoints are written every second, then, by scenario:
//
//   flushed-quiet  flush(), wait until the checkpoint holds the flushed
//                  offset, append 64 MiB more, report the last acknowledged
//                  offset and wait to be killed (nothing in flight).
//   flushed-busy   the same, then keep appending (4 in flight) and report
//                  every acknowledgement until killed mid-append.
//   unflushed      no flush: the checkpointed recovery point stays 0, so the
//                  next open rescans every segment.
//
// Progress goes to stdout as one JSON object per line. The parent SIGKILLs
// this process; it never closes the manager.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { LogManager } from '../../dist/index.js';
import { MiB, makeBatchPool, recordsPerBatch, sleep } from './util.mjs';

const [dir, bulkMiBArg, scenario = 'flushed-quiet'] = process.argv.slice(2);
const bulkBytes = Number(bulkMiBArg) * MiB;
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const manager = await LogManager.open(dir, { checkpointIntervalMs: 1000 });
const log = await manager.openLog('recovery-0');
const records = recordsPerBatch(1024, MiB);
const { pool } = makeBatchPool({ recordBytes: 1024, records, count: 32 });

let lastAcked = -1;
async function appendBytes(bytes, inflight) {
  const count = Math.ceil(bytes / pool[0].length);
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const r = await log.append(pool[i % pool.length]);
        if (r.lastOffset > lastAcked) lastAcked = r.lastOffset;
      }
    }),
  );
}

function checkpointedOffset() {
  try {
    const text = readFileSync(join(dir, 'recovery-point-offset-checkpoint'), 'utf8');
    const m = /^recovery 0 (\d+)$/m.exec(text);
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

const t0 = Date.now();
await appendBytes(bulkBytes, 16);
say({ phase: 'bulk', logEndOffset: log.logEndOffset, sizeBytes: log.sizeBytes, ms: Date.now() - t0 });

if (scenario !== 'unflushed') {
  const t1 = Date.now();
  await log.flush();
  const flushed = log.recoveryPoint;
  say({ phase: 'flushed', recoveryPoint: flushed, ms: Date.now() - t1 });
  const deadline = Date.now() + 10_000;
  while (checkpointedOffset() < flushed) {
    if (Date.now() > deadline) throw new Error('no checkpoint with the flushed offset within 10 s');
    await sleep(50);
  }
  say({ phase: 'checkpointed', checkpoint: checkpointedOffset() });
  await appendBytes(64 * MiB, 4);
} else {
  // Let a checkpoint (recovery point 0) be written, as a running broker would.
  const deadline = Date.now() + 10_000;
  while (checkpointedOffset() < 0 && Date.now() < deadline) await sleep(50);
  say({ phase: 'checkpointed', checkpoint: checkpointedOffset() });
}

say({
  phase: 'acked',
  lastAcked,
  logEndOffset: log.logEndOffset,
  sizeBytes: log.sizeBytes,
  recoveryPoint: log.recoveryPoint,
  segments: (await log.segments()).length,
});

if (scenario === 'flushed-busy') {
  say({ phase: 'busy' });
  // Keep appending until killed; every acknowledgement is reported.
  await Promise.all(
    Array.from({ length: 4 }, async (_, w) => {
      for (let i = w; ; i += 4) {
        const r = await log.append(pool[i % pool.length]);
        say({ acked: r.lastOffset });
      }
    }),
  );
} else {
  say({ phase: 'waiting' });
  setInterval(() => {}, 1 << 30);
}
