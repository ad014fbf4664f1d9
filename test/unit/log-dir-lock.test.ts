// A log directory is held with Kafka's `.lock` (an exclusive flock) while it
// is open: a second opener fails fast with a clear error and changes nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { LogManager, LogError, encodeRecordBatch } from '../../src/index.js';

describe('log directory lock', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a second LogManager on an open directory and allows it once closed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gregor-lock-'));
    const first = await LogManager.open(dir, { ioThreads: 1 });
    const log = await first.openLog('t-0');
    await log.append(encodeRecordBatch([{ value: 'kept' }]));
    const second = LogManager.open(dir, { ioThreads: 1 });
    await expect(second).rejects.toBeInstanceOf(LogError);
    await expect(second).rejects.toThrow(/Failed to acquire lock on .*\.lock/);
    await first.close();
    // The clean-shutdown marker of the first manager is still there: the refused open wrote nothing.
    const third = await LogManager.open(dir, { ioThreads: 1 });
    try {
      expect(third.previousShutdownClean).toBe(true);
      expect((await third.openLog('t-0')).logEndOffset).toBe(1);
    } finally {
      await third.close();
    }
  });

  it('refuses a directory another process holds, and takes it once that process is killed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gregor-lock-'));
    const script = `import('${join(import.meta.dirname, '../../dist/index.js')}').then(async ({ LogManager }) => {
      await LogManager.open(process.argv[1], { ioThreads: 1 });
      console.log('locked');
      setInterval(() => {}, 1000);
    });`;
    const child = spawn(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve()));
      await expect(LogManager.open(dir, { ioThreads: 1 })).rejects.toThrow(/another process/);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
    }
    const manager = await LogManager.open(dir, { ioThreads: 1 });
    expect(manager.previousShutdownClean).toBe(false);
    await manager.close();
  });
});
