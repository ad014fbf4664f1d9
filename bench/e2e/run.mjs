#!/usr/bin/env node
// End-to-end benchmark: Gregor against librdkafka's in-memory mock cluster,
// both driven by the same librdkafka load generator (bench/e2e/loadgen.c).
//
//   node bench/e2e/run.mjs            (about 5-6 minutes on 2 cores)
//
// In one go:
//   1. machine limits: iperf3 loopback bandwidth, dd sequential write into the
//      data directory (page cache, and with conv=fdatasync);
//   2. for each case, runs against the mock and against Gregor, interleaved
//      (the order alternates from run to run), GREGOR_E2E_RUNS times:
//        produce 100 B acks=1, produce 1 KiB acks=1, produce 1 KiB acks=all,
//        consume 1 KiB from the page cache (librdkafka consumer, and a raw
//        Fetch client that shows what the broker serves when the client costs
//        almost nothing), produce latency at a fixed rate;
//   3. strace -c -f on the broker during one consume run (is sendfile used?);
//   4. perf record of a second broker (node --perf-basic-prof) during one
//      produce run of each size, then during one latency run: where the
//      broker's CPU goes.
// Prints markdown tables (medians, the same-run Gregor/mock ratios, and the
// targets), and writes them with the raw runs to bench/e2e/results/.
//
// Settings (environment):
//   GREGOR_E2E_RUNS            runs of each case per target (5)
//   GREGOR_E2E_CASES           comma-separated subset of p100,p1k,p1kall,c1k,raw1k,lat
//   GREGOR_E2E_PARTITIONS      partitions of every topic (4)
//   GREGOR_E2E_P100_RECORDS    records per 100 B produce run (2000000)
//   GREGOR_E2E_P1K_RECORDS     records per 1 KiB produce run (1000000)
//   GREGOR_E2E_CONSUME_RECORDS 1 KiB records read per consume run (1000000)
//   GREGOR_E2E_LAT_MBPS        latency case rate in MB/s (50)
//   GREGOR_E2E_LAT_SECONDS     latency case measured seconds (8, after 1 s warm-up)
//   GREGOR_E2E_DD_MB           dd size in MiB (1024)
//   GREGOR_E2E_DIR             data directory (bench/e2e/.data)
//   GREGOR_E2E_PERF=0          skip the perf profile;  GREGOR_E2E_STRACE=0 skip strace
//   GREGOR_E2E_NO_INSTALL=1    do not apt-get install missing tools
//   GREGOR_E2E_KEEP_DATA=1     keep the broker's data directory
//   GREGOR_E2E_SYNC=0          do not run sync(1) before each measurement
//   GREGOR_E2E_SNAPSHOT=0      run the broker from the work tree instead of a
//                              copy of dist/ and the addon in bench/e2e/.build/broker
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const LOADGEN_SRC = join(HERE, 'loadgen.c');
const LOADGEN = join(HERE, '.build', 'loadgen');
const SNAPSHOT = join(HERE, '.build', 'broker');
let BROKER_MAIN = join(REPO, 'dist', 'cli', 'main.js');

function envNum(name, fallback) {
  const raw = process.env[`GREGOR_E2E_${name}`];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`GREGOR_E2E_${name}=${raw} is not a non-negative number`);
  return v;
}
const envOn = (name, fallback = true) => {
  const raw = process.env[`GREGOR_E2E_${name}`];
  if (raw === undefined || raw === '') return fallback;
  return !['0', 'false', 'no'].includes(raw.toLowerCase());
};

const RUNS = Math.max(1, envNum('RUNS', 5));
const PARTS = Math.max(1, envNum('PARTITIONS', 4));
const P100_RECORDS = envNum('P100_RECORDS', 2_000_000);
const P1K_RECORDS = envNum('P1K_RECORDS', 1_000_000);
const CONSUME_RECORDS = envNum('CONSUME_RECORDS', 1_000_000);
const LAT_MBPS = envNum('LAT_MBPS', 50);
const LAT_SECONDS = envNum('LAT_SECONDS', 8);
const DD_MB = envNum('DD_MB', 1024);
const DATA_ROOT = resolve(process.env.GREGOR_E2E_DIR || join(HERE, '.data'));
const MOCK_CONSUME_RECORDS = 100_000; // the mock keeps ~5 MB per partition anyway

const t_start = Date.now();
const log = (...a) => console.error(`[e2e ${((Date.now() - t_start) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ helpers

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensureTools() {
  const need = [];
  if (!existsSync('/usr/include/librdkafka/rdkafka_mock.h')) need.push('librdkafka-dev');
  if (!have('iperf3')) need.push('iperf3');
  if (!have('strace')) need.push('strace');
  if (!have('perf') && envOn('PERF')) need.push('linux-perf');
  if (!have('cc')) need.push('gcc');
  if (need.length === 0) return;
  if (!envOn('NO_INSTALL', false) && process.getuid?.() === 0) {
    log(`installing ${need.join(' ')} with apt-get`);
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    spawnSync('apt-get', ['install', '-y', '-qq', ...need], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } else {
    log(`missing: ${need.join(' ')} (apt-get update && apt-get install -y ${need.join(' ')})`);
  }
}

function buildLoadgen() {
  mkdirSync(dirname(LOADGEN), { recursive: true });
  if (existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs >= statSync(LOADGEN_SRC).mtimeMs) return;
  log('building loadgen');
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', LOADGEN, LOADGEN_SRC, '-lrdkafka'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cc failed: is librdkafka-dev installed?');
}

function ensureBroker() {
  const native = join(REPO, 'build', 'Release', 'gregor_native.node');
  if (!existsSync(BROKER_MAIN) || !existsSync(native)) {
    log('building the broker (npm run build)');
    const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run build failed');
  }
  const git = (args) => (spawnSync('git', ['-C', REPO, ...args], { encoding: 'utf8' }).stdout || '').trim();
  const info = {
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirtyFiles: git(['status', '--porcelain', '--untracked-files=no']).split('\n').filter(Boolean).length,
    distBuilt: statSync(BROKER_MAIN).mtime.toISOString(),
    snapshot: false,
  };
  // The work tree is shared: copy the built broker (dist/ and the addon) so
  // that a rebuild by someone else during the run cannot change what is measured.
  if (envOn('SNAPSHOT')) {
    rmSync(SNAPSHOT, { recursive: true, force: true });
    mkdirSync(join(SNAPSHOT, 'build', 'Release'), { recursive: true });
    cpSync(join(REPO, 'dist'), join(SNAPSHOT, 'dist'), { recursive: true });
    cpSync(native, join(SNAPSHOT, 'build', 'Release', 'gregor_native.node'));
    cpSync(join(REPO, 'package.json'), join(SNAPSHOT, 'package.json'));
    symlinkSync(join(REPO, 'node_modules'), join(SNAPSHOT, 'node_modules'));
    BROKER_MAIN = join(SNAPSHOT, 'dist', 'cli', 'main.js');
    info.snapshot = true;
  }
  return info;
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** utime+stime of a whole process (all threads), in seconds. */
function procCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, 100 Hz
  } catch {
    return NaN;
  }
}

/** Busy CPU-seconds of the whole machine so far (all cores). */
function machineBusy() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] || 0);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - idle) / 100;
}

function run(cmd, args, { timeoutMs = 120_000, input } = {}) {
  return new Promise((res) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const fmtInt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

// ------------------------------------------------------------ machine facts

function machineInfo() {
  const cpu = os.cpus();
  const rdk = (spawnSync('sh', ['-c', "dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null"], { encoding: 'utf8' }).stdout || '').trim();
  const fs = (spawnSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', DATA_ROOT], { encoding: 'utf8' }).stdout || '').trim();
  return {
    cpu: `${cpu.length} x ${cpu[0]?.model ?? '?'}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    librdkafka: rdk,
    dataDir: DATA_ROOT,
    dataFs: fs,
    loadavgStart: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

async function iperf() {
  if (!have('iperf3')) return { error: 'iperf3 not installed' };
  const port = await freePort();
  const server = spawn('iperf3', ['-s', '-1', '-p', String(port)], { stdio: 'ignore' });
  await sleep(400);
  const r = await run('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', '3', '-J'], { timeoutMs: 20_000 });
  server.kill('SIGTERM');
  try {
    const j = JSON.parse(r.stdout);
    return { gbitPerS: j.end.sum_received.bits_per_second / 1e9, gbPerS: j.end.sum_received.bits_per_second / 8e9 };
  } catch {
    return { error: r.stderr.slice(0, 200) || 'unparsable iperf3 output' };
  }
}

function dd(dir) {
  const file = join(dir, 'dd.bin');
  const once = (extra) => {
    const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${DD_MB}`, ...extra], { encoding: 'utf8' });
    const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(r.stderr);
    rmSync(file, { force: true });
    return m ? Number(m[1]) / Number(m[2]) / 1e6 : NaN;
  };
  const pageCache = once([]);
  const fdatasync = once(['conv=fdatasync']);
  return { pageCacheMBps: pageCache, fdatasyncMBps: fdatasync };
}

// ----------------------------------------------------------------- targets

class Gregor {
  constructor(dir, extraNodeArgs = []) {
    this.dir = dir;
    this.extraNodeArgs = extraNodeArgs;
  }
  async start() {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freePort();
    this.bootstrap = `127.0.0.1:${this.port}`;
    this.proc = spawn(
      process.execPath,
      [...this.extraNodeArgs, BROKER_MAIN, 'broker', '--override', `log.dirs=${this.dir}`, '--override', `listeners=PLAINTEXT://${this.bootstrap}`],
      // cwd: node --perf-basic-prof leaves an isolate-*-v8.log in it
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.dir },
    );
    this.pid = this.proc.pid;
    this.stderrTail = '';
    this.exited = null;
    this.proc.on('exit', (code, signal) => (this.exited = { code, signal }));
    await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`Gregor did not start: ${this.stderrTail}`)), 30_000);
      this.proc.stderr.on('data', (d) => {
        this.stderrTail = (this.stderrTail + d).slice(-4000);
        if (this.stderrTail.includes('Gregor broker started')) {
          clearTimeout(timer);
          res();
        }
      });
      this.proc.on('exit', () => {
        clearTimeout(timer);
        rej(new Error(`Gregor exited at start: ${this.stderrTail}`));
      });
    });
  }
  async createTopic(topic) {
    const r = await run(LOADGEN, ['create', '-q', '-b', this.bootstrap, '-t', topic, '-p', String(PARTS)], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`create ${topic} on Gregor failed: ${r.stderr}`);
  }
  async deleteTopic(topic) {
    const r = await run(LOADGEN, ['delete', '-q', '-b', this.bootstrap, '-t', topic], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`delete ${topic} on Gregor failed: ${r.stderr}`);
  }
  async stop() {
    if (!this.proc || this.exited) return this.exited;
    const done = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    const r = await done;
    clearTimeout(timer);
    return r;
  }
}

class Mock {
  async start() {
    this.proc = spawn(LOADGEN, ['mock-serve', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.proc.pid;
    this.lines = createInterface({ input: this.proc.stdout });
    this.waiters = [];
    this.lines.on('line', (line) => this.waiters.shift()?.(line));
    this.proc.stderr.on('data', (d) => (this.stderrTail = ((this.stderrTail ?? '') + d).slice(-4000)));
    const first = await this.next(10_000);
    if (!first.startsWith('BOOTSTRAP ')) throw new Error(`mock-serve said: ${first}`);
    this.bootstrap = first.slice('BOOTSTRAP '.length).trim();
  }
  next(timeoutMs) {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error('mock-serve did not answer')), timeoutMs);
      this.waiters.push((line) => {
        clearTimeout(timer);
        res(line);
      });
    });
  }
  async createTopic(topic) {
    const answer = this.next(10_000);
    this.proc.stdin.write(`create ${topic} ${PARTS}\n`);
    const line = await answer;
    if (!line.startsWith('ok ')) throw new Error(`mock create ${topic}: ${line}`);
  }
  async stop() {
    this.proc.stdin.end('quit\n');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await new Promise((res) => this.proc.on('exit', res));
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------- cases

const CASES = [
  { id: 'p100', label: 'produce 100 B, acks=1', kind: 'produce', size: 100, acks: '1', records: P100_RECORDS },
  { id: 'p1k', label: 'produce 1 KiB, acks=1', kind: 'produce', size: 1024, acks: '1', records: P1K_RECORDS },
  { id: 'p1kall', label: 'produce 1 KiB, acks=all', kind: 'produce', size: 1024, acks: 'all', records: P1K_RECORDS },
  { id: 'c1k', label: 'consume 1 KiB from page cache (librdkafka)', kind: 'consume', size: 1024, records: CONSUME_RECORDS },
  { id: 'raw1k', label: 'consume 1 KiB from page cache (raw Fetch client)', kind: 'rawfetch', size: 1024, records: CONSUME_RECORDS },
  { id: 'lat', label: `produce latency, 1 KiB at ${LAT_MBPS} MB/s, acks=1`, kind: 'latency', size: 1024, acks: '1' },
];

const SELECTED = (() => {
  const raw = process.env.GREGOR_E2E_CASES;
  if (!raw) return CASES;
  const ids = raw.split(',').map((x) => x.trim());
  const unknown = ids.filter((id) => !CASES.some((c) => c.id === id));
  if (unknown.length) throw new Error(`GREGOR_E2E_CASES: unknown case(s) ${unknown.join(', ')}; known: ${CASES.map((c) => c.id).join(', ')}`);
  return CASES.filter((c) => ids.includes(c.id));
})();
const selected = (id) => SELECTED.some((c) => c.id === id);

function loadgenArgs(c, target, topic) {
  const base = ['-q', '-b', target.bootstrap, '-t', topic, '-p', String(PARTS)];
  switch (c.kind) {
    case 'produce':
      return ['produce', ...base, '-n', String(c.records), '-s', String(c.size), '-a', c.acks];
    case 'latency':
      return ['latency', ...base, '-s', String(c.size), '-a', c.acks, '-r', String(LAT_MBPS), '-d', String(LAT_SECONDS), '-w', '1'];
    case 'consume':
    case 'rawfetch': {
      const args = [c.kind, ...base, '-n', String(c.records), '-s', String(c.size)];
      if (target.name === 'mock') args.push('-L'); // the mock keeps ~5 MB per partition: re-read it
      return args;
    }
    default:
      throw new Error(c.kind);
  }
}

async function measure(c, target, topic) {
  // Start every measurement with no dirty pages left by the previous one, so
  // that its writeback does not run (as "others") during the next run.
  if (envOn('SYNC')) spawnSync('sync');
  const cpu0 = procCpu(target.pid);
  const busy0 = machineBusy();
  const t0 = Date.now();
  const timeoutMs = c.kind === 'latency' ? (LAT_SECONDS + 60) * 1000 : 180_000;
  const r = await run(LOADGEN, loadgenArgs(c, target, topic), { timeoutMs });
  const wall = (Date.now() - t0) / 1000;
  const brokerCpu = procCpu(target.pid) - cpu0;
  const busy = machineBusy() - busy0;
  let result;
  try {
    result = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    result = null;
  }
  if (r.code !== 0 || !result) {
    const why = r.timedOut ? 'timed out' : `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}`;
    log(`!! ${c.id} on ${target.name} ${why}: ${r.stderr.slice(-600)}`);
    if (target.exited) log(`!! ${target.name} exited: ${JSON.stringify(target.exited)} ${target.stderrTail ?? ''}`);
    return { error: why, stderr: r.stderr.slice(-2000), result };
  }
  const clientCpu = result.client_cpu_s;
  return {
    ...result,
    broker_cpu_s: brokerCpu,
    wall_s: wall,
    // CPU-seconds used by everything else on the machine during the run
    other_cpu_s: Math.max(0, busy - brokerCpu - (Number.isFinite(clientCpu) ? clientCpu : 0)),
  };
}

/** Payload bytes a run moved (for the broker's CPU-seconds per GB). */
function payloadBytes(c, m) {
  if (!m || m.error) return NaN;
  if (c.kind === 'latency') return m.measured_mb_per_s * 1e6 * (LAT_SECONDS + 1); // the warm-up second counts for the CPU
  if (c.kind === 'consume') return m.bytes;
  return m.records * (m.size ?? c.size);
}

function primary(c, m) {
  if (!m || m.error) return NaN;
  if (c.kind === 'latency') return m.p99_ms;
  return m.mb_per_s;
}

// --------------------------------------------------------------- main flow

/** Reads a topic back from Gregor and checks every record (offsets, length, payload). */
async function verifyTopic(gregor, topic, size, expected) {
  const r = await run(LOADGEN, ['consume', '-q', '-V', '-b', gregor.bootstrap, '-t', topic, '-p', String(PARTS), '-s', String(size), '-n', String(expected + 1)], {
    timeoutMs: 180_000,
  });
  let j = null;
  try {
    j = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {}
  const ok = r.code === 0 && j && j.records === expected && j.available === expected && j.verify_errors === 0 && j.errors === 0;
  const v = { topic, expected, ok, records: j?.records, available: j?.available, verify_errors: j?.verify_errors, stderr: ok ? '' : r.stderr.slice(-1500) };
  if (!ok) log(`!! verification of ${topic} failed: ${JSON.stringify(v)}`);
  return v;
}

async function straceConsume(gregor, topic) {
  if (!have('strace')) return { error: 'strace not installed' };
  const out = join(DATA_ROOT, `strace-${process.pid}.txt`);
  const tracer = spawn('strace', ['-c', '-f', '-p', String(gregor.pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  tracer.stderr.on('data', (d) => (err += d));
  await sleep(1500); // attach to every thread
  const c = CASES.find((x) => x.id === 'c1k');
  const m = await measure(c, { ...gregor, name: 'gregor' }, topic);
  const exited = new Promise((res) => tracer.on('exit', res));
  tracer.kill('SIGINT');
  await exited;
  const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
  rmSync(out, { force: true });
  const lines = text.split('\n');
  const header = lines.filter((l) => /% time|^-+/.test(l)).slice(0, 2);
  const pick = lines.filter((l) => /\b(sendfile|sendmsg|writev|write|sendto|pwrite64|read|recvfrom|readv|epoll_wait|total)\s*$/.test(l));
  return { table: [...header, ...pick].join('\n'), full: text, consume: m, strace_stderr: err.slice(-500) };
}

async function perfProfile(dir) {
  if (!have('perf')) return { error: 'perf not installed' };
  const g = new Gregor(join(dir, 'gregor-perf'), ['--perf-basic-prof']);
  await g.start();
  g.name = 'gregor';
  const data = join(dir, 'perf.data');
  const report = (sort) =>
    (spawnSync('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '--percent-limit', '1', '--sort', sort], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }).stdout || '')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .slice(0, 25)
      .join('\n');
  // One recording per phase: the throughput cases, then the latency case.
  const phase = async (cases) => {
    for (const [c, topic] of cases) await g.createTopic(topic);
    const rec = spawn('perf', ['record', '-F', '1999', '-g', '-p', String(g.pid), '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    rec.stderr.on('data', (d) => (err += d));
    await sleep(1000);
    const runs = [];
    for (const [c, topic] of cases) runs.push({ label: c.label, ...(await measure(c, g, topic)) });
    const exited = new Promise((res) => rec.on('exit', res));
    rec.kill('SIGINT');
    await exited;
    const out = { runs, byThread: report('pid'), byDso: report('pid,dso'), bySym: report('sym'), stderr: err.slice(-300) };
    rmSync(data, { force: true });
    return out;
  };
  const throughput = await phase([
    [CASES[0], 'perf-100'],
    [CASES[1], 'perf-1k'],
  ]);
  const latency = await phase([[CASES.find((c) => c.id === 'lat'), 'perf-lat']]);
  await g.stop();
  rmSync(`/tmp/perf-${g.pid}.map`, { force: true });
  return { throughput, latency };
}

async function main() {
  ensureTools();
  buildLoadgen();
  const brokerBuild = ensureBroker();
  const dir = join(DATA_ROOT, `run-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const report = { settings: { RUNS, PARTS, P100_RECORDS, P1K_RECORDS, CONSUME_RECORDS, LAT_MBPS, LAT_SECONDS, DD_MB }, machine: machineInfo(), brokerBuild };

  log('iperf3 loopback');
  report.iperf = await iperf();
  log('dd sequential write');
  report.dd = dd(dir);

  const gregor = new Gregor(join(dir, 'gregor'));
  await gregor.start();
  gregor.name = 'gregor';
  const mock = new Mock();
  await mock.start();
  mock.name = 'mock';
  log(`Gregor pid ${gregor.pid} at ${gregor.bootstrap}; mock pid ${mock.pid} at ${mock.bootstrap}`);

  // Data for the consume cases: written once, then read from the page cache.
  const filled = selected('c1k') || selected('raw1k');
  if (filled) {
    const fill = { kind: 'produce', size: 1024, acks: '1' };
    await gregor.createTopic('consume-1k');
    await mock.createTopic('consume-1k');
    log(`filling consume-1k: ${CONSUME_RECORDS} records on Gregor, ${MOCK_CONSUME_RECORDS} on the mock`);
    report.fill = {
      gregor: await measure({ ...fill, records: CONSUME_RECORDS }, gregor, 'consume-1k'),
      mock: await measure({ ...fill, records: Math.min(CONSUME_RECORDS, MOCK_CONSUME_RECORDS) }, mock, 'consume-1k'),
    };
  }

  report.verify = [];
  const runs = Object.fromEntries(SELECTED.map((c) => [c.id, { mock: [], gregor: [] }]));
  for (let r = 0; r < RUNS; r++) {
    for (const c of SELECTED) {
      const order = r % 2 === 0 ? [mock, gregor] : [gregor, mock];
      for (const target of order) {
        let topic = 'consume-1k';
        if (c.kind === 'produce' || c.kind === 'latency') {
          topic = `${c.id}-r${r}`;
          await target.createTopic(topic);
        }
        const m = await measure(c, target, topic);
        runs[c.id][target.name].push(m);
        if (target === gregor && topic !== 'consume-1k') {
          // Check the data of the last run's produce cases, then delete every
          // topic written: this VM's page-cache writes get several times
          // slower once the page cache passes ~5 GB (see RESULTS.md), so the
          // broker's data is kept small.
          if (r === RUNS - 1 && c.kind === 'produce') report.verify.push(await verifyTopic(gregor, topic, c.size, c.records));
          await gregor.deleteTopic(topic);
        }
        const p = primary(c, m);
        log(
          `run ${r + 1}/${RUNS} ${c.id.padEnd(6)} ${target.name.padEnd(6)} ` +
            (c.kind === 'latency'
              ? `p50 ${fmt(m.p50_ms, 2)} p99 ${fmt(p, 2)} p99.9 ${fmt(m.p999_ms, 2)} ms at ${fmt(m.measured_mb_per_s)} MB/s`
              : `${fmt(p)} MB/s ${fmtInt(m.rec_per_s)} rec/s`) +
            ` broker cpu ${fmt(m.broker_cpu_s, 2)} s, client cpu ${fmt(m.client_cpu_s, 2)} s, others ${fmt(m.other_cpu_s, 2)} s`,
        );
      }
    }
  }
  report.runs = runs;

  // Correctness of the consume data set too.
  if (filled) report.verify.unshift(await verifyTopic(gregor, 'consume-1k', 1024, CONSUME_RECORDS));

  if (envOn('STRACE') && filled) {
    log('strace -c -f on Gregor during one consume run');
    report.strace = await straceConsume(gregor, 'consume-1k');
  }
  await mock.stop();
  report.gregorExit = await gregor.stop();
  if (report.gregorExit?.code !== 0) log(`!! Gregor exit: ${JSON.stringify(report.gregorExit)} ${gregor.stderrTail}`);

  if (envOn('PERF')) {
    log('perf record of a broker during one produce run of each size and one latency run');
    try {
      report.perf = await perfProfile(dir);
    } catch (e) {
      report.perf = { error: String(e) };
    }
  }
  if (!envOn('KEEP_DATA', false)) rmSync(dir, { recursive: true, force: true });
  report.machine.loadavgEnd = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  report.elapsedSeconds = (Date.now() - t_start) / 1000;

  const md = render(report);
  console.log(md);
  const resultsDir = join(HERE, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(resultsDir, `e2e-${stamp}.md`), md + '\n');
  writeFileSync(join(resultsDir, `e2e-${stamp}.json`), JSON.stringify(report, null, 2));
  log(`wrote bench/e2e/results/e2e-${stamp}.{md,json}`);
}

// ------------------------------------------------------------------ report

function summarizeCase(c, runs) {
  const g = runs.gregor;
  const m = runs.mock;
  const ratios = g.map((x, i) => primary(c, x) / primary(c, m[i]));
  return {
    mock: median(m.map((x) => primary(c, x))),
    gregor: median(g.map((x) => primary(c, x))),
    ratio: median(ratios),
    ratios,
    mockRec: median(m.map((x) => x?.rec_per_s)),
    gregorRec: median(g.map((x) => x?.rec_per_s)),
    mockCpu: median(m.map((x) => x?.broker_cpu_s / (payloadBytes(c, x) / 1e9))),
    gregorCpu: median(g.map((x) => x?.broker_cpu_s / (payloadBytes(c, x) / 1e9))),
    clientCpu: median(g.map((x) => x?.client_cpu_s / (payloadBytes(c, x) / 1e9))),
    others: median([...g, ...m].map((x) => x?.other_cpu_s / x?.wall_s)),
    errors: [...g, ...m].filter((x) => !x || x.error).length,
  };
}

function render(rep) {
  const out = [];
  const M = rep.machine;
  out.push(`## Gregor end-to-end benchmark (${new Date().toISOString()})`, '');
  out.push(`Machine: ${M.cpu}, ${M.memoryGiB} GiB, Linux ${M.kernel}, Node ${M.node}, librdkafka ${M.librdkafka}; data dir ${M.dataFs}.`);
  const B = rep.machine.brokerBuild ?? rep.brokerBuild;
  if (B) out.push(`Broker: commit ${B.commit} with ${B.dirtyFiles} modified tracked file(s), dist built ${B.distBuilt}${B.snapshot ? ', run from a copy in bench/e2e/.build/broker' : ''}.`);
  out.push(`Load average at start ${M.loadavgStart}, at end ${M.loadavgEnd}. Elapsed ${fmt(rep.elapsedSeconds, 0)} s.`);
  out.push(
    `Settings: ${rep.settings.RUNS} runs per case and target, ${rep.settings.PARTS} partitions, ` +
      `${rep.settings.P100_RECORDS} x 100 B / ${rep.settings.P1K_RECORDS} x 1 KiB per produce run, ` +
      `${rep.settings.CONSUME_RECORDS} x 1 KiB per consume run, latency ${rep.settings.LAT_MBPS} MB/s for ${rep.settings.LAT_SECONDS} s.`,
    '',
  );
  out.push('### Machine limits (same run)', '', '| measurement | value |', '| --- | --- |');
  out.push(`| iperf3 loopback TCP, 1 stream, 3 s | ${rep.iperf.error ? rep.iperf.error : `${fmt(rep.iperf.gbitPerS, 1)} Gbit/s (${fmt(rep.iperf.gbPerS, 2)} GB/s)`} |`);
  out.push(`| dd bs=1M count=${rep.settings.DD_MB} to the data dir (page cache) | ${fmt(rep.dd.pageCacheMBps, 0)} MB/s |`);
  out.push(`| dd ... conv=fdatasync | ${fmt(rep.dd.fdatasyncMBps, 0)} MB/s |`, '');

  out.push('### Throughput and latency (medians; ratio = median of the same-run Gregor/mock ratios)', '');
  out.push('| case | mock | Gregor | Gregor/mock | per-run ratios | broker CPU-s per GB, mock / Gregor | client CPU-s per GB (Gregor runs) | cores used by other processes |');
  out.push('| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |');
  const sums = {};
  for (const c of CASES) {
    if (!rep.runs[c.id]) continue;
    const s = summarizeCase(c, rep.runs[c.id]);
    sums[c.id] = s;
    const unit = c.kind === 'latency' ? 'ms p99' : 'MB/s';
    const val = (x, rec) => (c.kind === 'latency' ? `${fmt(x, 2)} ${unit}` : `${fmt(x, 1)} ${unit} (${fmtInt(rec)} rec/s)`);
    out.push(
      `| ${c.label} | ${val(s.mock, s.mockRec)} | ${val(s.gregor, s.gregorRec)} | ${fmt(s.ratio, 2)} | ${s.ratios.map((x) => fmt(x, 2)).join(', ')} | ` +
        `${fmt(s.mockCpu, 2)} / ${fmt(s.gregorCpu, 2)} | ${fmt(s.clientCpu, 2)} | ${fmt(s.others, 2)} |${s.errors ? ` ${s.errors} failed run(s)` : ''}`,
    );
  }
  out.push('');
  const lat = rep.runs.lat ?? { mock: [], gregor: [] };
  if (rep.runs.lat) out.push('Latency detail (ms; medians over runs):', '', '| target | p50 | p90 | p99 | p99.9 | max | achieved MB/s |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const name of rep.runs.lat ? ['mock', 'gregor'] : []) {
    const xs = lat[name];
    const md = (k) => median(xs.map((x) => x?.[k]));
    out.push(`| ${name} | ${fmt(md('p50_ms'), 2)} | ${fmt(md('p90_ms'), 2)} | ${fmt(md('p99_ms'), 2)} | ${fmt(md('p999_ms'), 2)} | ${fmt(md('max_ms'), 1)} | ${fmt(md('measured_mb_per_s'), 1)} |`);
  }
  out.push('');

  out.push('### Targets', '', '| target | measured | met? |', '| --- | --- | --- |');
  const yes = (b) => (b ? 'yes' : '**no**');
  if (sums.p100) out.push(`| produce 100 B >= 90% of the mock | ${fmt(sums.p100.ratio * 100, 0)}% | ${yes(sums.p100.ratio >= 0.9)} |`);
  if (sums.p1k) out.push(`| produce 1 KiB acks=1 >= 90% of the mock | ${fmt(sums.p1k.ratio * 100, 0)}% | ${yes(sums.p1k.ratio >= 0.9)} |`);
  if (sums.p1kall) out.push(`| produce 1 KiB acks=all >= 90% of the mock | ${fmt(sums.p1kall.ratio * 100, 0)}% | ${yes(sums.p1kall.ratio >= 0.9)} |`);
  if (sums.c1k) out.push(`| consume >= 1.5 GB/s from page cache (librdkafka consumer) | ${fmt(sums.c1k.gregor / 1000, 2)} GB/s | ${yes(sums.c1k.gregor >= 1500)} |`);
  if (sums.raw1k) out.push(`| consume >= 1.5 GB/s from page cache (raw Fetch client) | ${fmt(sums.raw1k.gregor / 1000, 2)} GB/s | ${yes(sums.raw1k.gregor >= 1500)} |`);
  if (sums.lat) out.push(`| p99 produce latency at ${LAT_MBPS} MB/s <= 1.5x the mock | ${fmt(sums.lat.gregor, 2)} ms vs ${fmt(sums.lat.mock, 2)} ms = ${fmt(sums.lat.ratio, 2)}x | ${yes(sums.lat.ratio <= 1.5)} |`);
  out.push('');

  if (rep.verify?.length) {
    out.push('### Data check (Gregor)', '');
    out.push(
      'Every record read back with the librdkafka consumer (offsets contiguous from 0, length and payload as produced): ' +
        rep.verify.map((v) => `${v.topic} ${v.ok ? 'ok' : `**FAILED** (${v.records}/${v.expected} records, high watermarks ${v.available}, ${v.verify_errors} bad)`}`).join('; ') +
        '.',
      '',
    );
  }
  if (rep.strace) {
    out.push('### strace -c -f -p <Gregor> during one consume run', '');
    if (rep.strace.error) out.push(rep.strace.error, '');
    else {
      const cm = rep.strace.consume;
      const absent = ['sendfile', 'sendmsg', 'writev'].filter((k) => !new RegExp(`\\b${k}\\s*$`, 'm').test(rep.strace.table));
      out.push(`Consume under strace: ${fmt(cm?.mb_per_s)} MB/s (strace slows every syscall).${absent.length ? ` Not called: ${absent.join(', ')}.` : ''}`, '', '```', rep.strace.table, '```', '');
    }
  }
  if (rep.perf) {
    out.push('### perf record -F 1999 -g -p <broker> (a second broker, node --perf-basic-prof)', '');
    if (rep.perf.error) out.push(rep.perf.error, '');
    else {
      for (const [name, ph] of [['produce throughput (100 B run + 1 KiB run)', rep.perf.throughput], ['produce latency run', rep.perf.latency]]) {
        out.push(`#### ${name}`, '');
        out.push(
          'Runs under perf: ' +
            ph.runs
              .map((r) =>
                r.mode === 'latency'
                  ? `${r.label}: p99 ${fmt(r.p99_ms, 2)} ms, broker CPU ${fmt(r.broker_cpu_s, 2)} s`
                  : `${r.label}: ${fmt(r.mb_per_s)} MB/s, broker CPU ${fmt(r.broker_cpu_s, 2)} s`,
              )
              .join('; '),
          '',
        );
        out.push('By thread (tid):', '```', ph.byThread, '```', 'By thread and object:', '```', ph.byDso, '```', 'By symbol, all threads (>= 1%):', '```', ph.bySym, '```', '');
      }
    }
  }
  return out.join('\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
