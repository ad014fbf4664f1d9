// The gregor command-line tools against a real broker, with Kafka's flags:
// topics, configs, broker-api-versions and dump-log.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startBroker, type RunningBroker } from '../../src/index.js';
import { gregor, gregorOk } from '../support/cli.js';

const execFileAsync = promisify(execFile);


describe('gregor CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-cli-'));
  let broker: RunningBroker;
  let bs: string[];

  beforeAll(async () => {
    broker = await startBroker({ overrides: { 'log.dirs': dir, listeners: 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 1 } });
    bs = ['--bootstrap-server', broker.bootstrapServers];
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates, lists, describes, grows and deletes topics', async () => {
    // Each step is checked through the next command's output.
    expect((await gregor('topics', ...bs, '--create', '--topic', 'cli-t', '--partitions', '2', '--config', 'segment.bytes=1048576')).stdout).toContain('Created topic cli-t.');
    expect((await gregor('topics', ...bs, '--list')).stdout.split('\n')).toContain('cli-t');
    let described = (await gregor('topics', ...bs, '--describe', '--topic', 'cli-t')).stdout;
    expect(described).toMatch(/Topic: cli-t\tTopicId: \S{22}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: segment.bytes=1048576/);
    expect(described).toContain('Partition: 1\tLeader: 0\tReplicas: 0\tIsr: 0');
    expect((await gregor('topics', ...bs, '--alter', '--topic', 'cli-t', '--partitions', '3')).code).toBe(0);
    described = (await gregor('topics', ...bs, '--describe', '--topic', 'cli-t')).stdout;
    expect(described).toContain('PartitionCount: 3');
    const duplicate = await gregor('topics', ...bs, '--create', '--topic', 'cli-t');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('TOPIC_ALREADY_EXISTS');
    expect((await gregor('topics', ...bs, '--create', '--topic', 'cli-t', '--if-not-exists')).code).toBe(0);
    expect((await gregor('topics', ...bs, '--delete', '--topic', 'cli-t')).stdout).toContain('Deleted topic cli-t.');
    expect((await gregorOk('topics', ...bs, '--list')).split('\n')).not.toContain('cli-t');
    const bad = await gregor('topics', ...bs, '--create', '--topic', 'no spaces');
    expect(bad.stderr).toContain('INVALID_TOPIC_EXCEPTION');
  });

  it('changes topic configs and shows them with their sources', async () => {
    await gregorOk('topics', ...bs, '--create', '--topic', 'cli-c');
    expect((await gregor('configs', ...bs, '--entity-type', 'topics', '--entity-name', 'cli-c', '--alter', '--add-config', 'retention.ms=60000,max.message.bytes=2000')).code).toBe(0);
    let described = (await gregor('configs', ...bs, '--entity-type', 'topics', '--entity-name', 'cli-c', '--describe')).stdout;
    expect(described).toContain('retention.ms=60000');
    expect(described).toContain('max.message.bytes=2000');
    await gregor('configs', ...bs, '--entity-type', 'topics', '--entity-name', 'cli-c', '--alter', '--delete-config', 'retention.ms');
    described = (await gregor('configs', ...bs, '--entity-type', 'topics', '--entity-name', 'cli-c', '--describe', '--all')).stdout;
    expect(described).toMatch(/retention.ms=604800000 source=DEFAULT_CONFIG/);
    expect(described).toMatch(/max.message.bytes=2000 source=DYNAMIC_TOPIC_CONFIG/);
    const invalid = await gregor('configs', ...bs, '--entity-type', 'topics', '--entity-name', 'cli-c', '--alter', '--add-config', 'segment.bytes=5');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('segment.bytes');
  });

  it('prints the advertised API versions and dumps a segment', async () => {
    const versions = (await gregor('broker-api-versions', ...bs)).stdout;
    expect(versions).toContain('Produce(0): 0 to 11 [usable: 11]');
    expect(versions).toContain('ApiVersions(18): 0 to 3');
    const producer = await execFileAsync('sh', ['-c', `printf 'k1:v1\\nk2:v2\\n' | kcat -b ${broker.bootstrapServers} -P -t cli-d -K: -p 0`]);
    expect(producer.stderr).toBe('');
    const dump = (await gregor('dump-log', '--files', join(dir, 'cli-d-0', '00000000000000000000.log'), '--print-data-log')).stdout;
    // kcat may send the two records in one batch or two, depending on timing.
    expect(dump).toMatch(/baseOffset: 0 lastOffset: (0 count: 1|1 count: 2) /);
    expect(dump).toContain('crcValid: true');
    expect(dump).toContain('| offset: 1');
    expect(dump).toContain('key: k2 payload: v2');
    const usage = await gregor('topics', '--bogus');
    expect(usage.code).toBe(1);
    expect(usage.stderr).toContain('unknown option --bogus');
  });
});

describe('broker configuration errors and observability', () => {
  it('stops at start with a message naming an invalid key', async () => {
    const result = await gregor('broker', '--override', 'num.io.threads=lots', '--override', 'log.dirs=/nonexistent-never-created');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Invalid value "lots" for configuration num.io.threads: not an integer');
  });

  it('warns about an unknown key, logs structured lines and counts requests per API', async () => {
    const { Logger } = await import('../../src/observability/logger.js');
    const lines: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'gregor-obs-'));
    const broker = await startBroker({
      overrides: { 'log.dirs': dir, listeners: 'PLAINTEXT://127.0.0.1:0', 'num.io.threads': 1, 'no.such.key': 'x' },
      logger: new Logger('info', (line) => lines.push(line)),
    });
    try {
      expect(lines.some((l) => / WARN  Unknown configuration key no.such.key is ignored$/.test(l))).toBe(true);
      expect(lines.some((l) => /INFO  Gregor broker started nodeId=0 listener=PLAINTEXT:\/\/127.0.0.1:\d+/.test(l))).toBe(true);
      await execFileAsync('sh', ['-c', `printf 'k:v\\n' | kcat -b ${broker.bootstrapServers} -P -t obs -K:`]);
      const produce = broker.metrics().find((m) => m.api === 'Produce');
      expect(produce?.requests).toBeGreaterThan(0);
      expect(produce?.errors).toBe(0);
      expect(produce!.p99Ms).toBeGreaterThan(0);
    } finally {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
