// openLog(dir): one partition log for embedding, without managing a
// LogManager yourself. The log's directory-level files (checkpoints and the
// clean-shutdown marker) live in its parent directory, as in a Kafka log
// directory, through a LogManager shared by every log opened under the same
// parent in this process; it closes cleanly when its last log closes.
import { basename, dirname, resolve } from 'node:path';

import type { LogConfigInput } from './config.js';
import type { Log } from './log.js';
import { LogManager } from './log-manager.js';

export interface OpenLogOptions {
  /** num.io.threads for the shared manager, if this call creates it (default 8). */
  ioThreads?: number;
  /** log.retention.check.interval.ms for the shared manager, if this call creates it (default 300000). */
  retentionCheckIntervalMs?: number;
}

interface SharedManager {
  manager: Promise<LogManager>;
}

const shared = new Map<string, SharedManager>();

export async function openLog(dir: string, config: LogConfigInput = {}, options: OpenLogOptions = {}): Promise<Log> {
  const logDir = resolve(dir);
  const parent = dirname(logDir);
  for (;;) {
    let entry = shared.get(parent);
    if (!entry) {
      entry = { manager: LogManager.open(parent, { ioThreads: options.ioThreads, retentionCheckIntervalMs: options.retentionCheckIntervalMs, closeWhenEmpty: true }) };
      shared.set(parent, entry);
      entry.manager.catch(() => shared.delete(parent));
    }
    const manager = await entry.manager;
    if (manager.closed) {
      // Closing: let it finish writing its marker before a new manager reads it.
      if (shared.get(parent) === entry) shared.delete(parent);
      await manager.close().catch(() => undefined);
      continue;
    }
    return manager.openLog(basename(logDir), config);
  }
}
