// Child process for the crash test: appends the deterministic workload to
// one log as fast as it can, keeping a few appends in flight, and prints one
// line per acknowledged batch: "ack <round> <i> <baseOffset> <lastOffset>".
// The parent kills it with SIGKILL at a random moment.
import { LogManager } from '../../dist/index.js';
import { workloadBatch } from './crash-workload.mjs';

const [dir, roundText] = process.argv.slice(2);
const round = Number(roundText);
const IN_FLIGHT = 4;

const manager = await LogManager.open(dir, { ioThreads: 2, checkpointIntervalMs: 50 });
const log = await manager.openLog('crash-0', {
  'segment.bytes': 256 * 1024,
  'segment.index.bytes': 4096,
  'index.interval.bytes': 1024,
});
process.stdout.write(`ready ${log.logEndOffset}\n`);

let i = 0;
async function appender() {
  for (;;) {
    const n = i++;
    const batch = workloadBatch(round, n);
    const result = await log.append(batch);
    process.stdout.write(`ack ${round} ${n} ${result.baseOffset} ${result.lastOffset}\n`);
    // Flush now and then so the recovery point moves and recovery starts mid-log.
    if (n % 64 === 63) await log.flush();
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, appender));
