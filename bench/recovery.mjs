// Reopen after SIGKILL: a child process writes ≥ 2 GiB into one partition
// (segment.bytes at its 1 GiB default, so the log rolls), lets a checkpoint be
// written (checkpointIntervalMs 1000), appends a bit more and is SIGKILLed by
// this process. Then LogManager.open + openLog are timed in fresh processes
// (TRIALS of them; each one kills itself too, so every open is an unclean
// one), and what recovery found is checked against what the child had
// acknowledged.
//
// Scenarios (GREGOR_BENCH_RECOVERY_SCENARIOS, comma-separated):
//   flushed-quiet  flush after the bulk, checkpoint, +64 MiB, killed idle (the target case)
//   flushed-busy   the same, but killed while appends are in flight
//   unflushed      no flush at all: recovery point 0, every segment rescanned
// GREGOR_BENCH_RECOVERY_COLD=1 also drops the page cache before each open
// (echo 3 > /proc/sys/vm/drop_caches; root only): the machine-reboot case.
//
// Run alone: node bench/recovery.mjs
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { loadAverage } from './machine.mjs';
import {
  BENCH_DIR,
  MiB,
  TRIALS,
  envFlag,
  envInt,
  fmt,
  fmtAuto,
  fmtStat,
  log,
  removeDir,
  scratchDir,
  summarize,
  syncAll,
  table,
} from './lib/util.mjs';

const WRITER = join(BENCH_DIR, 'lib', 'recovery-writer.mjs');
const OPENER = join(BENCH_DIR, 'lib', 'recovery-open.mjs');

function runWriter(dir, bulkMiB, scenario) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(bulkMiB), scenario], { stdio: ['ignore', 'pipe', 'inherit'] });
    const info = { scenario, lastAcked: -1, phases: {} };
    let killedAt = null;
    const kill = () => {
      if (killedAt === null) {
        killedAt = Date.now();
        child.kill('SIGKILL');
      }
    };
    const safety = setTimeout(() => {
      kill();
      reject(new Error(`recovery writer (${scenario}) did not finish in time`));
    }, 300_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.acked !== undefined) {
        if (msg.acked > info.lastAcked) info.lastAcked = msg.acked;
        return;
      }
      info.phases[msg.phase] = msg;
      if (msg.phase === 'acked') info.lastAcked = msg.lastAcked;
      if (msg.phase === 'waiting') kill();
      if (msg.phase === 'busy') setTimeout(kill, envInt('RECOVERY_BUSY_MS', 200));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(safety);
      if (signal !== 'SIGKILL') {
        reject(new Error(`recovery writer (${scenario}) exited with ${code ?? signal} before being killed`));
        return;
      }
      info.signal = signal;
      resolve(info);
    });
  });
}

function runOpener(dir, lastAcked) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [OPENER, dir, String(lastAcked)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => {
      const processMs = Number(process.hrtime.bigint() - start) / 1e6;
      try {
        resolve({ ...JSON.parse(out.trim().split('\n').pop()), processMs });
      } catch (error) {
        reject(new Error(`recovery opener printed no result: ${out} (${error.message})`));
      }
    });
  });
}

function dropCaches() {
  syncAll();
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** Bytes recovery rescans: every segment from the one holding the checkpointed recovery point. */
function rescannedBytes(segments, checkpoint) {
  let from = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i].baseOffset <= checkpoint) from = i;
  return segments.slice(from).reduce((a, s) => a + s.sizeBytes, 0);
}

function checkAcked(open, lastAcked) {
  const expected = lastAcked + 1;
  return { ok: open.logEndOffset >= expected && open.lastAckedReadable, extra: open.logEndOffset - expected };
}

/**
 * One cycle: a fresh directory, the writer killed, then the first open (the
 * one that recovers, and syncs what it recovered) and one repeat open.
 */
async function cycle(scenario, bulkMiB, cold) {
  const dir = scratchDir(`recovery-${scenario}`);
  try {
    syncAll();
    const writer = await runWriter(dir, bulkMiB, scenario);
    if (cold && !dropCaches()) throw new Error('GREGOR_BENCH_RECOVERY_COLD needs root (drop_caches)');
    const first = await runOpener(dir, writer.lastAcked);
    const repeat = await runOpener(dir, writer.lastAcked);
    const checkpoint = writer.phases.checkpointed?.checkpoint ?? 0;
    return {
      writer,
      checkpoint,
      first,
      repeat,
      rescanned: rescannedBytes(first.segments, checkpoint),
      acked: checkAcked(first, writer.lastAcked),
      consistent: repeat.logEndOffset === first.logEndOffset,
    };
  } finally {
    removeDir(dir);
  }
}

export async function benchRecovery() {
  const bulkMiB = envInt('RECOVERY_MIB', 2304); // 2.25 GiB: three 1 GiB segments
  const scenarios = (process.env.GREGOR_BENCH_RECOVERY_SCENARIOS || 'flushed-quiet,flushed-busy,unflushed').split(',').map((s) => s.trim());
  const cold = envFlag('RECOVERY_COLD');
  const results = [];
  const load = [loadAverage()];
  for (const scenario of scenarios) {
    const cycles = [];
    for (let t = 0; t < TRIALS; t++) {
      log(`recovery: ${scenario} ${t + 1}/${TRIALS}: writing ${bulkMiB} MiB, SIGKILL, reopen`);
      cycles.push(await cycle(scenario, bulkMiB, cold));
    }
    results.push({
      scenario,
      bulkMiB,
      cycles,
      openMs: summarize(cycles.map((c) => c.first.totalMs)),
      managerOpenMs: summarize(cycles.map((c) => c.first.managerOpenMs)),
      openLogMs: summarize(cycles.map((c) => c.first.openLogMs)),
      processMs: summarize(cycles.map((c) => c.first.processMs)),
      repeatOpenMs: summarize(cycles.map((c) => c.repeat.totalMs)),
      sizeBytes: summarize(cycles.map((c) => c.first.sizeBytes)),
      segments: summarize(cycles.map((c) => c.first.segments.length)),
      rescannedBytes: summarize(cycles.map((c) => c.rescanned)),
      truncatedBytes: summarize(cycles.map((c) => c.first.recoveredTruncatedBytes)),
      unackedRecords: summarize(cycles.map((c) => c.acked.extra)),
      allAckedPresent: cycles.every((c) => c.acked.ok),
      allConsistent: cycles.every((c) => c.consistent),
      exactMatches: cycles.filter((c) => c.acked.extra === 0).length,
      previousShutdownClean: cycles.some((c) => c.first.previousShutdownClean),
    });
  }
  load.push(loadAverage());
  return { results, load, settings: { bulkMiB, trials: TRIALS, cold } };
}

export function recoveryMarkdown(rec, { targetMs = 1000 } = {}) {
  const out = [];
  const n = rec.settings.trials;
  out.push(
    `Each of ${n} cycles per scenario: a child process writes ${fmt(rec.settings.bulkMiB)} MiB of 1 MiB batches (1 KiB records) into one partition of a fresh directory ` +
      '(segment.bytes 1 GiB, the default, so the log rolls), with LogManager checkpointIntervalMs 1000, and is SIGKILLed; then a fresh process times ' +
      '`LogManager.open` + `openLog` (the first open recovers: rescans from the checkpointed recovery point, truncates a torn tail, rebuilds indexes and fsyncs what it kept), ' +
      'checks the log end against the last offset the child reported acknowledged, reads that offset back, and SIGKILLs itself; a second open of the same directory is timed too ("repeat"). ' +
      (rec.settings.cold ? 'The page cache was dropped before each first open (the machine-reboot case). ' : 'The page cache still holds the files, as after a process crash. ') +
      '"process" is the opener\'s spawn-to-exit, Node start-up included.',
  );
  out.push('');
  out.push(
    table(
      ['scenario', 'log', 'rescanned', 'first open + openLog ms', 'process ms', 'repeat open ms', 'recoveredTruncatedBytes', 'logEndOffset vs last acked', `target < ${fmt(targetMs)} ms`],
      rec.results.map((r) => [
        r.scenario,
        `${fmtAuto(r.sizeBytes.median / 2 ** 30)} GiB, ${fmt(r.segments.median)} segments`,
        `${fmt(r.rescannedBytes.median / MiB)} MiB`,
        fmtStat(r.openMs),
        fmtStat(r.processMs),
        fmtStat(r.repeatOpenMs),
        r.truncatedBytes.max === 0 ? '0 in every cycle' : `${fmtStat(r.truncatedBytes)} (torn write at the kill)`,
        `${r.allAckedPresent ? `every acked record present and readable (${r.exactMatches}/${n} exactly last acked + 1; at most ${fmt(r.unackedRecords.max)} records written whose ack was not seen)` : '✘ ACKED RECORDS MISSING'}${r.allConsistent ? '' : '; repeat open disagrees!'}`,
        r.openMs.median < targetMs ? `**met**${r.openMs.max >= targetMs ? ` (max ${fmt(r.openMs.max)} ms)` : ''}` : '**missed**',
      ]),
    ),
  );
  out.push('');
  for (const r of rec.results) {
    const p = r.cycles[r.cycles.length - 1].writer.phases;
    out.push(
      `- ${r.scenario}: LogManager.open ${fmtAuto(r.managerOpenMs.median)} ms + openLog ${fmtAuto(r.openLogMs.median)} ms (medians of first opens); ` +
        `the writer's last cycle: bulk ${fmt(p.bulk?.ms)} ms${p.flushed ? `, flush ${fmt(p.flushed.ms)} ms` : ''}, checkpointed recovery point ${fmt(r.cycles[r.cycles.length - 1].checkpoint)}; previousShutdownClean=${r.previousShutdownClean}`,
    );
  }
  out.push(`- Load average before / after: ${rec.load.join(' / ')}`);
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(recoveryMarkdown(await benchRecovery()));
}
