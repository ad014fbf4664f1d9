// Log: the TypeScript face of one partition's native log. Every operation
// that touches disk runs on the partition's io thread and returns a Promise;
// the offsets are plain getters over values the engine publishes atomically.
import { LogError, toLogError } from '../errors.js';
import type { NativeFileRegion, NativeLog, NativeRetentionResult, NativeSegmentInfo } from '../native.js';
import { NEVER, resolveLogConfig, toNativeConfig, type LogConfig, type LogConfigInput } from './config.js';

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
    return wrap(this.#native.append(batches, false, options.durable === true));
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
    if (timestamp === MAX_TIMESTAMP) return wrap(this.#native.offsetOfMaxTimestamp());
    if (timestamp < 0) throw new RangeError(`timestamp ${timestamp} is neither a time nor -1, -2 or -3`);
    return wrap(this.#native.offsetForTimestamp(timestamp));
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
