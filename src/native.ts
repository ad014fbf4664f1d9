// The one module that loads the C++ addon (native/binding.h describes its
// surface). Everything else imports the typed interface from here.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Engine-level log settings, already validated (see src/log/config.ts). */
export interface NativeLogConfig {
  segmentBytes: number;
  segmentMs: number;
  segmentIndexBytes: number;
  indexIntervalBytes: number;
  flushMessages: number;
  maxMessageBytes: number;
  logAppendTime: number;
  /** Negative: keep forever; above 9.2e18: INT64_MAX. */
  retentionMs: number;
  /** Negative: no size limit. */
  retentionBytes: number;
  /** 1 when cleanup.policy includes delete. */
  deletePolicy: number;
  fileDeleteDelayMs: number;
}

export interface NativeAppendResult {
  baseOffset: number;
  lastOffset: number;
  logAppendTime: number;
  recordCount: number;
  batchCount: number;
  /** The append started a new segment. */
  rolled: boolean;
}

export interface NativeRetentionResult {
  deletedSegments: number;
  deletedBytes: number;
  /** Segments wholly below the log start offset. */
  belowLogStartOffset: number;
  bySize: number;
  byTime: number;
  /** The active segment was past retention and was rolled so that it could go. */
  rolled: boolean;
}

export interface NativeTimestampOffset {
  offset: number;
  timestamp: number;
}

export interface NativeSegmentInfo {
  baseOffset: number;
  nextOffset: number;
  sizeBytes: number;
  maxTimestamp: number;
}

export interface NativeFileRegion {
  readonly fd: number;
  readonly position: number;
  readonly length: number;
  readonly firstOffset: number;
  release(): void;
}

export interface NativeLog {
  append(batches: Uint8Array, keepOffsets: boolean, durable: boolean): Promise<NativeAppendResult>;
  read(offset: number, maxBytes: number): Promise<Buffer>;
  readRegion(offset: number, maxBytes: number): Promise<NativeFileRegion | null>;
  offsetForTimestamp(timestamp: number): Promise<NativeTimestampOffset | null>;
  offsetOfMaxTimestamp(): Promise<NativeTimestampOffset | null>;
  truncateTo(offset: number): Promise<void>;
  deleteRecordsBefore(offset: number): Promise<void>;
  deleteOldestSegments(count: number): Promise<number>;
  deleteOldSegments(): Promise<NativeRetentionResult>;
  deleteExpiredFiles(): Promise<void>;
  /** Compaction: plan on the io thread, rewrite on a thread of `cleanerPool`, swap on the io thread. */
  clean(
    cleanerPool: NativeIoPool,
    options: NativeCleanOptions,
    compressed?: { keys(batches: Buffer[]): Promise<Buffer>; rebuild(keep: Buffer): Promise<(Buffer | null)[]> },
  ): Promise<NativeCleanResult>;
  /** `listener` runs when an append has started a new segment (before its Promise resolves). */
  setRollListener(listener: (() => void) | null): void;
  roll(): Promise<void>;
  flush(): Promise<void>;
  segments(): Promise<NativeSegmentInfo[]>;
  setConfig(config: NativeLogConfig): Promise<void>;
  close(clean: boolean): Promise<void>;
  readonly logStartOffset: number;
  readonly logEndOffset: number;
  readonly recoveryPoint: number;
  readonly sizeBytes: number;
  readonly recoveredTruncatedBytes: number;
  /** When the next renamed (`.deleted`) segment files are due for unlinking, -1 if none wait. */
  readonly nextFileDeletionMs: number;
}

export interface NativeCleanOptions {
  /** Where the dirty (never cleaned) part of the log starts: the cleaner-offset-checkpoint entry. */
  firstDirtyOffset: number;
  minCleanableRatio: number;
  minCompactionLagMs: number;
  /** Above 9.2e18: never. */
  maxCompactionLagMs: number;
  deleteRetentionMs: number;
  /** Clean whatever is cleanable, whatever the dirty ratio. */
  force?: boolean;
  /** The cleaner's clock (default: the wall clock). */
  nowMs?: number;
}

export interface NativeCleanResult {
  /** Whether the log was cleaned (false: nothing cleanable, or below the ratio and the lag). */
  cleaned: boolean;
  firstDirtyOffset: number;
  /** The end of the cleanable range: the next first dirty offset once cleaned. */
  firstUncleanableOffset: number;
  cleanBytes: number;
  dirtyBytes: number;
  dirtyRatio: number;
  maxLagExceeded: boolean;
  groups: number;
  bytesRead: number;
  bytesWritten: number;
  recordsRead: number;
  recordsKept: number;
  tombstonesRemoved: number;
  keys: number;
  segmentsSwapped: number;
  mapMs: number;
  rewriteMs: number;
}

export interface NativeIoPool {
  openLog(
    dir: string,
    config: NativeLogConfig,
    recoveryPoint: number,
    logStartOffset: number,
    clean: boolean,
  ): Promise<NativeLog>;
  writeFileAtomic(path: string, contents: Uint8Array): Promise<void>;
  /** Takes an exclusive flock on `path` (created if absent); resolves to the descriptor holding it. */
  lockFile(path: string): Promise<number>;
  unlockFile(fd: number): void;
  close(): void;
  readonly threads: number;
}

export interface NativeBinding {
  IoPool: new (threads: number) => NativeIoPool;
  crc32c(bytes: Uint8Array): number;
  crc32cImplementation(): string;
  setFaultProbe(name: FaultProbeName, count: number): void;
}

/** Storage steps that tests can make fail on purpose. */
export type FaultProbeName = 'append' | 'fsync' | 'roll' | 'truncate' | 'index-trim' | 'delete' | 'clean-swap';

function findAddon(): string {
  // src/native.ts and dist/native.js both sit one level below the package root.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [
    process.env.GREGOR_NATIVE_ADDON,
    join(root, 'build', 'Release', 'gregor_native.node'),
    join(root, 'build', 'Debug', 'gregor_native.node'),
  ];
  for (const candidate of candidates) {
    if (candidate !== undefined && existsSync(candidate)) return candidate;
  }
  throw new Error(
    `Gregor's native addon is not built (looked for ${candidates.filter(Boolean).join(', ')}); run \`npm install\` or \`npm run build\``,
  );
}

const require = createRequire(import.meta.url);
export const native: NativeBinding = require(findAddon()) as NativeBinding;
