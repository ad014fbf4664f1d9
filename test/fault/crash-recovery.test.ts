// Crash safety of the storage engine, with real process kills: a child
// appends continuously and is killed with SIGKILL at random moments; after
// each kill the log must reopen with every acknowledged batch intact.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { LogManager } from '../../src/index.js';
import { checkIndexInvariants, checkLogInvariants, readPartitionDir } from '../support/kafka-format-reader.js';
// @ts-expect-error plain ESM helper shared with the child process
import { workloadBatch } from './crash-workload.mjs';

const makeBatch = workloadBatch as (round: number, i: number) => Buffer;
const KILLS = 24;
const childScript = join(import.meta.dirname, 'crash-child.mjs');

interface Ack {
  round: number;
  i: number;
  baseOffset: number;
  lastOffset: number;
}

/** Runs the child until it has acknowledged something, waits a random while, then SIGKILLs it. */
function runAndKill(dir: string, round: number, killAfterMs: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (timer === undefined && stdout.includes('\nack ')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`crash child exited on its own (code ${code}): ${stderr}`));
        return;
      }
      // Only whole lines count: the kill may cut the last one.
      const lines = stdout.split('\n').slice(0, -1);
      const acks = lines
        .filter((line) => line.startsWith('ack '))
        .map((line) => {
          const [, r, i, base, last] = line.split(' ').map(Number);
          return { round: r!, i: i!, baseOffset: base!, lastOffset: last! };
        });
      resolve(acks);
    });
  });
}

describe('crash recovery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gregor-crash-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`keeps every acknowledged batch across ${KILLS} SIGKILLs during appends`, async () => {
    // Each round: kill the appender mid-flight, reopen (recovery), verify, close cleanly.
    const acked: Ack[] = [];
    let rng = 12345;
    const random = () => ((rng = (Math.imul(rng, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let round = 0; round < KILLS; round++) {
      const acks = await runAndKill(dir, round, Math.floor(random() * 250));
      expect(acks.length).toBeGreaterThan(0);
      acked.push(...acks);

      const manager = await LogManager.open(dir, { ioThreads: 1 });
      try {
        expect(manager.previousShutdownClean).toBe(false);
        const log = await manager.openLog('crash-0', { 'segment.bytes': 256 * 1024, 'segment.index.bytes': 4096, 'index.interval.bytes': 1024 });
        const lastAck = acks[acks.length - 1]!;
        expect(log.logEndOffset).toBeGreaterThanOrEqual(lastAck.lastOffset + 1);
        // Every batch acknowledged in any round so far is present and byte-identical.
        for (const ack of acked) {
          const stored = await log.read(ack.baseOffset, 1);
          const expected = Buffer.from(makeBatch(ack.round, ack.i));
          expected.writeBigInt64BE(BigInt(ack.baseOffset), 0);
          expect(stored.subarray(0, expected.length).equals(expected), `round ${ack.round} batch ${ack.i}`).toBe(true);
        }
        // The files end on a batch boundary and the indexes agree with the log.
        const segments = readPartitionDir(join(dir, 'crash-0'));
        for (const segment of segments) {
          expect(segment.log.error).toBeUndefined();
          expect(checkLogInvariants(segment)).toEqual([]);
          expect(checkIndexInvariants(segment)).toEqual([]);
        }
        const lastSegment = segments[segments.length - 1]!;
        const lastBatch = lastSegment.log.batches[lastSegment.log.batches.length - 1];
        const endFromFiles = lastBatch ? Number(lastBatch.lastOffset) + 1 : Number(lastSegment.baseOffset);
        expect(endFromFiles).toBe(log.logEndOffset);
      } finally {
        await manager.close();
      }
    }
  }, 180_000);
});
