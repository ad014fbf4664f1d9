// Runs the benchmark suite and prints a markdown report.
//
//   npm run build && npm --prefix bench install     (once: the addon, dist/, and the stores to compare with)
//   node bench/run.mjs                              everything (~12.5 minutes)
//   node bench/run.mjs appends durable              only those parts (the machine limits are measured too)
//   node bench/run.mjs groups                       consumer groups against a broker child process (no dd limits needed)
//   node bench/run.mjs --list                       the parts
//
// The report also goes to bench/results/run-<time>.md, with the raw numbers in
// a .json beside it. Sizes and repetitions come from GREGOR_BENCH_* variables
// (see bench/README.md); scratch data lives in bench/.data (or
// GREGOR_BENCH_DIR) and is deleted afterwards.
import { mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { compareMarkdown, benchCompare } from './compare.mjs';
import { benchGroups, groupsMarkdown } from './groups.mjs';
import { describeMachine, loadAverage, machineMarkdown, measureMachine } from './machine.mjs';
import { benchMicro, microMarkdown } from './micro/codec.mjs';
import { benchCrc32c, benchValidate, benchWritePath, crc32cMarkdown, haveCompiler, validateMarkdown, writePathMarkdown } from './native.mjs';
import { benchRecovery, recoveryMarkdown } from './recovery.mjs';
import { appendsMarkdown, benchAppends, benchDurable, benchReads, durableMarkdown, readsMarkdown } from './storage.mjs';
import { BENCH_DIR, DATA_ROOT, TRIALS, log } from './lib/util.mjs';

const PARTS = {
  appends: 'appends to the page cache: 100 B / 1 KiB records in 16 KiB / 1 MiB batches, 1 and 4 partitions',
  durable: 'durable appends: 64 appenders on 8 partitions, 64 KiB / 256 KiB / 1 MiB batches',
  reads: 'sequential read() / readRegion() MB/s and random offset lookups/s on a multi-segment log',
  compare: 'the same records appended to lmdb, classic-level and better-sqlite3 (page cache and durable)',
  recovery: 'reopen after SIGKILL with ≥ 2 GiB of data',
  'write-path': 'C++: pwrite/pwritev vs mmap+memcpy for the append write',
  validate: "C++: what the append path's batch validation costs per record",
  crc32c: 'C++: bench/native/crc32c_bench.cc',
  micro: 'tinybench: encode/decode, crc32c via N-API, single-call round trips',
  groups: 'consumer groups on a broker child process: join to stable (1/10/50 members), rebalances, kafkajs, OffsetCommit/OffsetFetch requests/s',
};
const NATIVE_PARTS = new Set(['write-path', 'validate', 'crc32c']);

const args = process.argv.slice(2);
if (args.includes('--list') || args.includes('-h') || args.includes('--help')) {
  console.log('usage: node bench/run.mjs [part ...]\n\nparts:');
  for (const [name, what] of Object.entries(PARTS)) console.log(`  ${name.padEnd(11)} ${what}`);
  process.exit(0);
}
const unknown = args.filter((a) => !(a in PARTS) && a !== 'machine');
if (unknown.length > 0) {
  console.error(`unknown part(s): ${unknown.join(', ')}; run with --list`);
  process.exit(2);
}
const selected = args.filter((a) => a in PARTS);
const parts = selected.length > 0 ? selected : Object.keys(PARTS);
// The groups part measures its own limits (a trivial request's rate) in the same run.
const needsMachine = args.includes('machine') || parts.some((p) => !NATIVE_PARTS.has(p) && p !== 'micro' && p !== 'groups');

const startedAt = new Date();
const report = [];
const raw = { startedAt: startedAt.toISOString(), parts, env: {}, results: {} };
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('GREGOR_BENCH_')) raw.env[k] = v;

report.push(`# Gregor storage benchmarks — ${startedAt.toISOString()}`);
report.push('');
report.push(`Command: \`node bench/run.mjs${args.length ? ` ${args.join(' ')}` : ''}\`` + (Object.keys(raw.env).length ? ` with ${Object.entries(raw.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''));
report.push(`Repetitions per figure: ${TRIALS} (median reported). Scratch data: ${DATA_ROOT}.`);
report.push('');

const sections = [];
let machine = null;
let crc = null;
const failures = [];

async function section(name, title, fn) {
  const t0 = Date.now();
  log(`== ${name}`);
  try {
    const text = await fn();
    sections.push(`## ${title}\n\n${text}\n\n_${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s, load average now ${loadAverage()}_`);
  } catch (error) {
    failures.push(name);
    sections.push(`## ${title}\n\n**FAILED**: ${error.stack || error}`);
    console.error(`[bench] ${name} failed:`, error);
  }
}

if (needsMachine) {
  await section('machine', 'Machine and its limits', async () => {
    machine = await measureMachine();
    raw.results.machine = machine;
    return machineMarkdown(machine);
  });
} else {
  raw.results.machine = { description: describeMachine() };
}

const compilerOk = haveCompiler();
for (const part of parts) {
  if (NATIVE_PARTS.has(part) && !compilerOk) {
    sections.push(`## ${part}\n\nSkipped: no g++ on this machine.`);
    continue;
  }
  switch (part) {
    case 'appends':
      await section(part, 'Appends (page cache)', async () => {
        const r = await benchAppends();
        raw.results.appends = r;
        return appendsMarkdown(r);
      });
      break;
    case 'durable':
      await section(part, 'Durable appends (group commit)', async () => {
        const r = await benchDurable();
        raw.results.durable = r;
        return durableMarkdown(r);
      });
      break;
    case 'reads':
      await section(part, 'Reads and offset lookups', async () => {
        const r = await benchReads();
        raw.results.reads = r;
        return readsMarkdown(r, machine);
      });
      break;
    case 'compare':
      await section(part, 'Against lmdb, classic-level and better-sqlite3', async () => {
        const r = await benchCompare();
        raw.results.compare = r;
        return compareMarkdown(r);
      });
      break;
    case 'recovery':
      await section(part, 'Reopen after SIGKILL', async () => {
        const r = await benchRecovery();
        raw.results.recovery = r;
        return recoveryMarkdown(r);
      });
      break;
    case 'write-path':
      await section(part, 'Append write path: pwrite vs mmap (C++)', async () => {
        const r = benchWritePath();
        raw.results.writePath = r;
        return writePathMarkdown(r);
      });
      break;
    case 'validate':
      await section(part, 'Append validation cost (C++, engine code)', async () => {
        const r = benchValidate();
        raw.results.validate = r;
        return validateMarkdown(r);
      });
      break;
    case 'crc32c':
      await section(part, 'CRC-32C (C++)', async () => {
        crc = benchCrc32c();
        raw.results.crc32c = crc;
        return crc32cMarkdown(crc);
      });
      break;
    case 'micro':
      await section(part, 'Micro-benchmarks (tinybench)', async () => {
        const r = await benchMicro();
        raw.results.micro = r;
        return microMarkdown(r);
      });
      break;
    case 'groups':
      await section(part, 'Consumer groups', async () => {
        const r = await benchGroups();
        raw.results.groups = r;
        return groupsMarkdown(r);
      });
      break;
  }
}

report.push(...sections.flatMap((s) => [s, '']));
const seconds = (Date.now() - startedAt.getTime()) / 1000;
report.push(`Total: ${(seconds / 60).toFixed(1)} minutes.${failures.length ? ` Failed parts: ${failures.join(', ')}.` : ''}`);
if (crc?.memcpyGBs && machine) report.push(`(crc32c_bench's memcpy of 1 MiB, in cache: ${crc.memcpyGBs} GB/s.)`);
const text = report.join('\n');
console.log(text);

const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const resultsDir = join(BENCH_DIR, 'results');
try {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `run-${stamp}.md`), `${text}\n`);
  raw.seconds = seconds;
  writeFileSync(join(resultsDir, `run-${stamp}.json`), `${JSON.stringify(raw, null, 1)}\n`);
  log(`report written to bench/results/run-${stamp}.md (+ .json)`);
} catch (error) {
  console.error(`[bench] could not save the report under ${resultsDir}: ${error.message}`);
}

// The scratch directories are removed as each part finishes; drop the root if empty.
try {
  if (readdirSync(DATA_ROOT).length === 0) rmdirSync(DATA_ROOT);
} catch {
  // already gone
}
process.exitCode = failures.length > 0 ? 1 : 0;
