// A Gregor broker as a separate program (`node dist/cli/main.js broker`), for
// tests that must SIGKILL it. The port is picked once and kept across
// restarts, so clients can reconnect to the same address.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

/** A port that was free a moment ago (the OS picks it; the probe socket is closed again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts `gregor broker` with these overrides; resolves once it logs that it started. */
export function spawnBroker(overrides: Record<string, string | number>): Promise<ChildProcess> {
  const args = Object.entries(overrides).flatMap(([k, v]) => ['--override', `${k}=${v}`]);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'broker', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('Gregor broker started')) resolve(child);
    });
    child.on('exit', (code, signal) => reject(new Error(`broker exited with ${code ?? signal} before it started: ${stderr}`)));
  });
}

/** Sends `signal` (if the process still runs) and resolves with its exit code once it has exited. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}
