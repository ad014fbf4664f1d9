// Small helpers shared by the integration tests: reading a topic with kcat
// (librdkafka's consumer, JSON output) and waiting for a condition.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One record as `kcat -J` prints it. */
export interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  tstype: string;
  ts: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

/**
 * Reads `topic` to its end with kcat. `args` are extra kcat flags, such as
 * `-p 0` or `-o 3`; without an `-o`, it reads from the beginning.
 */
export async function kcatConsume(bootstrap: string, topic: string, args: string[] = [], timeoutMs = 60_000): Promise<KcatMessage[]> {
  const from = args.includes('-o') ? [] : ['-o', 'beginning'];
  const { stdout } = await run('kcat', ['-b', bootstrap, '-C', '-t', topic, ...from, ...args, '-e', '-J', '-q'], { timeout: timeoutMs, maxBuffer: 256 << 20 });
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as KcatMessage);
}

/** Polls `condition` every 50 ms; throws naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
