// LogManager: many partition logs under one log directory, Kafka's layout:
//
//   <dir>/.lock                             exclusive flock while open: a second process fails fast
//   <dir>/.kafka_cleanshutdown              present only after a clean close
//   <dir>/recovery-point-offset-checkpoint  per partition: offset below which data is fsynced
//   <dir>/log-start-offset-checkpoint       per partition: first readable offset
//   <dir>/cleaner-offset-checkpoint         per compacted partition: where its dirty (never cleaned) part starts
//   <dir>/<topic>-<partition>/...           one partition log each
//
// At open, a missing clean-shutdown marker means the previous process died:
// each log then rescans everything after its checkpointed recovery point. The
// marker is removed before any write, and written again by close() after
// every log has been flushed and the checkpoints saved.
//
// The manager owns the native io thread pool (num.io.threads); each log is
// pinned to one of its threads. It also runs retention (Log.applyRetention)
// over every open log each retentionCheckIntervalMs (Kafka's
// log.retention.check.interval.ms); logs check again when a segment rolls.
// With the cleaner enabled it also owns the cleaner threads
// (log.cleaner.threads, a second native pool) and compacts every log whose
// cleanup.policy includes compact each log.cleaner.backoff.ms (Log.clean).
import { access, mkdir, open as openFile, readdir, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { toLogError } from '../errors.js';
import { native, type NativeIoPool } from '../native.js';
import { formatCheckpoint, partitionDirName, readCheckpoint, type PartitionKey } from './checkpoint.js';
import { resolveLogConfig, toNativeConfig, type LogConfig, type LogConfigInput } from './config.js';
import { Log, type CleanOptions, type CleanResult, type RetentionResult } from './log.js';

export const CLEAN_SHUTDOWN_FILE = '.kafka_cleanshutdown';
/** Kafka's lock file: held (flock) while a process has the directory open. */
export const LOCK_FILE = '.lock';
export const RECOVERY_POINT_CHECKPOINT_FILE = 'recovery-point-offset-checkpoint';
export const LOG_START_OFFSET_CHECKPOINT_FILE = 'log-start-offset-checkpoint';
export const CLEANER_OFFSET_CHECKPOINT_FILE = 'cleaner-offset-checkpoint';

export interface CleanerOptions {
  /** log.cleaner.enable (default true). */
  enable?: boolean;
  /** log.cleaner.threads: native threads rewriting logs (default 1). */
  threads?: number;
  /** log.cleaner.backoff.ms: how often every compacted log is considered (default 15000). */
  backoffMs?: number;
}

export interface LogManagerOptions {
  /** num.io.threads: native threads doing all log I/O (default 8, Kafka's). */
  ioThreads?: number;
  /** Topic config defaults for logs opened without their own. */
  defaultConfig?: LogConfigInput;
  /** log.flush.offset.checkpoint.interval.ms: how often checkpoints are written (default 60000). */
  checkpointIntervalMs?: number;
  /** Close the manager (clean shutdown) when its last open log closes. */
  closeWhenEmpty?: boolean;
  /** log.retention.check.interval.ms: how often retention runs over every log (default 300000). */
  retentionCheckIntervalMs?: number;
  /** Called after a retention pass (periodic or after a roll) deleted segments of `log`. */
  onRetention?: (log: Log, result: RetentionResult) => void;
  /** The log cleaner (compaction). */
  cleaner?: CleanerOptions;
  /** Called after a compaction pass cleaned `log`. */
  onClean?: (log: Log, result: CleanResult) => void;
}

const IO_THREADS_DEFAULT = 8;
const CHECKPOINT_INTERVAL_MS_DEFAULT = 60_000;
const RETENTION_CHECK_INTERVAL_MS_DEFAULT = 300_000;
const CLEANER_BACKOFF_MS_DEFAULT = 15_000;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function checkDirName(name: string): void {
  if (name.length === 0 || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || /\s/.test(name)) {
    throw new RangeError(`invalid log name ${JSON.stringify(name)}: it becomes a directory name (no slashes or whitespace)`);
  }
}

export class LogManager {
  readonly dir: string;
  /** Whether the previous process closed this directory cleanly. */
  readonly previousShutdownClean: boolean;
  readonly defaultConfig: Readonly<LogConfig>;
  #pool: NativeIoPool;
  #logs = new Map<string, Log>();
  #opening = new Map<string, Promise<Log>>();
  #recoveryPoints: Map<string, number>;
  #logStartOffsets: Map<string, number>;
  #checkpointTimer: NodeJS.Timeout;
  #closed = false;
  #closeWhenEmpty: boolean;
  #lockFd: number;
  #closing: Promise<void> | undefined;
  #checkpointChain: Promise<void> = Promise.resolve();
  #retentionTimer: NodeJS.Timeout;
  #retentionRun: Promise<void> | undefined;
  #onRetention: ((log: Log, result: RetentionResult) => void) | undefined;
  #cleanerPool: NativeIoPool | undefined;
  #cleanerThreads = 1;
  #cleanerOffsets = new Map<string, number>();
  #cleanerTimer: NodeJS.Timeout | undefined;
  #cleanerRun: Promise<void> | undefined;
  #onClean: ((log: Log, result: CleanResult) => void) | undefined;

  private constructor(
    dir: string,
    clean: boolean,
    pool: NativeIoPool,
    defaultConfig: LogConfig,
    recoveryPoints: Map<string, number>,
    logStartOffsets: Map<string, number>,
    checkpointIntervalMs: number,
    closeWhenEmpty: boolean,
    lockFd: number,
    retentionCheckIntervalMs: number,
    onRetention: ((log: Log, result: RetentionResult) => void) | undefined,
  ) {
    this.#lockFd = lockFd;
    this.#closeWhenEmpty = closeWhenEmpty;
    this.dir = dir;
    this.previousShutdownClean = clean;
    this.#pool = pool;
    this.defaultConfig = defaultConfig;
    this.#recoveryPoints = recoveryPoints;
    this.#logStartOffsets = logStartOffsets;
    this.#checkpointTimer = setInterval(() => {
      this.checkpoint().catch((error: unknown) => {
        console.error(`gregor: writing checkpoints in ${this.dir} failed: ${(error as Error).message}`);
      });
    }, checkpointIntervalMs);
    this.#checkpointTimer.unref();
    this.#onRetention = onRetention;
    this.#retentionTimer = setInterval(() => {
      this.checkRetention().catch((error: unknown) => {
        console.error(`gregor: retention in ${this.dir} failed: ${(error as Error).message}`);
      });
    }, Math.min(retentionCheckIntervalMs, 2 ** 31 - 1));
    this.#retentionTimer.unref();
  }

  #startCleaner(options: CleanerOptions, offsets: Map<string, number>, onClean: ((log: Log, result: CleanResult) => void) | undefined): void {
    this.#cleanerOffsets = offsets;
    this.#onClean = onClean;
    if (options.enable === false) return;
    this.#cleanerThreads = options.threads ?? 1;
    this.#cleanerPool = new native.IoPool(this.#cleanerThreads);
    this.#cleanerTimer = setInterval(() => {
      this.cleanLogs().catch((error: unknown) => {
        console.error(`gregor: compaction in ${this.dir} failed: ${(error as Error).message}`);
      });
    }, Math.min(options.backoffMs ?? CLEANER_BACKOFF_MS_DEFAULT, 2 ** 31 - 1));
    this.#cleanerTimer.unref();
  }

  static async open(dir: string, options: LogManagerOptions = {}): Promise<LogManager> {
    const ioThreads = options.ioThreads ?? IO_THREADS_DEFAULT;
    if (!Number.isInteger(ioThreads) || ioThreads < 1 || ioThreads > 256) {
      throw new RangeError(`ioThreads (num.io.threads) must be an integer between 1 and 256, got ${ioThreads}`);
    }
    const checkpointIntervalMs = options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS_DEFAULT;
    if (!Number.isInteger(checkpointIntervalMs) || checkpointIntervalMs < 1) {
      throw new RangeError(`checkpointIntervalMs must be a positive integer, got ${checkpointIntervalMs}`);
    }
    const retentionCheckIntervalMs = options.retentionCheckIntervalMs ?? RETENTION_CHECK_INTERVAL_MS_DEFAULT;
    if (!Number.isSafeInteger(retentionCheckIntervalMs) || retentionCheckIntervalMs < 1) {
      throw new RangeError(`retentionCheckIntervalMs must be a positive integer, got ${retentionCheckIntervalMs}`);
    }
    const cleaner = options.cleaner ?? {};
    if (cleaner.threads !== undefined && (!Number.isInteger(cleaner.threads) || cleaner.threads < 1 || cleaner.threads > 256)) {
      throw new RangeError(`cleaner.threads (log.cleaner.threads) must be an integer between 1 and 256, got ${cleaner.threads}`);
    }
    if (cleaner.backoffMs !== undefined && (!Number.isSafeInteger(cleaner.backoffMs) || cleaner.backoffMs < 1)) {
      throw new RangeError(`cleaner.backoffMs (log.cleaner.backoff.ms) must be a positive integer, got ${cleaner.backoffMs}`);
    }
    const defaultConfig = resolveLogConfig(options.defaultConfig ?? {});
    const root = resolve(dir);
    await mkdir(root, { recursive: true });
    const pool = new native.IoPool(ioThreads);
    let lockFd: number;
    let clean: boolean;
    let recoveryPoints: Map<string, number>;
    let logStartOffsets: Map<string, number>;
    let cleanerOffsets: Map<string, number>;
    try {
      // Before anything is read: another process writing here would corrupt both.
      lockFd = await pool.lockFile(join(root, LOCK_FILE));
      const markerPath = join(root, CLEAN_SHUTDOWN_FILE);
      clean = await exists(markerPath);
      recoveryPoints = await readCheckpoint(join(root, RECOVERY_POINT_CHECKPOINT_FILE));
      logStartOffsets = await readCheckpoint(join(root, LOG_START_OFFSET_CHECKPOINT_FILE));
      cleanerOffsets = await readCheckpoint(join(root, CLEANER_OFFSET_CHECKPOINT_FILE));
      if (clean) {
        // From here on the directory is in use: a crash must not look clean.
        await unlink(markerPath);
        await syncDirectory(root);
      }
    } catch (error) {
      pool.close(); // closing the pool also releases a lock it took
      throw toLogError(error);
    }
    const manager = new LogManager(
      root,
      clean,
      pool,
      defaultConfig,
      recoveryPoints,
      logStartOffsets,
      checkpointIntervalMs,
      options.closeWhenEmpty === true,
      lockFd,
      retentionCheckIntervalMs,
      options.onRetention,
    );
    manager.#startCleaner(cleaner, cleanerOffsets, options.onClean);
    return manager;
  }

  /** Names of the partition directories present on disk. */
  async listLogDirs(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  }

  /** The open log of that name, if any. */
  get(name: string | PartitionKey): Log | undefined {
    return this.#logs.get(typeof name === 'string' ? name : partitionDirName(name));
  }

  get logs(): ReadonlyMap<string, Log> {
    return this.#logs;
  }

  /**
   * Opens (creating if needed) the log in `<dir>/<name>`, where name is
   * usually `<topic>-<partition>`. Opening an open log returns it.
   */
  async openLog(name: string | PartitionKey, config?: LogConfigInput): Promise<Log> {
    if (this.#closed) throw new Error(`log manager for ${this.dir} is closed`);
    const dirName = typeof name === 'string' ? name : partitionDirName(name);
    checkDirName(dirName);
    const open = this.#logs.get(dirName);
    if (open) return open;
    const pending = this.#opening.get(dirName);
    if (pending) return pending;
    const resolved = resolveLogConfig(config ?? {}, this.defaultConfig);
    const opening = this.#openLog(dirName, resolved).finally(() => this.#opening.delete(dirName));
    this.#opening.set(dirName, opening);
    return opening;
  }

  async #openLog(dirName: string, config: LogConfig): Promise<Log> {
    const logDir = join(this.dir, dirName);
    const recoveryPoint = this.#recoveryPoints.get(dirName) ?? 0;
    const logStartOffset = this.#logStartOffsets.get(dirName) ?? 0;
    const nativeLog = await this.#pool.openLog(
      logDir,
      toNativeConfig(config),
      recoveryPoint,
      logStartOffset,
      this.previousShutdownClean,
    );
    const log = new Log(logDir, dirName, nativeLog, config, (closed) => this.#forget(closed), (l, result) => this.#onRetention?.(l, result));
    this.#logs.set(dirName, log);
    return log;
  }

  async #forget(log: Log): Promise<void> {
    if (this.#logs.get(log.name) === log) {
      this.#logs.delete(log.name);
      this.#recoveryPoints.set(log.name, log.recoveryPoint);
      this.#logStartOffsets.set(log.name, log.logStartOffset);
    }
    if (this.#closeWhenEmpty && this.#logs.size === 0 && this.#opening.size === 0 && !this.#closed) {
      await this.close();
    }
  }

  /** Closes the log if open and deletes its directory and checkpoint entries. */
  async deleteLog(name: string | PartitionKey): Promise<void> {
    const dirName = typeof name === 'string' ? name : partitionDirName(name);
    checkDirName(dirName);
    await this.#logs.get(dirName)?.close();
    await rm(join(this.dir, dirName), { recursive: true, force: true });
    this.#recoveryPoints.delete(dirName);
    this.#logStartOffsets.delete(dirName);
    if (this.#cleanerOffsets.delete(dirName)) await this.#writeCleanerCheckpoint();
    await this.checkpoint();
  }

  /**
   * One retention pass over every open log (Log.applyRetention), as the
   * timer runs it; a call while one runs waits for that one. Rejects with
   * the first failure after every log has been tried.
   */
  checkRetention(): Promise<void> {
    this.#retentionRun ??= this.#checkRetention().finally(() => {
      this.#retentionRun = undefined;
    });
    return this.#retentionRun;
  }

  async #checkRetention(): Promise<void> {
    const logs = [...this.#logs.values()].filter((log) => !log.closed);
    const results = await Promise.allSettled(logs.map((log) => log.applyRetention()));
    const failed = results.find((r, i): r is PromiseRejectedResult => r.status === 'rejected' && !logs[i]!.closed);
    if (failed) throw failed.reason;
  }

  /**
   * One compaction pass over every open log whose cleanup.policy includes
   * compact (Log.clean), up to log.cleaner.threads logs at a time, as the
   * timer runs it; a call while one runs waits for that one (and `options`
   * then do not apply). Rejects with the first failure after every log has
   * been tried.
   */
  cleanLogs(options: CleanOptions = {}): Promise<void> {
    this.#cleanerRun ??= this.#cleanLogs(options).finally(() => {
      this.#cleanerRun = undefined;
    });
    return this.#cleanerRun;
  }

  async #cleanLogs(options: CleanOptions): Promise<void> {
    if (this.#cleanerPool === undefined) return;
    const queue = [...this.#logs.values()].filter((log) => !log.closed && log.compacted);
    let failure: unknown;
    const worker = async () => {
      for (let log = queue.shift(); log !== undefined; log = queue.shift()) {
        try {
          await this.cleanLog(log, options);
        } catch (error) {
          if (!log.closed) failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: this.#cleanerThreads }, worker));
    if (failure !== undefined) throw failure;
  }

  /** One compaction pass of `log` (whatever its cleanup.policy), with its cleaner-offset-checkpoint entry. */
  async cleanLog(log: Log, options: CleanOptions = {}): Promise<CleanResult> {
    if (this.#cleanerPool === undefined) throw new Error(`the log cleaner of ${this.dir} is disabled (log.cleaner.enable=false)`);
    const result = await log.clean(this.#cleanerPool, this.#cleanerOffsets.get(log.name) ?? 0, options);
    if (result.cleaned) {
      this.#cleanerOffsets.set(log.name, result.firstUncleanableOffset);
      await this.#writeCleanerCheckpoint();
      this.#onClean?.(log, result);
    }
    return result;
  }

  /** The cleaner-offset-checkpoint entry of a log: where its dirty part starts (undefined: never cleaned). */
  cleanerOffset(name: string): number | undefined {
    return this.#cleanerOffsets.get(name);
  }

  #writeCleanerCheckpoint(): Promise<void> {
    const run = this.#checkpointChain.then(() =>
      this.#pool.writeFileAtomic(join(this.dir, CLEANER_OFFSET_CHECKPOINT_FILE), formatCheckpoint(this.#cleanerOffsets)),
    );
    this.#checkpointChain = run.catch(() => undefined);
    return run;
  }

  /** Replaces `path` atomically (temp file, fsync, rename, fsync directory) on an io thread. */
  writeFileAtomic(path: string, contents: Buffer): Promise<void> {
    return this.#pool.writeFileAtomic(path, contents);
  }

  /** Writes both checkpoint files from the open logs' current values. */
  checkpoint(): Promise<void> {
    // One writer at a time: both files share their temp names.
    const run = this.#checkpointChain.then(() => this.#writeCheckpoints());
    this.#checkpointChain = run.catch(() => undefined);
    return run;
  }

  async #writeCheckpoints(): Promise<void> {
    for (const [name, log] of this.#logs) {
      if (log.closed) continue;
      this.#recoveryPoints.set(name, log.recoveryPoint);
      this.#logStartOffsets.set(name, log.logStartOffset);
    }
    await this.#pool.writeFileAtomic(join(this.dir, RECOVERY_POINT_CHECKPOINT_FILE), formatCheckpoint(this.#recoveryPoints));
    await this.#pool.writeFileAtomic(join(this.dir, LOG_START_OFFSET_CHECKPOINT_FILE), formatCheckpoint(this.#logStartOffsets));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Clean shutdown: closes every log (flush + trimmed indexes), writes the
   * checkpoints, then the clean-shutdown marker, then stops the io threads.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#checkpointTimer);
    clearInterval(this.#retentionTimer);
    clearInterval(this.#cleanerTimer);
    await this.#cleanerRun?.catch(() => undefined);
    await Promise.allSettled([...this.#opening.values()]);
    const results = await Promise.allSettled([...this.#logs.values()].map((log) => log.close()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    try {
      await this.checkpoint();
      if (failed.length === 0) {
        await this.#pool.writeFileAtomic(join(this.dir, CLEAN_SHUTDOWN_FILE), Buffer.alloc(0));
      }
    } finally {
      this.#pool.unlockFile(this.#lockFd);
      this.#cleanerPool?.close();
      this.#pool.close();
    }
    if (failed.length > 0) {
      throw new Error(`closing ${failed.length} log(s) in ${this.dir} failed; the next open will recover: ${(failed[0]!.reason as Error).message}`);
    }
  }
}
