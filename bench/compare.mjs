// Gregor against embedded stores appending the same records: lmdb (lmdb-js),
// classic-level (LevelDB) and better-sqlite3 (SQLite), each keyed by an
// increasing sequence with the same random 100-byte / 1 KiB values, in the
// same groups ("batches" of ~16 KiB of records: one transaction / one
// db.batch / one RecordBatch each), with the same durability:
//
//   page cache   Gregor durable:false | lmdb noSync | level sync:false | sqlite WAL, synchronous=OFF
//   durable      Gregor durable:true  | lmdb defaults (await the flush) | level sync:true | sqlite WAL, synchronous=FULL
//
// Every store that has an asynchronous write API gets the same concurrency
// (APPENDERS groups in flight); better-sqlite3 is synchronous, so it writes
// one transaction at a time. Gregor's batches are encoded before timing (a
// broker receives them encoded from producers); a second Gregor row encodes
// them inside the timed loop with encodeRecordBatch.
//
// Needs `npm --prefix bench install`. Run alone: node bench/compare.mjs
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { LogManager, encodeRecordBatch } from '../dist/index.js';
import { loadAverage } from './machine.mjs';
import {
  BENCH_DIR,
  KiB,
  TRIALS,
  discardLogData,
  envInt,
  envList,
  fmt,
  fmtAuto,
  fmtStat,
  log,
  now,
  recordsPerBatch,
  removeDir,
  retain,
  scratchDir,
  secondsSince,
  sizeLabel,
  summarize,
  syncAll,
  table,
} from './lib/util.mjs';

const require = createRequire(join(BENCH_DIR, 'package.json'));

function range(n) {
  return Array.from({ length: n }, (_, i) => i);
}

const MAX_SECONDS = envInt('COMPARE_MAX_MS', 1000) / 1000;

/**
 * Runs write groups 0, 1, ... with `inflight` of them outstanding
 * (`write(g)` returns a Promise) until all `groups` are written or
 * MAX_SECONDS have passed (then no new group starts). Returns how many groups
 * were written: always a prefix 0..n-1.
 */
async function runConcurrent(groups, inflight, write) {
  let next = 0;
  const deadline = now() + BigInt(Math.round(MAX_SECONDS * 1e9));
  await Promise.all(
    range(inflight).map(async () => {
      for (;;) {
        if (now() > deadline) return;
        const g = next++;
        if (g >= groups) return;
        await write(g);
      }
    }),
  );
  return Math.min(next, groups);
}

/** Records in the first `groups` groups. */
function recordsIn(w, groups) {
  return groups === 0 ? 0 : w.groupRange(groups - 1)[1];
}

function keyBuffer(seq) {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(BigInt(seq));
  return k;
}

/** The workload: `records` values of `recordBytes`, in groups of `perGroup`. */
function workload(recordBytes, records, perGroup) {
  const random = Buffer.allocUnsafe(records * recordBytes);
  randomFillSync(random);
  const values = range(records).map((i) => random.subarray(i * recordBytes, (i + 1) * recordBytes));
  const groups = Math.ceil(records / perGroup);
  const groupRange = (g) => [g * perGroup, Math.min(records, (g + 1) * perGroup)];
  const keys = range(records).map(keyBuffer);
  return { recordBytes, records, perGroup, groups, values, keys, groupRange };
}

// ---- the stores -----------------------------------------------------------------

const stores = {
  async gregor(w, { durable, inflight, encodeInLoop }) {
    const dir = scratchDir('cmp-gregor');
    const manager = retain(await LogManager.open(dir));
    try {
      const log = await manager.openLog('cmp-0');
      let batches;
      if (!encodeInLoop) {
        // Same keys (8-byte big-endian sequence) and values as the other stores.
        w.encoded ??= range(w.groups).map((g) => {
          const [from, to] = w.groupRange(g);
          return encodeRecordBatch(range(to - from).map((i) => ({ key: w.keys[from + i], value: w.values[from + i] })));
        });
        batches = w.encoded;
      }
      const start = now();
      const groups = await runConcurrent(w.groups, inflight, (g) => {
        let batch = batches?.[g];
        if (!batch) {
          const [from, to] = w.groupRange(g);
          batch = encodeRecordBatch(range(to - from).map((i) => ({ key: w.keys[from + i], value: w.values[from + i] })));
        }
        return log.append(batch, { durable });
      });
      const seconds = secondsSince(start);
      const written = recordsIn(w, groups);
      if (log.logEndOffset !== written) throw new Error(`gregor: ${log.logEndOffset} records, expected ${written}`);
      return { seconds, written };
    } finally {
      if (!durable) discardLogData(dir);
      await manager.close();
      removeDir(dir);
    }
  },

  async lmdb(w, { durable, inflight }) {
    const { open } = require('lmdb');
    const dir = scratchDir('cmp-lmdb');
    const db = open({ path: join(dir, 'db'), encoding: 'binary', noSync: !durable });
    try {
      const start = now();
      const groups = await runConcurrent(w.groups, inflight, async (g) => {
        const [from, to] = w.groupRange(g);
        await db.transaction(() => {
          for (let i = from; i < to; i++) db.put(i, w.values[i]);
        });
        // With lmdb's default overlappingSync a commit resolves before its
        // flush; a durable write waits for the flush too.
        if (durable) await db.flushed;
      });
      const seconds = secondsSince(start);
      const written = recordsIn(w, groups);
      const count = db.getCount();
      if (count !== written) throw new Error(`lmdb: ${count} entries, expected ${written}`);
      return { seconds, written };
    } finally {
      await db.close();
      removeDir(dir);
    }
  },

  async level(w, { durable, inflight }) {
    const { ClassicLevel } = require('classic-level');
    const dir = scratchDir('cmp-level');
    const db = new ClassicLevel(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    try {
      const keys = w.keys;
      const start = now();
      const groups = await runConcurrent(w.groups, inflight, (g) => {
        const [from, to] = w.groupRange(g);
        const ops = [];
        for (let i = from; i < to; i++) ops.push({ type: 'put', key: keys[i], value: w.values[i] });
        return db.batch(ops, { sync: durable });
      });
      const seconds = secondsSince(start);
      const written = recordsIn(w, groups);
      const last = await db.get(keys[written - 1]);
      if (!last || last.length !== w.recordBytes) throw new Error('level: last record missing');
      const past = written < w.records ? await db.get(keys[written]) : undefined;
      if (past !== undefined) throw new Error('level: a record past the last written group exists');
      return { seconds, written };
    } finally {
      await db.close();
      removeDir(dir);
    }
  },

  async sqlite(w, { durable }) {
    const Database = require('better-sqlite3');
    const dir = scratchDir('cmp-sqlite');
    const db = new Database(join(dir, 'db.sqlite'));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${durable ? 'FULL' : 'OFF'}`);
      db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, value BLOB NOT NULL)');
      const insert = db.prepare('INSERT INTO records (seq, value) VALUES (?, ?)');
      const writeGroup = db.transaction((from, to) => {
        for (let i = from; i < to; i++) insert.run(i, w.values[i]);
      });
      const start = now();
      const deadline = start + BigInt(Math.round(MAX_SECONDS * 1e9));
      let groups = 0;
      while (groups < w.groups && now() <= deadline) {
        const [from, to] = w.groupRange(groups);
        writeGroup(from, to);
        groups++;
      }
      const seconds = secondsSince(start);
      const written = recordsIn(w, groups);
      const { n } = db.prepare('SELECT count(*) AS n FROM records').get();
      if (n !== written) throw new Error(`sqlite: ${n} rows, expected ${written}`);
      return { seconds, written };
    } finally {
      db.close();
      removeDir(dir);
    }
  },
};

function storeVersion(name) {
  try {
    require.resolve(name);
    return JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

const STORES = (process.env.GREGOR_BENCH_COMPARE_STORES || 'gregor,lmdb,level,sqlite').split(',').map((s) => s.trim());

export async function benchCompare() {
  const recordSizes = envList('COMPARE_RECORD_BYTES', [100, 1024]);
  const groupSizes = envList('COMPARE_BATCH_BYTES', [16 * KiB, 256 * KiB]);
  const inflight = envInt('COMPARE_INFLIGHT', 16);
  const counts = { 100: envInt('COMPARE_RECORDS_100', 2_000_000), 1024: envInt('COMPARE_RECORDS_1K', 400_000) };
  const available = {
    gregor: STORES.includes('gregor'),
    lmdb: STORES.includes('lmdb') && storeVersion('lmdb'),
    level: STORES.includes('level') && storeVersion('classic-level'),
    sqlite: STORES.includes('sqlite') && storeVersion('better-sqlite3'),
  };
  const rows = [];
  const load = [loadAverage()];
  for (const recordBytes of recordSizes) {
    const records = counts[recordBytes] ?? envInt('COMPARE_RECORDS', 400_000);
    for (const groupBytes of groupSizes) {
      const perGroup = recordsPerBatch(recordBytes, groupBytes, 8);
      const w = workload(recordBytes, records, perGroup);
      for (const durable of [false, true]) {
        const variants = [
          ['gregor', 'Gregor (batches pre-encoded)', {}],
          ...(groupBytes === groupSizes[0] ? [['gregor', 'Gregor (encodeRecordBatch in the timed loop)', { encodeInLoop: true }]] : []),
          ['lmdb', `lmdb ${available.lmdb}`, {}],
          ['level', `classic-level ${available.level}`, {}],
          ['sqlite', `better-sqlite3 ${available.sqlite}`, {}],
        ];
        for (const [store, label, extra] of variants) {
          if (!STORES.includes(store)) continue;
          const base = { store, label, durable, recordBytes, groupBytes, records, perGroup };
          if (!available[store]) {
            rows.push({ ...base, missing: true });
            continue;
          }
          log(`compare: ${label}, ${recordBytes} B, ${sizeLabel(groupBytes)} groups, ${durable ? 'durable' : 'page cache'}`);
          const rates = [];
          const written = [];
          for (let t = 0; t < TRIALS; t++) {
            syncAll();
            const r = await stores[store](w, { durable, inflight, ...extra });
            rates.push(r.written / r.seconds);
            written.push(r.written);
          }
          rows.push({
            ...base,
            inflight: store === 'sqlite' ? 1 : inflight,
            written: summarize(written),
            recordsPerSec: summarize(rates),
            mbs: summarize(rates.map((r) => (r * recordBytes) / 1e6)),
          });
        }
      }
    }
  }
  load.push(loadAverage());
  return { rows, load, settings: { groupSizes, inflight, trials: TRIALS, counts, maxSeconds: MAX_SECONDS } };
}

export function compareMarkdown(cmp, { target = 10 } = {}) {
  const out = [];
  out.push(
    'Same records for every store: 8-byte increasing sequence key + random value, written in groups (one transaction / db.batch / RecordBatch each) of ' +
      `${cmp.settings.groupSizes.map(sizeLabel).join(' and ')} of records; ${cmp.settings.inflight} groups in flight where the API is asynchronous (better-sqlite3 is synchronous: 1). ` +
      `Each trial writes up to ${fmt(cmp.settings.counts[100])} (100 B) / ${fmt(cmp.settings.counts[1024])} (1 KiB) records into a new store and stops starting groups after ${cmp.settings.maxSeconds} s; ` +
      `records/s = records written / time; MB/s counts value bytes only; median (min–max) of ${cmp.settings.trials}. ` +
      'Page cache: Gregor durable:false, lmdb noSync, level sync:false, SQLite WAL + synchronous=OFF. ' +
      'Durable (every group acknowledged only once on disk): Gregor durable:true, lmdb default (overlappingSync) + await db.flushed, level sync:true, SQLite WAL + synchronous=FULL.',
  );
  out.push('');
  const verdicts = [];
  const keys = [];
  for (const r of cmp.rows) {
    const k = `${r.recordBytes}|${r.groupBytes}|${r.durable}`;
    if (!keys.includes(k)) keys.push(k);
  }
  for (const k of keys) {
    const [recordBytes, groupBytes, durableText] = k.split('|');
    const durable = durableText === 'true';
    const group = cmp.rows.filter((r) => `${r.recordBytes}|${r.groupBytes}|${r.durable}` === k);
    const others = group.filter((r) => r.store !== 'gregor' && !r.missing);
    const best = others.reduce((a, b) => (!a || b.recordsPerSec.median > a.recordsPerSec.median ? b : a), null);
    const gregor = group.find((r) => r.store === 'gregor' && !r.label.includes('timed loop'));
    out.push(`**${durable ? 'Durable' : 'Page cache'}, ${recordBytes}-byte values, groups of ${sizeLabel(Number(groupBytes))} (${group[0].perGroup} records)**`);
    out.push('');
    out.push(
      table(
        ['store', 'records/s', 'MB/s (values)', 'records per trial', 'Gregor ÷ this'],
        group.map((r) =>
          r.missing
            ? [r.label, 'not installed', '', '', '']
            : [
                r.label,
                fmtStat(r.recordsPerSec),
                fmtAuto(r.mbs.median),
                fmt(r.written.median),
                !gregor ? 'n/a' : r === gregor ? '—' : `${(gregor.recordsPerSec.median / r.recordsPerSec.median).toFixed(r.store === 'gregor' ? 2 : 1)}×`,
              ],
        ),
      ),
    );
    out.push('');
    if (best && gregor) {
      const ratio = gregor.recordsPerSec.median / best.recordsPerSec.median;
      verdicts.push(
        `- ${durable ? 'Durable' : 'Page cache'}, ${recordBytes} B values, ${sizeLabel(Number(groupBytes))} groups: Gregor ${fmtAuto(ratio)}× the best other store (${best.label}) — target ≥ ${target}×: **${ratio >= target ? 'met' : 'missed'}**`,
      );
    }
  }
  out.push(...verdicts);
  out.push(`- Load average before / after: ${cmp.load.join(' / ')}`);
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(compareMarkdown(await benchCompare()));
}
