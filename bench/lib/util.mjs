// Shared helpers for the benchmark suite: settings from the environment,
// statistics, formatting, scratch directories and pre-encoded record batches.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { crc32c, decodeRecordBatches, encodeRecordBatch } from '../../dist/index.js';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(BENCH_DIR, '..');

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Integer setting from the environment (GREGOR_BENCH_<NAME>), with a default. */
export function envInt(name, fallback) {
  const raw = process.env[`GREGOR_BENCH_${name}`];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`GREGOR_BENCH_${name}=${raw} is not a non-negative number`);
  return Math.floor(value);
}

/** Comma-separated integer list from the environment. */
export function envList(name, fallback) {
  const raw = process.env[`GREGOR_BENCH_${name}`];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((s) => {
    const v = Number(s.trim());
    if (!Number.isFinite(v) || v <= 0) throw new Error(`GREGOR_BENCH_${name}=${raw}: ${s} is not a positive number`);
    return Math.floor(v);
  });
}

export function envFlag(name, fallback = false) {
  const raw = process.env[`GREGOR_BENCH_${name}`];
  if (raw === undefined || raw === '') return fallback;
  return raw === '1' || raw.toLowerCase() === 'true' || raw.toLowerCase() === 'yes';
}

/** Repetitions of every timed measurement (the median is reported). */
export const TRIALS = Math.max(envInt('TRIALS', 5), 1);

/** Root of the scratch data: on the same filesystem as the repository. */
export const DATA_ROOT = resolve(process.env.GREGOR_BENCH_DIR || join(BENCH_DIR, '.data'));

export function scratchDir(name) {
  const dir = join(DATA_ROOT, `${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Drops the page-cache contents of every .log file under `dir` by truncating
 * it, so that closing the logs afterwards does not spend time writing
 * benchmark data to disk. Only used after the timed part is over.
 */
export function discardLogData(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) discardLogData(path);
    else if (entry.name.endsWith('.log')) truncateSync(path, 0);
  }
}

export function dirBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

// Engine bug workaround: a LogManager's native io pool registers an
// environment cleanup hook on itself that is not removed when the pool is
// garbage-collected, so a process that opened and closed many managers can
// crash at exit (SIGSEGV, or the napi_release_threadsafe_function assertion).
// Keeping every closed manager reachable until exit avoids it.
const retained = [];
export function retain(manager) {
  retained.push(manager);
  return manager;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Writes back all dirty pages so that one measurement does not pay for the previous one. */
export function syncAll() {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/**
 * CPU accounting for a timed region: this process's CPU time (all threads),
 * the CPU time of waited-for children (dd), and how long this process's
 * threads sat runnable but waiting for a CPU (other tenants of this shared
 * machine), from /proc/self/task/<tid>/schedstat.
 */
export function cpuSnapshot() {
  let runqueueNs = 0;
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        runqueueNs += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      } catch {
        // thread exited
      }
    }
  } catch {
    // no /proc
  }
  let childTicks = 0;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    childTicks = Number(f[13]) + Number(f[14]); // cutime + cstime
  } catch {
    // no /proc
  }
  const usage = process.cpuUsage();
  return { selfSeconds: (usage.user + usage.system) / 1e6, childSeconds: childTicks / 100, runqueueSeconds: runqueueNs / 1e9 };
}

export function cpuSince(before) {
  const after = cpuSnapshot();
  return {
    selfSeconds: after.selfSeconds - before.selfSeconds,
    childSeconds: after.childSeconds - before.childSeconds,
    runqueueSeconds: Math.max(0, after.runqueueSeconds - before.runqueueSeconds),
  };
}

export function now() {
  return process.hrtime.bigint();
}
export function secondsSince(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

// ---- statistics --------------------------------------------------------------

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** {median, min, max, samples} of a list of measurements. */
export function summarize(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), samples: values };
}

/** Runs `fn` `trials` times (after `warmup` untimed runs) and summarizes the numbers it returns. */
export async function repeat(trials, fn, { warmup = 0 } = {}) {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out = [];
  for (let i = 0; i < trials; i++) out.push(await fn(i));
  return out;
}

/** Summarizes each numeric field of a list of result objects. */
export function summarizeFields(results) {
  const fields = {};
  for (const key of Object.keys(results[0])) {
    if (typeof results[0][key] === 'number') fields[key] = summarize(results.map((r) => r[key]));
  }
  return fields;
}

// ---- formatting --------------------------------------------------------------

export function fmt(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Picks a sensible number of digits for a figure. */
export function fmtAuto(value) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a';
  const a = Math.abs(value);
  if (a >= 100) return fmt(value, 0);
  if (a >= 10) return fmt(value, 1);
  return fmt(value, 2);
}

export function pct(ratio) {
  if (ratio === undefined || ratio === null || Number.isNaN(ratio)) return 'n/a';
  return `${(ratio * 100).toFixed(0)}%`;
}

/** "median (min–max)" */
export function fmtStat(stat, scale = 1, formatter = fmtAuto) {
  if (!stat) return 'n/a';
  return `${formatter(stat.median / scale)} (${formatter(stat.min / scale)}–${formatter(stat.max / scale)})`;
}

export function sizeLabel(bytes) {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}

export function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

export function log(...args) {
  if (!process.env.GREGOR_BENCH_QUIET) console.error('[bench]', ...args);
}

export function commandOutput(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

// ---- pre-encoded record batches ---------------------------------------------

const randomSource = { buffer: Buffer.alloc(0) };
function randomBytes(n) {
  if (randomSource.buffer.length < n) {
    randomSource.buffer = Buffer.allocUnsafe(Math.max(n, 8 * MiB));
    randomFillSync(randomSource.buffer);
  }
  return randomSource.buffer;
}

/**
 * Number of `recordBytes`-value records that fit one RecordBatch of at most
 * `batchBytes` (header included), for records without headers.
 */
export function recordsPerBatch(recordBytes, batchBytes, keyBytes = 0) {
  // Measure one record's encoded size from a real encoding.
  const probe = (n) =>
    encodeRecordBatch(
      Array.from({ length: n }, () => ({ key: keyBytes ? Buffer.alloc(keyBytes) : null, value: Buffer.alloc(recordBytes) })),
      { timestamp: 0 },
    ).length;
  const one = probe(1);
  const two = probe(2);
  let n = Math.max(1, Math.floor((batchBytes - one) / (two - one)) + 1);
  // Offset deltas grow to two varint bytes past 63: adjust by measuring.
  while (n > 1 && probe(n) > batchBytes) n--;
  return n;
}

/**
 * A pool of distinct RecordBatch v2 buffers, `count` of them, each with
 * `records` records of `recordBytes` random bytes (and, if keyBytes is 8, an
 * 8-byte big-endian sequence key). Built from one template made by
 * encodeRecordBatch: the copies get fresh random values and their own CRC.
 */
export function makeBatchPool({ recordBytes, records, count, keyBytes = 0, timestamp = Date.now() }) {
  const template = encodeRecordBatch(
    Array.from({ length: records }, () => ({ key: keyBytes ? Buffer.alloc(keyBytes) : null, value: Buffer.alloc(recordBytes) })),
    { timestamp },
  );
  const [decoded] = decodeRecordBatches(template);
  const valueOffsets = decoded.records.map((r) => r.value.byteOffset - template.byteOffset);
  const keyOffsets = keyBytes ? decoded.records.map((r) => r.key.byteOffset - template.byteOffset) : [];
  const rand = randomBytes(records * recordBytes + 4096);
  const pool = [];
  let seq = 0;
  for (let b = 0; b < count; b++) {
    const batch = Buffer.allocUnsafe(template.length);
    template.copy(batch);
    const shift = (b * 7919) % 4096;
    for (let i = 0; i < records; i++) {
      const from = shift + i * recordBytes;
      rand.copy(batch, valueOffsets[i], from, from + recordBytes);
      if (keyBytes === 8) batch.writeBigUInt64BE(BigInt(seq), keyOffsets[i]);
      seq++;
    }
    batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
    pool.push(batch);
  }
  return { pool, batchBytes: template.length, records };
}

/** Offset after the last whole batch in `buffer` (as returned by Log.read), or -1 if none. */
export function nextOffsetAfter(buffer) {
  let position = 0;
  let next = -1;
  while (position + 61 <= buffer.length) {
    const size = 12 + buffer.readInt32BE(position + 8);
    if (position + size > buffer.length) break;
    const base = Number(buffer.readBigInt64BE(position));
    next = base + buffer.readInt32BE(position + 23) + 1;
    position += size;
  }
  return next;
}
