// Runs the built `gregor` command-line tool (dist/cli/main.js) as a user would.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs `gregor args...`; resolves with its output and exit code, and rejects if it hung or was killed. */
export async function gregor(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { timeout: 30_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number | null; killed?: boolean; signal?: string | null };
    if (e.killed || e.signal || typeof e.code !== 'number') {
      throw new Error(`gregor ${args.join(' ')} did not finish (${e.signal ?? 'killed'}): ${e.stderr}`);
    }
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** Runs `gregor args...` and returns its stdout; rejects unless it exits 0 (so checks for absence mean something). */
export async function gregorOk(...args: string[]): Promise<string> {
  const result = await gregor(...args);
  if (result.code !== 0) throw new Error(`gregor ${args.join(' ')} exited with ${result.code}: ${result.stderr}`);
  return result.stdout;
}
