// Compression benchmark: Gregor's own version of the codec comparison in the
// Kafka guides (compression ratio, CPU, speed, bandwidth), on realistic data
// (JSON log lines), measured end to end against a broker child process.
//
//   npm run build                      (dist/ and the addon; the broker runs from dist/)
//   node bench/compression.mjs         (~5 min with the defaults; markdown on stdout)
//
// Three tables:
//
// 1. Codecs as Gregor calls them (one call at a time, asynchronous, as the
//    broker does): ratio = uncompressed records / compressed payload, and
//    compress / decompress MB/s of uncompressed data, per batch size.
// 2. Produce to a broker child process, per codec and mode:
//      produced  the client compresses; the topic stores batches as produced
//                (compression.type=producer, the default): outer CRC only;
//      full      the same with gregor.record.validation=full: every batch is
//                decompressed and its records checked (Kafka's validation);
//      broker    the client sends uncompressed; the topic's compression.type
//                makes the broker compress every batch.
//    Throughput is MB/s of uncompressed record data with INFLIGHT requests
//    pipelined (acks=1, 4 partitions); broker CPU is utime+stime of the broker
//    process per MB of uncompressed data; "wire" is the bytes actually sent.
// 3. Latency at a fixed LATENCY_MBPS (paced, one connection): p50/p99 per
//    request from send to response.
//
// Batches are encoded before timing (a broker receives them encoded), from a
// pool of distinct records. Trials are interleaved across configurations;
// figures are medians with min-max. GREGOR_BENCH_BROKER_DIR runs the broker
// from another built tree (for before/after comparisons of the produce path).
//
// Settings (GREGOR_BENCH_*): TRIALS (3), COMPRESSION_MIB (64: uncompressed
// bytes per produce trial), COMPRESSION_BATCH_BYTES (16384,262144),
// COMPRESSION_CODECS (none,gzip,snappy,lz4,zstd), COMPRESSION_MODES
// (produced,full,broker), COMPRESSION_INFLIGHT (8), COMPRESSION_LATENCY_MBPS
// (10), COMPRESSION_LATENCY_SECONDS (3), COMPRESSION_POOL_MIB (16).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';

import { encodeRecordBatch } from '../dist/index.js';
import { compress, decompress } from '../dist/protocol/compression.js';
import { WireClient } from '../dist/client/wire-client.js';
import { CreateTopicsApi, DeleteTopicsApi, ProduceApi } from '../dist/protocol/generated/index.js';
import { BENCH_DIR, KiB, MiB, REPO_DIR, envInt, envList, fmtAuto, log, median, scratchDir, removeDir, sizeLabel, table } from './lib/util.mjs';

const TRIALS = Math.max(envInt('TRIALS', 3), 1);
const VOLUME_BYTES = envInt('COMPRESSION_MIB', 64) * MiB;
const BATCH_SIZES = envList('COMPRESSION_BATCH_BYTES', [16 * KiB, 256 * KiB]);
const CODECS = (process.env.GREGOR_BENCH_COMPRESSION_CODECS || 'none,gzip,snappy,lz4,zstd').split(',');
const MODES = (process.env.GREGOR_BENCH_COMPRESSION_MODES || 'produced,full,broker').split(',');
const INFLIGHT = Math.max(envInt('COMPRESSION_INFLIGHT', 8), 1);
const LATENCY_MBPS = envInt('COMPRESSION_LATENCY_MBPS', 10);
const LATENCY_SECONDS = envInt('COMPRESSION_LATENCY_SECONDS', 3);
const POOL_BYTES = envInt('COMPRESSION_POOL_MIB', 16) * MiB;
const PARTITIONS = 4;
const CONNECTIONS = 2;
const PRODUCE_VERSION = 9;
const BROKER_DIR = resolve(process.env.GREGOR_BENCH_BROKER_DIR || REPO_DIR);
const CLOCK_TICKS_PER_SECOND = 100;
const T0 = 1_700_000_000_000;

// ---- data: JSON log lines -----------------------------------------------------

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SERVICES = ['checkout', 'cart', 'search', 'auth', 'payments', 'inventory', 'shipping', 'recommendations'];
const PATHS = ['/api/v1/orders', '/api/v1/cart/items', '/api/v2/search', '/login', '/api/v1/payments/authorize', '/api/v1/stock', '/healthz'];
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', 'okhttp/4.12.0', 'Go-http-client/1.1', 'python-requests/2.31.0'];
const MESSAGES = ['request completed', 'cache miss, loaded from database', 'retrying upstream call', 'slow query detected', 'user session refreshed', 'rate limit close to threshold'];

/** One realistic structured log line (~350 bytes): ids and latencies vary, keys and vocabulary repeat. */
function logLine(random, i) {
  const hex = (n) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
  const status = random() < 0.93 ? 200 : random() < 0.5 ? 404 : 503;
  return JSON.stringify({
    '@timestamp': new Date(T0 + i * 13 + Math.floor(random() * 10)).toISOString(),
    level: status === 503 ? 'ERROR' : random() < 0.1 ? 'WARN' : 'INFO',
    service: SERVICES[Math.floor(random() * SERVICES.length)],
    host: `ip-10-0-${Math.floor(random() * 4)}-${Math.floor(random() * 250)}.ec2.internal`,
    trace_id: hex(32),
    span_id: hex(16),
    http: { method: random() < 0.7 ? 'GET' : 'POST', path: PATHS[Math.floor(random() * PATHS.length)], status, duration_ms: Math.round(random() * random() * 900 * 10) / 10 },
    user_agent: AGENTS[Math.floor(random() * AGENTS.length)],
    user_id: `u-${Math.floor(random() * 50_000)}`,
    message: MESSAGES[Math.floor(random() * MESSAGES.length)],
  });
}

/** Batches of whole records, each near `batchBytes` of record data, from `totalBytes` of distinct lines. */
function recordGroups(batchBytes, totalBytes, seed) {
  const random = prng(seed);
  const groups = [];
  let total = 0;
  let i = 0;
  while (total < totalBytes) {
    const records = [];
    let bytes = 0;
    while (bytes < batchBytes) {
      const value = logLine(random, i);
      records.push({ key: `session-${Math.floor(random() * 10_000)}`, value, timestamp: T0 + i });
      bytes += value.length + 20;
      i++;
    }
    groups.push(records);
    total += bytes;
  }
  return groups;
}

// ---- codecs as Gregor calls them ------------------------------------------

async function codecTable(pools) {
  const rows = [];
  for (const batchBytes of BATCH_SIZES) {
    const plain = pools.get(batchBytes).get('none').map((b) => b.subarray(61));
    for (const codec of CODECS.filter((c) => c !== 'none')) {
      const ratios = [];
      const compressRates = [];
      const decompressRates = [];
      const plainBytes = plain.reduce((n, b) => n + b.length, 0);
      for (let t = 0; t < TRIALS; t++) {
        let start = process.hrtime.bigint();
        const compressed = [];
        for (const p of plain) compressed.push(await compress(codec, p));
        compressRates.push(plainBytes / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9));
        start = process.hrtime.bigint();
        for (const c of compressed) await decompress(codec, c);
        decompressRates.push(plainBytes / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9));
        ratios.push(plainBytes / compressed.reduce((n, c) => n + c.length, 0));
      }
      rows.push({ batchBytes, codec, ratio: stat(ratios), compressMBps: stat(compressRates), decompressMBps: stat(decompressRates) });
      log(`codec ${codec} ${sizeLabel(batchBytes)}: ratio ${fmtAuto(median(ratios))}, ${fmtAuto(median(compressRates))} MB/s compress`);
    }
  }
  return rows;
}

function stat(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}
const show = (s, digits) => (s ? `${digits === undefined ? fmtAuto(s.median) : s.median.toFixed(digits)} (${digits === undefined ? fmtAuto(s.min) : s.min.toFixed(digits)}–${digits === undefined ? fmtAuto(s.max) : s.max.toFixed(digits)})` : 'n/a');

// ---- the broker child process -----------------------------------------------

function freePort() {
  return new Promise((res, rej) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => res(port));
    });
    server.on('error', rej);
  });
}

class Broker {
  constructor(dir) {
    this.dir = dir;
  }
  async start() {
    mkdirSync(this.dir, { recursive: true });
    this.bootstrap = `127.0.0.1:${await freePort()}`;
    const overrides = [`log.dirs=${this.dir}`, `listeners=PLAINTEXT://${this.bootstrap}`, 'num.io.threads=2', 'num.network.threads=2'];
    this.proc = spawn(process.execPath, [join(BROKER_DIR, 'dist', 'cli', 'main.js'), 'broker', ...overrides.flatMap((o) => ['--override', o])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.stderr = '';
    await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`broker did not start: ${this.stderr}`)), 30_000);
      this.proc.stderr.on('data', (d) => {
        this.stderr = (this.stderr + d).slice(-4000);
        if (this.stderr.includes('Gregor broker started')) {
          clearTimeout(timer);
          res();
        }
      });
      this.proc.on('exit', () => rej(new Error(`broker exited: ${this.stderr}`)));
    });
    this.admin = await WireClient.connect(this.bootstrap, 'bench-admin');
  }
  cpuSeconds() {
    const stat = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND;
  }
  async createTopic(name, configs) {
    const r = await this.admin.request(CreateTopicsApi, 5, {
      topics: [{ name, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    if (r.topics[0].errorCode !== 0) throw new Error(`create ${name}: error ${r.topics[0].errorCode} ${r.topics[0].errorMessage}`);
  }
  async deleteTopic(name) {
    await this.admin.request(DeleteTopicsApi, 4, { topicNames: [name], timeoutMs: 30_000 });
  }
  async stop() {
    this.admin?.close();
    const done = new Promise((res) => this.proc.on('exit', res));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await done;
    clearTimeout(timer);
  }
}

// ---- produce runs -------------------------------------------------------------

function produceBody(topic, partition, records) {
  return { transactionalId: null, acks: 1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] };
}

function checkResponse(response) {
  const p = response.responses[0].partitionResponses[0];
  if (p.errorCode !== 0) throw new Error(`produce failed: error ${p.errorCode} ${p.errorMessage ?? ''}`);
}

/** Sends batches (cycling through `pool`) until `volume` uncompressed bytes went, INFLIGHT at a time. */
async function saturate(clients, topic, pool, plainBytesPerBatch, volume) {
  const batches = Math.ceil(volume / plainBytesPerBatch);
  const latencies = [];
  let next = 0;
  let wire = 0;
  const start = process.hrtime.bigint();
  const lane = async (l) => {
    const client = clients[l % clients.length];
    for (let i = next++; i < batches; i = next++) {
      const batch = pool[i % pool.length];
      wire += batch.length;
      const sent = process.hrtime.bigint();
      checkResponse(await client.request(ProduceApi, PRODUCE_VERSION, produceBody(topic, i % PARTITIONS, batch)));
      latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, (_, l) => lane(l)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, plainBytes: batches * plainBytesPerBatch, wireBytes: wire, latencies };
}

/** Paced sends at LATENCY_MBPS of uncompressed data for LATENCY_SECONDS; per-request latency. */
async function paced(client, topic, pool, plainBytesPerBatch) {
  const intervalMs = (plainBytesPerBatch / (LATENCY_MBPS * 1e6)) * 1000;
  const count = Math.max(20, Math.floor((LATENCY_SECONDS * 1000) / intervalMs));
  const latencies = [];
  const pending = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sent = performance.now();
    pending.push(
      client.request(ProduceApi, PRODUCE_VERSION, produceBody(topic, i % PARTITIONS, pool[i % pool.length])).then((r) => {
        checkResponse(r);
        latencies.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(pending);
  return latencies;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function configsOf(codec, mode) {
  if (mode === 'full') return { 'gregor.record.validation': 'full' };
  if (mode === 'broker') return { 'compression.type': codec === 'none' ? 'uncompressed' : codec };
  return {};
}

async function produceRuns(pools) {
  const configs = [];
  for (const batchBytes of BATCH_SIZES) {
    for (const codec of CODECS) {
      for (const mode of MODES) {
        if (codec === 'none' && mode !== 'produced') continue;
        configs.push({ batchBytes, codec, mode, trials: [] });
      }
    }
  }
  const dir = scratchDir('compression');
  const broker = new Broker(dir);
  await broker.start();
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => WireClient.connect(broker.bootstrap, `bench-${i}`)));
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const config of configs) {
        const { batchBytes, codec, mode } = config;
        const sourceCodec = mode === 'broker' ? 'none' : codec;
        const pool = pools.get(batchBytes).get(sourceCodec);
        const plainPerBatch = pools.get(batchBytes).plainPerBatch;
        const topic = `bench-${codec}-${mode}-${batchBytes}-${trial}`;
        await broker.createTopic(topic, configsOf(codec, mode));
        const cpuBefore = broker.cpuSeconds();
        const load = loadavg()[0];
        const run = await saturate(clients, topic, pool, plainPerBatch, VOLUME_BYTES);
        const cpu = broker.cpuSeconds() - cpuBefore;
        const latencies = await paced(clients[0], topic, pool, plainPerBatch);
        await broker.deleteTopic(topic);
        config.trials.push({
          mbps: run.plainBytes / 1e6 / run.seconds,
          wireMbps: run.wireBytes / 1e6 / run.seconds,
          cpuMsPerMB: (cpu * 1000) / (run.plainBytes / 1e6),
          loadP50: percentile(run.latencies, 50),
          loadP99: percentile(run.latencies, 99),
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          wireRatio: run.plainBytes / run.wireBytes,
          load,
        });
        log(`trial ${trial + 1}/${TRIALS} ${codec}/${mode}/${sizeLabel(batchBytes)}: ${fmtAuto(run.plainBytes / 1e6 / run.seconds)} MB/s, broker ${fmtAuto((cpu * 1000) / (run.plainBytes / 1e6))} ms CPU/MB, load ${load.toFixed(1)}`);
      }
    }
  } finally {
    for (const c of clients) c.close();
    await broker.stop();
    removeDir(dir);
  }
  return configs.map((c) => {
    const field = (k) => stat(c.trials.map((t) => t[k]));
    return { batchBytes: c.batchBytes, codec: c.codec, mode: c.mode, mbps: field('mbps'), wireMbps: field('wireMbps'), cpuMsPerMB: field('cpuMsPerMB'), loadP50: field('loadP50'), loadP99: field('loadP99'), p50: field('p50'), p99: field('p99'), wireRatio: field('wireRatio'), load: field('load') };
  });
}

// ---- main ---------------------------------------------------------------------

async function main() {
  const startedAt = new Date();
  log(`building pools: ${sizeLabel(POOL_BYTES)} of JSON log lines per batch size and codec`);
  const pools = new Map();
  for (const batchBytes of BATCH_SIZES) {
    const groups = recordGroups(batchBytes, POOL_BYTES, batchBytes);
    const byCodec = new Map();
    for (const codec of CODECS) byCodec.set(codec, groups.map((records) => encodeRecordBatch(records, { compression: codec, timestamp: T0 })));
    const plain = byCodec.get('none') ?? groups.map((records) => encodeRecordBatch(records, { timestamp: T0 }));
    byCodec.set('none', plain);
    byCodec.plainPerBatch = plain.reduce((n, b) => n + b.length, 0) / plain.length;
    byCodec.recordsPerBatch = groups.reduce((n, g) => n + g.length, 0) / groups.length;
    pools.set(batchBytes, byCodec);
  }
  const codecs = await codecTable(pools);
  const produce = await produceRuns(pools);

  const git = (args) => {
    try {
      return (spawnSyncText('git', ['-C', BROKER_DIR, ...args]) || '').trim();
    } catch {
      return '';
    }
  };
  const lines = [];
  lines.push(`# Gregor compression benchmark — ${startedAt.toISOString()}`);
  lines.push('');
  lines.push(`Broker: ${BROKER_DIR} (commit ${git(['rev-parse', '--short', 'HEAD']) || 'unknown'}${git(['status', '--porcelain', '--untracked-files=no']) ? ', with uncommitted changes' : ''}), Node ${process.version}, ${TRIALS} trials, ${sizeLabel(VOLUME_BYTES)} of uncompressed records per produce trial, ${INFLIGHT} requests in flight on ${CONNECTIONS} connections, ${PARTITIONS} partitions, acks=1, Produce v${PRODUCE_VERSION}.`);
  lines.push('');
  lines.push('Data: JSON log lines of ~' + Math.round(pools.get(BATCH_SIZES[0]).plainPerBatch / pools.get(BATCH_SIZES[0]).recordsPerBatch) + ' bytes per record (timestamp, level, service, host, 128-bit trace id, HTTP method/path/status/duration, user agent, user id, message), keys `session-N`.');
  lines.push('');
  lines.push('## Codecs as Gregor calls them (asynchronous, one call at a time)');
  lines.push('');
  lines.push(
    table(
      ['batch', 'codec', 'ratio', 'compress MB/s', 'decompress MB/s'],
      codecs.map((r) => [sizeLabel(r.batchBytes), r.codec, show(r.ratio, 2), show(r.compressMBps), show(r.decompressMBps)]),
    ),
  );
  lines.push('');
  lines.push('MB/s are of uncompressed data, 10⁶ bytes. Ratio: uncompressed records / compressed payload.');
  lines.push('');
  lines.push('## Produce through the broker');
  lines.push('');
  lines.push(
    table(
      ['batch', 'codec', 'mode', 'MB/s (uncompressed)', 'wire MB/s', 'broker CPU ms per MB', 'p50 / p99 ms under load', `p50 / p99 ms at ${LATENCY_MBPS} MB/s`],
      produce.map((r) => [
        sizeLabel(r.batchBytes),
        r.codec,
        r.mode,
        show(r.mbps),
        show(r.wireMbps),
        show(r.cpuMsPerMB),
        `${fmtAuto(r.loadP50.median)} / ${fmtAuto(r.loadP99.median)}`,
        `${fmtAuto(r.p50.median)} / ${fmtAuto(r.p99.median)}`,
      ]),
    ),
  );
  lines.push('');
  lines.push(`Load average during the trials: ${fmtAuto(Math.min(...produce.map((r) => r.load.min)))}–${fmtAuto(Math.max(...produce.map((r) => r.load.max)))}.`);
  const report = lines.join('\n');
  console.log(report);
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(resultsDir, `compression-${stamp}.md`), `${report}\n`);
  writeFileSync(join(resultsDir, `compression-${stamp}.json`), JSON.stringify({ startedAt, settings: { TRIALS, VOLUME_BYTES, BATCH_SIZES, CODECS, MODES, INFLIGHT, LATENCY_MBPS, LATENCY_SECONDS, POOL_BYTES, BROKER_DIR }, codecs, produce }, null, 2));
}

function spawnSyncText(cmd, args) {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
