// Child process for the reopen-after-SIGKILL benchmark (bench/recovery.mjs):
// times LogManager.open + openLog on a directory whose writer was killed, in a
// fresh process, and reports what recovery found. It then kills itself so the
// directory stays "unclean" for the next measurement.
//
//   node bench/lib/recovery-open.mjs <dir> <last acknowledged offset>
import { LogManager } from '../../dist/index.js';

const [dir, lastAckedArg] = process.argv.slice(2);
const lastAcked = Number(lastAckedArg);

const start = process.hrtime.bigint();
const manager = await LogManager.open(dir, { checkpointIntervalMs: 3_600_000 });
const opened = process.hrtime.bigint();
const log = await manager.openLog('recovery-0');
const end = process.hrtime.bigint();

// The last acknowledged record must be readable.
let lastAckedReadable = false;
if (lastAcked >= 0 && lastAcked < log.logEndOffset) {
  const buffer = await log.read(lastAcked, 1);
  if (buffer.length >= 61) {
    const base = Number(buffer.readBigInt64BE(0));
    const last = base + buffer.readInt32BE(23);
    lastAckedReadable = base <= lastAcked && lastAcked <= last;
  }
}
const segments = await log.segments();
process.stdout.write(
  `${JSON.stringify({
    managerOpenMs: Number(opened - start) / 1e6,
    openLogMs: Number(end - opened) / 1e6,
    totalMs: Number(end - start) / 1e6,
    previousShutdownClean: manager.previousShutdownClean,
    logEndOffset: log.logEndOffset,
    recoveryPoint: log.recoveryPoint,
    recoveredTruncatedBytes: log.recoveredTruncatedBytes,
    sizeBytes: log.sizeBytes,
    segments: segments.map((s) => ({ baseOffset: s.baseOffset, sizeBytes: s.sizeBytes })),
    lastAckedReadable,
  })}\n`,
  () => process.kill(process.pid, 'SIGKILL'),
);
