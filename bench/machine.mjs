// The machine's limits, measured in the same run as the engine's figures so
// that each figure can be reported as a ratio to what the hardware gave at
// that time (this machine is shared and noisy):
//
//   - sequential write into the page cache:   dd if=/dev/zero of=F bs=1M count=N
//   - sequential write + one fdatasync:       dd ... conv=fdatasync
//   - sequential read from the page cache:    dd if=F of=/dev/null bs=1M (file cached)
//   - memory copy:                            Buffer.copy of 64 MiB (and crc32c_bench's memcpy line)
//   - random 16 KiB pread from the page cache through Node (fs.readSync)
//
// Plus the description of the machine: CPU model, kernel, Node version and the
// filesystem of the data directory.
//
// Run alone: node bench/machine.mjs
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  DATA_ROOT,
  MiB,
  TRIALS,
  commandOutput,
  cpuSince,
  cpuSnapshot,
  envInt,
  fmtStat,
  log,
  now,
  scratchDir,
  removeDir,
  secondsSince,
  summarize,
  syncAll,
  table,
} from './lib/util.mjs';

/** Parses dd's closing line ("... copied, 0.44 s, 4.8 GB/s") into bytes and seconds. */
function parseDd(stderr) {
  const match = /(\d+) bytes .* copied, ([\d.]+) s/.exec(stderr);
  if (!match) throw new Error(`cannot parse dd output: ${stderr}`);
  return { bytes: Number(match[1]), seconds: Number(match[2]) };
}

function dd(args) {
  const result = spawnSync('dd', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`dd ${args.join(' ')} failed: ${result.stderr}`);
  const { bytes, seconds } = parseDd(result.stderr);
  return bytes / seconds / 1e6; // MB/s as dd prints it (1e6 bytes)
}

function ioScheduler(dataDir) {
  const source = commandOutput('findmnt', ['-n', '-o', 'SOURCE', '-T', dataDir]);
  if (!source.startsWith('/dev/')) return '';
  const parent = commandOutput('lsblk', ['-no', 'pkname', source]).split('\n')[0];
  const device = parent || source.slice('/dev/'.length);
  return commandOutput('cat', [`/sys/block/${device}/queue/scheduler`]);
}

export function describeMachine(dataDir = DATA_ROOT) {
  const lscpu = commandOutput('lscpu', []);
  const field = (name) => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(lscpu) || [])[1]?.trim();
  const fs = commandOutput('findmnt', ['-n', '-o', 'FSTYPE,SOURCE,OPTIONS', '-T', dataDir]) ||
    commandOutput('df', ['--output=fstype', dataDir]).split('\n').pop();
  return {
    cpuModel: field('Model name') || os.cpus()[0]?.model,
    cpus: os.cpus().length,
    hypervisor: field('Hypervisor vendor') || 'none',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    dataDir,
    filesystem: fs,
    scheduler: ioScheduler(dataDir),
    dirtyRatio: commandOutput('cat', ['/proc/sys/vm/dirty_ratio']),
    dirtyBackgroundRatio: commandOutput('cat', ['/proc/sys/vm/dirty_background_ratio']),
  };
}

/**
 * One dd write of `mib` MiB into `dir` (page cache, or with conv=fdatasync),
 * MB/s; the file is removed afterwards (unsynced pages are dropped unwritten).
 * The benchmarks run one right before each timed trial, so that every engine
 * figure has a limit measured under the same load.
 */
export function ddWriteMBs(dir, mib, { fdatasync = false } = {}) {
  return ddWrite(dir, mib, { fdatasync }).mbs;
}

/** The same, with dd's CPU time: {mbs, seconds, cpuSeconds}. */
export function ddWrite(dir, mib, { fdatasync = false } = {}) {
  const file = join(dir, `dd-${process.pid}.bin`);
  try {
    const before = cpuSnapshot();
    const mbs = dd(['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, ...(fdatasync ? ['conv=fdatasync'] : [])]);
    const cpu = cpuSince(before);
    return { mbs, seconds: (mib * MiB) / 1e6 / mbs, cpuSeconds: cpu.childSeconds };
  } finally {
    rmSync(file, { force: true });
  }
}

export function loadAverage() {
  return os.loadavg().map((v) => v.toFixed(2)).join(' ');
}

export function memcpyGBs(bytes = 64 * MiB) {
  const src = Buffer.allocUnsafe(bytes);
  const dst = Buffer.allocUnsafe(bytes);
  src.fill(0x5a);
  dst.fill(0);
  src.copy(dst); // warm both
  const rounds = 8;
  const start = now();
  for (let i = 0; i < rounds; i++) src.copy(dst);
  return (bytes * rounds) / secondsSince(start) / 1e9;
}

/** Random preads of `blockBytes` from the page-cached file at `path`, ops/s (one synchronous caller). */
export function randomPreadOpsPerSecond(path, fileBytes, blockBytes, count = 100_000) {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(blockBytes);
  const blocks = Math.max(1, Math.floor(fileBytes / blockBytes));
  try {
    for (let i = 0; i < 1000; i++) readSync(fd, buffer, 0, blockBytes, ((i * 7919) % blocks) * blockBytes);
    const start = now();
    let x = 12345;
    for (let i = 0; i < count; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      readSync(fd, buffer, 0, blockBytes, (x % blocks) * blockBytes);
    }
    return count / secondsSince(start);
  } finally {
    closeSync(fd);
  }
}

/**
 * Measures the limits, each TRIALS times; returns {description, limits},
 * limits holding {median, min, max, samples} per figure.
 */
export async function measureMachine({ trials = TRIALS } = {}) {
  const ddMiB = envInt('DD_MIB', 2048);
  const syncMiB = envInt('DD_SYNC_MIB', ddMiB);
  const dir = scratchDir('machine');
  const file = join(dir, 'dd.bin');
  const pageCacheWrite = [];
  const fdatasyncWrite = [];
  const pageCacheRead = [];
  const memcpy = [];
  const randomPread = [];
  try {
    log(`machine: dd ${ddMiB} MiB x ${trials} (page cache, conv=fdatasync, cached read), memcpy 64 MiB`);
    // One untimed run first: the first touch of fresh guest memory is slower.
    dd(['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${Math.min(ddMiB, 512)}`]);
    rmSync(file, { force: true });
    syncAll();
    for (let i = 0; i < trials; i++) {
      pageCacheWrite.push(dd(['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${ddMiB}`]));
      // Cached read of the file just written (its pages are all in memory).
      pageCacheRead.push(dd([`if=${file}`, 'of=/dev/null', 'bs=1M']));
      if (i === 0) randomPread.push(randomPreadOpsPerSecond(file, ddMiB * MiB, 16 * 1024));
      rmSync(file, { force: true }); // drops the dirty pages unwritten
      syncAll();
      fdatasyncWrite.push(dd(['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${syncMiB}`, 'conv=fdatasync']));
      rmSync(file, { force: true });
      memcpy.push(memcpyGBs());
    }
    for (let i = 1; i < trials; i++) {
      // Random pread ops/s on a cached file, measured apart from dd.
      dd(['if=/dev/zero', `of=${file}`, 'bs=1M', `count=256`]);
      randomPread.push(randomPreadOpsPerSecond(file, 256 * MiB, 16 * 1024));
      rmSync(file, { force: true });
    }
  } finally {
    removeDir(dir);
  }
  return {
    description: describeMachine(),
    settings: { ddMiB, syncMiB, trials },
    limits: {
      pageCacheWriteMBs: summarize(pageCacheWrite),
      fdatasyncWriteMBs: summarize(fdatasyncWrite),
      pageCacheReadMBs: summarize(pageCacheRead),
      memcpyGBs: summarize(memcpy),
      randomPread16kOps: summarize(randomPread),
    },
  };
}

export function machineMarkdown(machine, extra = {}) {
  const d = machine.description;
  const L = machine.limits;
  const lines = [];
  lines.push('### Machine');
  lines.push('');
  lines.push(
    table(
      ['what', 'value'],
      [
        ['CPU', `${d.cpuModel} (${d.cpus} cpus, hypervisor: ${d.hypervisor})`],
        ['memory', `${d.memoryGiB} GiB (vm.dirty_ratio ${d.dirtyRatio}%, dirty_background_ratio ${d.dirtyBackgroundRatio}%)`],
        ['kernel', d.kernel],
        ['node', d.node],
        ['data dir', `${d.dataDir} — ${d.filesystem}`],
        ['io scheduler', d.scheduler || 'n/a'],
      ],
    ),
  );
  lines.push('');
  lines.push(`### Machine limits (same run; median (min–max) of ${machine.settings.trials})`);
  lines.push('');
  const rows = [
    [`sequential write, page cache (\`dd bs=1M count=${machine.settings.ddMiB}\`)`, fmtStat(L.pageCacheWriteMBs), 'MB/s'],
    [`sequential write + fdatasync (\`dd bs=1M count=${machine.settings.syncMiB} conv=fdatasync\`)`, fmtStat(L.fdatasyncWriteMBs), 'MB/s'],
    ['sequential read, page cache (`dd of=/dev/null bs=1M`, file cached)', fmtStat(L.pageCacheReadMBs), 'MB/s'],
    ['memcpy (Node `Buffer.copy`, 64 MiB)', fmtStat(L.memcpyGBs), 'GB/s'],
    ['random 16 KiB pread, page cache (Node `fs.readSync`, 1 caller)', fmtStat(L.randomPread16kOps), 'ops/s'],
  ];
  if (extra.nativeMemcpyGBs) rows.push(['memcpy 1 MiB (crc32c_bench, C++)', extra.nativeMemcpyGBs.toFixed(2), 'GB/s']);
  lines.push(table(['limit', 'value', 'unit'], rows));
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const machine = await measureMachine();
  console.log(machineMarkdown(machine));
}
