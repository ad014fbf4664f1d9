// Log: the TypeScript face of one partition's native log. Every operation
// that touches disk runs on the partition's io thread and returns a Promise;
// the offsets are plain getters over values the engine publishes atomically.
import { LogError, toLogError } from '../errors.js';
import type { NativeCleanResult, NativeFileRegion, NativeIoPool, NativeLog, NativeRetentionResult, NativeSegmentInfo } from '../native.js';
import { NEVER, resolveLogConfig, toNativeConfig, type LogConfig, type LogConfigInput } from './config.js';
import { compressionPolicy, prepareBatches, type CompressionPolicy } from './batch-compression.js';
import { compressedBatchHandler } from './compaction.js';
import { decodeRecordBatches, decodeRecordBatchesAsync, type DecodedBatch } from '../protocol/record-batch.js';

export interface AppendResult {
  /** Offset of the first record appended. */
  baseOffset: number;
  /** Offset of the last record appended. */
  lastOffset: number;
  /** The broker's timestamp for LogAppendTime topics, -1 for CreateTime. */
  logAppendTime: number;
  recordCount: number;
  batchCount: number;
}

export interface AppendOptions {
  /** Resolve only after the batches are fsynced (concurrent durable appends share fsyncs). */
  durable?: boolean;
  /**
   * Refuse records without a key (INVALID_RECORD), Kafka's rule for
   * compacted topics; every batch's records are read, compressed ones
   * decompressed.
   */
  requireKeys?: boolean;
}

/** Bytes of whole batches in one segment file, for sendfile(2). Call release() when sent. */
export type FileRegion = NativeFileRegion;

export interface TimestampOffset {
  offset: number;
  timestamp: number;
}

export type SegmentInfo = NativeSegmentInfo;

/** What one retention pass deleted (applyRetention), by Kafka's reasons. */
export type RetentionResult = NativeRetentionResult;

/** What one compaction pass did (Log.clean). */
export type CleanResult = NativeCleanResult;

export interface CleanOptions {
  /** Clean whatever is cleanable, whatever min.cleanable.dirty.ratio says. */
  force?: boolean;
  /** The cleaner's clock (tests); default the wall clock. */
  nowMs?: number;
}

/** setTimeout's longest delay; a later deadline is reached in steps. */
const TIMER_MS_MAX = 2 ** 31 - 1;

/** ListOffsets' special timestamps. */
export const EARLIEST_TIMESTAMP = -2;
export const LATEST_TIMESTAMP = -1;
export const MAX_TIMESTAMP = -3;

function checkOffset(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}

async function wrap<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw toLogError(error);
  }
}

export class Log {
  #native: NativeLog;
  #config: LogConfig;
  #compression: CompressionPolicy;
  /** Appends whose batches are being prepared (recompressed or checked) in TypeScript. */
  #preparing = 0;
  /** Settles once the latest prepared append has been handed to the engine: later appends queue behind it. */
  #handedOff: Promise<unknown> = Promise.resolve();
  #closed = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #onClose: ((log: Log) => Promise<void>) | undefined;
  #onRetention: ((log: Log, result: RetentionResult) => void) | undefined;
  /** A retention pass started by a roll; another roll meanwhile asks for one more. */
  #rollRetention: Promise<unknown> | undefined;
  #rollRetentionAgain = false;
  #fileDeletionTimer: NodeJS.Timeout | undefined;
  /** When #fileDeletionTimer is due to unlink `.deleted` files (Infinity: no timer). */
  #fileDeletionAt = Infinity;
  /** Settles when the cleaning in progress (if any) has. */
  #cleaning: Promise<unknown> = Promise.resolve();

  /** @internal Use openLog() or LogManager.openLog(). */
  constructor(
    readonly dir: string,
    readonly name: string,
    nativeLog: NativeLog,
    config: LogConfig,
    onClose?: (log: Log) => Promise<void>,
    onRetention?: (log: Log, result: RetentionResult) => void,
  ) {
    this.#native = nativeLog;
    this.#config = config;
    this.#compression = compressionPolicy(config);
    this.#onClose = onClose;
    this.#scheduleFlush();
    this.#onRetention = onRetention;
    // Kafka checks retention on its schedule; Gregor also checks when a segment rolls.
    nativeLog.setRollListener(() => this.#retentionAfterRoll());
  }

  get config(): Readonly<LogConfig> {
    return this.#config;
  }
  /** First offset still readable. */
  get logStartOffset(): number {
    return this.#native.logStartOffset;
  }
  /** Offset the next appended record gets. */
  get logEndOffset(): number {
    return this.#native.logEndOffset;
  }
  /** Everything below this offset is known to be on disk (fsynced). */
  get recoveryPoint(): number {
    return this.#native.recoveryPoint;
  }
  /** Bytes in all segment files. */
  get sizeBytes(): number {
    return this.#native.sizeBytes;
  }
  /** Bytes that recovery cut off when this log was opened (0 after a clean shutdown). */
  get recoveredTruncatedBytes(): number {
    return this.#native.recoveredTruncatedBytes;
  }
  get closed(): boolean {
    return this.#closed;
  }

  #checkOpen(): void {
    if (this.#closed) throw new LogError(`log ${this.name} is closed`, 'LOG_CLOSED', -101);
  }

  /**
   * Appends one or more complete RecordBatch v2 batches, assigning offsets
   * from the log end. Every batch is validated first; on any error nothing is
   * written. The buffer must not change until the Promise settles (the
   * engine reads it on an io thread; it does not modify it).
   */
  async append(batches: Uint8Array, options: AppendOptions = {}): Promise<AppendResult> {
    this.#checkOpen();
    const durable = options.durable === true;
    const requireKeys = options.requireKeys === true;
    // The fast path: nothing to do in TypeScript and nothing queued before us.
    if (this.#compression.passthrough && !requireKeys && this.#preparing === 0) return wrap(this.#native.append(batches, false, durable));
    return this.#appendPrepared(batches, durable, requireKeys);
  }

  // Batches that may need recompressing or checking (see batch-compression.ts).
  // The engine orders appends by the time they reach it, so every append that
  // starts while one is being prepared waits for it to be handed over: a
  // partition keeps the order in which append() was called.
  async #appendPrepared(batches: Uint8Array, durable: boolean, requireKeys: boolean): Promise<AppendResult> {
    const buffer = Buffer.isBuffer(batches) ? batches : Buffer.from(batches.buffer, batches.byteOffset, batches.byteLength);
    const policy = this.#compression;
    const prepared = policy.passthrough && !requireKeys ? Promise.resolve(buffer) : prepareBatches(buffer, policy, requireKeys);
    const previous = this.#handedOff;
    const handedOff = Promise.all([prepared, previous]).then(([bytes]) => {
      this.#checkOpen();
      // In an object, so that awaiting the hand-over does not wait for the append itself.
      return { appended: this.#native.append(bytes, false, durable) };
    });
    this.#preparing++;
    this.#handedOff = handedOff.catch(() => undefined);
    let appended: Promise<AppendResult>;
    try {
      ({ appended } = await handedOff);
    } catch (error) {
      throw toLogError(error);
    } finally {
      this.#preparing--;
    }
    return wrap(appended);
  }

  /** Appends batches keeping their offsets, which must continue the log (replication's follower path). */
  async appendWithOffsets(batches: Uint8Array, options: AppendOptions = {}): Promise<AppendResult> {
    this.#checkOpen();
    return wrap(this.#native.append(batches, true, options.durable === true));
  }

  /**
   * Whole batches starting with the one that holds `offset`, up to
   * `maxBytes` (the first batch is returned whole even if larger). Each
   * batch's CRC is checked. Empty at the log end; OFFSET_OUT_OF_RANGE
   * outside [logStartOffset, logEndOffset].
   */
  async read(offset: number, maxBytes: number): Promise<Buffer> {
    this.#checkOpen();
    checkOffset('offset', offset);
    checkOffset('maxBytes', maxBytes);
    return wrap(this.#native.read(offset, maxBytes));
  }

  /** Like read(), as a file region for sendfile; null at the log end. */
  async readRegion(offset: number, maxBytes: number): Promise<FileRegion | null> {
    this.#checkOpen();
    checkOffset('offset', offset);
    checkOffset('maxBytes', maxBytes);
    return wrap(this.#native.readRegion(offset, maxBytes));
  }

  /**
   * ListOffsets semantics: the earliest record whose timestamp is >=
   * `timestamp`, or null if there is none. EARLIEST_TIMESTAMP (-2) and
   * LATEST_TIMESTAMP (-1) give the log start and end offsets, MAX_TIMESTAMP
   * (-3) the record with the largest timestamp.
   */
  async offsetForTimestamp(timestamp: number): Promise<TimestampOffset | null> {
    this.#checkOpen();
    if (!Number.isSafeInteger(timestamp)) throw new RangeError(`timestamp must be a safe integer, got ${timestamp}`);
    if (timestamp === EARLIEST_TIMESTAMP) return { offset: this.logStartOffset, timestamp: -1 };
    if (timestamp === LATEST_TIMESTAMP) return { offset: this.logEndOffset, timestamp: -1 };
    if (timestamp === MAX_TIMESTAMP) return this.#recordLevel(await wrap(this.#native.offsetOfMaxTimestamp()), MAX_TIMESTAMP);
    if (timestamp < 0) throw new RangeError(`timestamp ${timestamp} is neither a time nor -1, -2 or -3`);
    return this.#recordLevel(await wrap(this.#native.offsetForTimestamp(timestamp)), timestamp);
  }

  // The engine searches records of uncompressed batches; for a compressed
  // (CreateTime) batch it answers with the batch: its first readable offset
  // and its maxTimestamp. Here that one batch is decompressed for the
  // record-level answer: the first record at or after the hit whose
  // timestamp is >= `timestamp`, or for MAX_TIMESTAMP the first record with
  // the batch's largest timestamp. Only a batch whose header claims a larger
  // maxTimestamp than its records have (kept as produced under shallow
  // validation) sends the search on to the following batches. A batch that
  // cannot be decoded leaves the engine's answer.
  async #recordLevel(hit: TimestampOffset | null, timestamp: number): Promise<TimestampOffset | null> {
    if (hit === null) return null;
    let batches = await this.#batchAt(hit.offset);
    const first = batches?.[0];
    if (first === undefined || first.compression === 'none' || first.timestampType === 'LogAppendTime') return hit;
    if (timestamp === MAX_TIMESTAMP) {
      let best: TimestampOffset | null = null;
      for (const r of first.records) {
        if (r.offset >= hit.offset && (best === null || r.timestamp > best.timestamp)) best = { offset: r.offset, timestamp: r.timestamp };
      }
      return best ?? hit;
    }
    // Bounded by the log end: each step reads the next batch.
    for (let from = hit.offset; batches !== undefined && batches.length > 0; ) {
      for (const batch of batches) {
        for (const r of batch.records) {
          if (r.offset >= from && r.timestamp >= timestamp) return { offset: r.offset, timestamp: r.timestamp };
        }
        from = batch.lastOffset + 1;
      }
      if (from >= this.logEndOffset) return null;
      batches = await this.#batchAt(from);
    }
    return hit;
  }

  /** The decoded batch holding `offset` (undefined at the end, or if it cannot be decoded). */
  async #batchAt(offset: number): Promise<DecodedBatch[] | undefined> {
    try {
      const bytes = await this.#native.read(offset, 1);
      if (bytes.length < 61 || (bytes.readInt16BE(21) & 0x07) === 0) return decodeRecordBatches(bytes);
      return await decodeRecordBatchesAsync(bytes);
    } catch {
      return undefined;
    }
  }

  /** fsyncs everything appended so far and advances the recovery point. */
  async flush(): Promise<void> {
    this.#checkOpen();
    return wrap(this.#native.flush());
  }

  /** Removes every record at or after `offset` (cut at a batch boundary). */
  async truncateTo(offset: number): Promise<void> {
    this.#checkOpen();
    checkOffset('offset', offset);
    return wrap(this.#native.truncateTo(offset));
  }

  /**
   * Moves the log start offset to `offset` and deletes segments wholly below
   * it, as retention does (file.delete.delay.ms applies).
   */
  async deleteRecordsBefore(offset: number): Promise<void> {
    this.#checkOpen();
    checkOffset('offset', offset);
    try {
      return await wrap(this.#native.deleteRecordsBefore(offset));
    } finally {
      this.#scheduleFileDeletion();
    }
  }

  /** Deletes the oldest `count` segments (never the active one); resolves to how many went. */
  async deleteOldestSegments(count: number): Promise<number> {
    this.#checkOpen();
    checkOffset('count', count);
    try {
      return await wrap(this.#native.deleteOldestSegments(count));
    } finally {
      this.#scheduleFileDeletion();
    }
  }

  /**
   * One retention pass (Kafka's deleteOldSegments): deletes, oldest first,
   * whole segments below the log start offset, then (if cleanup.policy
   * includes delete) those beyond retention.bytes and those whose newest
   * record is older than retention.ms, and moves the log start offset to the
   * first segment left. An active segment past retention.ms is rolled so
   * that it can go too. The files are renamed `.deleted` and unlinked after
   * file.delete.delay.ms; file regions already handed out keep reading.
   * A LogManager runs this every retentionCheckIntervalMs and after a roll.
   */
  async applyRetention(): Promise<RetentionResult> {
    this.#checkOpen();
    try {
      const result = await wrap(this.#native.deleteOldSegments());
      if (result.deletedSegments > 0) this.#onRetention?.(this, result);
      return result;
    } finally {
      this.#scheduleFileDeletion();
    }
  }

  /**
   * One compaction pass (Kafka's Cleaner.clean), for cleanup.policy with
   * compact: the dirty part starts at `firstDirtyOffset` (the
   * cleaner-offset-checkpoint); the log is cleaned if its dirty ratio reaches
   * min.cleanable.dirty.ratio, or max.compaction.lag.ms has passed for its
   * oldest dirty record, or `force`. The rewrite runs on a thread of
   * `cleanerPool` (log.cleaner.threads), with the records of compressed
   * batches read and rebuilt here (src/log/compaction.ts); the result's
   * firstUncleanableOffset is the next first dirty offset. See
   * native/log_cleaner.h. A LogManager runs this every log.cleaner.backoff.ms.
   */
  clean(cleanerPool: NativeIoPool, firstDirtyOffset: number, options: CleanOptions = {}): Promise<CleanResult> {
    this.#checkOpen();
    checkOffset('firstDirtyOffset', firstDirtyOffset);
    // One cleaning of a log at a time: they would write the same `.cleaned` files.
    const run = this.#cleaning.then(() => this.#clean(cleanerPool, firstDirtyOffset, options));
    this.#cleaning = run.catch(() => undefined);
    return run;
  }

  async #clean(cleanerPool: NativeIoPool, firstDirtyOffset: number, options: CleanOptions): Promise<CleanResult> {
    this.#checkOpen();
    const c = this.#config;
    const never = (v: number) => (v >= NEVER ? 2 ** 63 : v);
    try {
      return await wrap(
        this.#native.clean(cleanerPool, {
          firstDirtyOffset,
          minCleanableRatio: c['min.cleanable.dirty.ratio'],
          minCompactionLagMs: never(c['min.compaction.lag.ms']),
          maxCompactionLagMs: never(c['max.compaction.lag.ms']),
          deleteRetentionMs: never(c['delete.retention.ms']),
          force: options.force === true,
          ...(options.nowMs === undefined ? {} : { nowMs: options.nowMs }),
        }, compressedBatchHandler(this.#compression)),
      );
    } finally {
      this.#scheduleFileDeletion();
    }
  }

  /** Whether cleanup.policy includes compact. */
  get compacted(): boolean {
    return this.#config['cleanup.policy'].split(',').includes('compact');
  }

  // After a roll: one retention pass at a time, and one more if a segment
  // rolled while it ran (it may not have seen that roll).
  #retentionAfterRoll(): void {
    if (this.#closed) return;
    if (this.#rollRetention) {
      this.#rollRetentionAgain = true;
      return;
    }
    this.#rollRetention = this.applyRetention()
      .catch((error: unknown) => {
        if (!this.#closed) console.error(`gregor: retention of ${this.name} after a roll failed: ${(error as Error).message}`);
      })
      .finally(() => {
        this.#rollRetention = undefined;
        if (this.#rollRetentionAgain) {
          this.#rollRetentionAgain = false;
          this.#retentionAfterRoll();
        }
      });
  }

  // file.delete.delay.ms: a timer per log for the earliest `.deleted` files
  // (the engine keeps their deadlines); it never keeps the process alive.
  #scheduleFileDeletion(): void {
    if (this.#closed) return;
    const due = this.#native.nextFileDeletionMs;
    if (due < 0 || due >= this.#fileDeletionAt) return;
    clearTimeout(this.#fileDeletionTimer);
    this.#fileDeletionAt = due;
    this.#fileDeletionTimer = setTimeout(
      () => {
        this.#fileDeletionTimer = undefined;
        this.#fileDeletionAt = Infinity;
        if (this.#closed) return;
        this.#native
          .deleteExpiredFiles()
          .catch((error: unknown) => {
            if (!this.#closed) console.error(`gregor: removing deleted segment files of ${this.name} failed: ${(error as Error).message}`);
          })
          .finally(() => this.#scheduleFileDeletion());
      },
      Math.min(Math.max(due - Date.now(), 0), TIMER_MS_MAX),
    );
    this.#fileDeletionTimer.unref();
  }

  /** Starts a new segment now (no-op if the active segment is empty). */
  async roll(): Promise<void> {
    this.#checkOpen();
    return wrap(this.#native.roll());
  }

  async segments(): Promise<SegmentInfo[]> {
    this.#checkOpen();
    return wrap(this.#native.segments());
  }

  /** Changes topic settings at runtime (applies to the next append and roll). */
  async setConfig(input: LogConfigInput): Promise<void> {
    this.#checkOpen();
    const config = resolveLogConfig(input, this.#config);
    await wrap(this.#native.setConfig(toNativeConfig(config)));
    this.#config = config;
    this.#compression = compressionPolicy(config);
    this.#scheduleFlush();
  }

  /** Flushes, trims the active segment's indexes and releases the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#flushTimer);
    clearTimeout(this.#fileDeletionTimer);
    this.#native.setRollListener(null);
    try {
      await wrap(this.#native.close(true));
    } finally {
      await this.#onClose?.(this);
    }
  }

  // flush.ms: a timer per log; it never keeps the process alive.
  #scheduleFlush(): void {
    clearInterval(this.#flushTimer);
    this.#flushTimer = undefined;
    const flushMs = this.#config['flush.ms'];
    if (flushMs >= NEVER) return;
    this.#flushTimer = setInterval(
      () => {
        if (this.#closed || this.recoveryPoint >= this.logEndOffset) return;
        this.#native.flush().catch((error: unknown) => {
          console.error(`gregor: scheduled flush of ${this.name} failed: ${(error as Error).message}`);
        });
      },
      Math.max(flushMs, 1),
    );
    this.#flushTimer.unref();
  }
}
