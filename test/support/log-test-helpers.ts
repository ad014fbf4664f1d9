// Shared helpers for the storage-engine unit tests: temp directories, batch
// builders and patchers, whole-log readers and "the log did not change"
// snapshots. Nothing here asserts on its own except expectLogError.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

import {
  LogError,
  StorageErrorCodes,
  crc32c,
  decodeRecordBatches,
  encodeRecordBatch,
  openLog,
  type DecodedBatch,
  type EncodeOptions,
  type Log,
  type LogConfigInput,
  type RecordInput,
  type SegmentInfo,
  type StorageErrorName,
} from '../../src/index.js';

/** A fixed, recognisable epoch-millisecond base so tests never depend on the clock. */
export const T0 = 1_700_000_000_000;

/** Batch layout offsets (Kafka's RecordBatch v2), spelled out for patching. */
export const BATCH = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordsCount: 57,
  records: 61,
} as const;

/** Creates a fresh temp directory; remove it with removeTempDir. */
export function makeTempDir(prefix = 'gregor-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeTempDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/**
 * Opens a log in `<parent>/<name>` (the parent gets the checkpoints and the
 * clean-shutdown marker, as a Kafka log directory does). One io thread keeps
 * tests light.
 */
export function openTestLog(parent: string, config: LogConfigInput = {}, name = 'topic-0'): Promise<Log> {
  return openLog(join(parent, name), config, { ioThreads: 1 });
}

/** `count` records with distinct keys and values, optionally with explicit timestamps. */
export function makeRecords(count: number, tag: string, timestamps?: readonly number[]): RecordInput[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `${tag}-k${i}`,
    value: `${tag}-value-${i}`,
    ...(timestamps ? { timestamp: timestamps[i]! } : {}),
  }));
}

/** One encoded batch of `count` records at timestamp T0 (unless overridden). */
export function makeBatch(count: number, tag: string, options: EncodeOptions = {}): Buffer {
  return encodeRecordBatch(makeRecords(count, tag), { timestamp: T0, ...options });
}

/** Recomputes a batch's CRC-32C in place (after a deliberate patch) and returns it. */
export function fixCrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32c(batch.subarray(BATCH.attributes)), BATCH.crc);
  return batch;
}

/** A copy of `batch` changed by `patch`, optionally with its CRC recomputed. */
export function patched(batch: Buffer, patch: (b: Buffer) => void, recomputeCrc = true): Buffer {
  const copy = Buffer.from(batch);
  patch(copy);
  return recomputeCrc ? fixCrc(copy) : copy;
}

/** Awaits `promise`, expecting a LogError with `code` (and the matching Kafka error number). */
export async function expectLogError(promise: Promise<unknown>, code: StorageErrorName): Promise<LogError> {
  const error: unknown = await promise.then(
    (value) => {
      throw new Error(`expected ${code}, but the operation succeeded with ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LogError);
  const logError = error as LogError;
  expect(logError.code, logError.message).toBe(code);
  if (code in StorageErrorCodes) {
    expect(logError.errorCode).toBe(StorageErrorCodes[code as keyof typeof StorageErrorCodes]);
  }
  return logError;
}

/** Whatever `fn` throws or rejects with; fails if it does neither. */
export async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw or reject, but it succeeded');
}

/**
 * Reads every batch from `from` (default: the log start) to the log end with
 * repeated read() calls, checking that each read returns whole batches only.
 */
export async function readAllBatches(log: Log, from = log.logStartOffset, maxBytes = 1 << 20): Promise<DecodedBatch[]> {
  const out: DecodedBatch[] = [];
  let offset = from;
  while (offset < log.logEndOffset) {
    const bytes = await log.read(offset, maxBytes);
    if (bytes.length === 0) break;
    const batches = decodeRecordBatches(bytes);
    const covered = batches.reduce((n, b) => n + b.sizeBytes, 0);
    if (covered !== bytes.length) throw new Error(`read(${offset}) returned ${bytes.length - covered} bytes of partial batch`);
    if (batches.length === 0) throw new Error(`read(${offset}) returned bytes but no batch`);
    out.push(...batches);
    offset = batches[batches.length - 1]!.lastOffset + 1;
  }
  return out;
}

/** Raw bytes of every batch from the log start to the end, concatenated. */
export async function readAllBytes(log: Log): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const bytes = await log.read(offset, 1 << 20);
    if (bytes.length === 0) break;
    parts.push(bytes);
    const batches = decodeRecordBatches(bytes);
    offset = batches[batches.length - 1]!.lastOffset + 1;
  }
  return Buffer.concat(parts);
}

/** (offset, key, value, timestamp) of every record, for comparing logs with expectations. */
export interface FlatRecord {
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
}

export function flatten(batches: readonly DecodedBatch[]): FlatRecord[] {
  return batches.flatMap((b) =>
    b.records.map((r) => ({
      offset: r.offset,
      key: r.key === null ? null : r.key.toString('utf8'),
      value: r.value === null ? null : r.value.toString('utf8'),
      timestamp: r.timestamp,
    })),
  );
}

/** sha256 of each file in `dir` (names sorted), so any on-disk change shows. */
export function dirDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    out[name] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return out;
}

export interface LogSnapshot {
  logStartOffset: number;
  logEndOffset: number;
  sizeBytes: number;
  segments: SegmentInfo[];
  bytes: Buffer;
  files: Record<string, string>;
}

/** Everything observable about a log, to check that a failed operation changed nothing. */
export async function snapshot(log: Log): Promise<LogSnapshot> {
  return {
    logStartOffset: log.logStartOffset,
    logEndOffset: log.logEndOffset,
    sizeBytes: log.sizeBytes,
    segments: await log.segments(),
    bytes: await readAllBytes(log),
    files: dirDigest(log.dir),
  };
}

export function expectSameSnapshot(after: LogSnapshot, before: LogSnapshot): void {
  expect(after.logStartOffset).toBe(before.logStartOffset);
  expect(after.logEndOffset).toBe(before.logEndOffset);
  expect(after.sizeBytes).toBe(before.sizeBytes);
  expect(after.segments).toEqual(before.segments);
  expect(after.bytes.equals(before.bytes)).toBe(true);
  expect(after.files).toEqual(before.files);
}

/** Segment file names in `dir` by suffix, sorted. */
export function segmentFiles(dir: string, suffix: '.log' | '.index' | '.timeindex'): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(suffix) && /^\d{20}\./.test(n))
    .sort();
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

/** The 20-digit zero-padded file name Kafka gives a segment file. */
export function segmentName(baseOffset: number, suffix: '.log' | '.index' | '.timeindex'): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

/** Reads a zigzag varint by hand (independently of the code under test). */
export function readZigzag(bytes: Uint8Array, at: number): { value: number; length: number } {
  let raw = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const b = bytes[at + i];
    if (b === undefined) throw new Error(`varint at ${at} runs past the buffer`);
    raw += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) {
      const value = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      return { value, length: i + 1 };
    }
  }
  throw new Error(`varint at ${at} is longer than 10 bytes`);
}

/** Where each record of an uncompressed batch starts and where its offsetDelta varint sits. */
export interface RecordLayout {
  start: number;
  length: number;
  offsetDeltaAt: number;
  offsetDeltaBytes: number;
}

export function recordLayout(batch: Buffer): RecordLayout[] {
  const count = batch.readInt32BE(BATCH.recordsCount);
  const out: RecordLayout[] = [];
  let p: number = BATCH.records;
  for (let i = 0; i < count; i++) {
    const length = readZigzag(batch, p);
    const body = p + length.length;
    const tsDelta = readZigzag(batch, body + 1);
    const offsetDeltaAt = body + 1 + tsDelta.length;
    out.push({ start: p, length: length.value, offsetDeltaAt, offsetDeltaBytes: readZigzag(batch, offsetDeltaAt).length });
    p = body + length.value;
  }
  return out;
}
