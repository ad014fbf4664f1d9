// Kafka's offset checkpoint files (recovery-point-offset-checkpoint,
// log-start-offset-checkpoint): text, one value per line:
//
//   0                      format version
//   <N>                    number of entries
//   <topic> <partition> <offset>     N lines
//
// Written with write-temp, fsync, rename, fsync directory (the addon does the
// I/O on an io thread), so a crash leaves either the old or the new file.
import { readFile } from 'node:fs/promises';

export const CHECKPOINT_VERSION = 0;

/** Key of a partition directory: `<topic>-<partition>` as Kafka names them. */
export interface PartitionKey {
  topic: string;
  partition: number;
}

/** Splits a partition directory name; names without a `-<n>` suffix get partition -1. */
export function parsePartitionDirName(name: string): PartitionKey {
  const match = /^(.+)-(\d+)$/.exec(name);
  if (match) return { topic: match[1]!, partition: Number(match[2]) };
  return { topic: name, partition: -1 };
}

export function partitionDirName(key: PartitionKey): string {
  return key.partition < 0 ? key.topic : `${key.topic}-${key.partition}`;
}

export function formatCheckpoint(entries: Map<string, number>): Buffer {
  const lines = [String(CHECKPOINT_VERSION), String(entries.size)];
  for (const [dirName, offset] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const { topic, partition } = parsePartitionDirName(dirName);
    lines.push(`${topic} ${partition} ${offset}`);
  }
  return Buffer.from(lines.join('\n') + '\n');
}

/**
 * Parses a checkpoint into directory name -> offset. A missing file is an
 * empty checkpoint; a malformed one throws with the line that is wrong.
 */
export async function readCheckpoint(path: string): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  const lines = text.split('\n').filter((line) => line.length > 0);
  const fail = (why: string): never => {
    throw new Error(`Malformed checkpoint file ${path}: ${why}`);
  };
  if (lines[0] !== String(CHECKPOINT_VERSION)) fail(`unsupported version ${JSON.stringify(lines[0])}`);
  const count = Number(lines[1]);
  if (!Number.isInteger(count) || count < 0) fail(`bad entry count ${JSON.stringify(lines[1])}`);
  if (lines.length !== count + 2) fail(`expected ${count} entries, found ${lines.length - 2}`);
  const entries = new Map<string, number>();
  for (const line of lines.slice(2)) {
    // Topic names cannot contain spaces; the last two fields are numbers.
    const match = /^(\S+) (-?\d+) (-?\d+)$/.exec(line);
    if (!match) fail(`bad entry ${JSON.stringify(line)}`);
    const [, topic, partition, offset] = match!;
    entries.set(partitionDirName({ topic: topic!, partition: Number(partition) }), Number(offset));
  }
  return entries;
}
