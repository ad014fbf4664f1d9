// Topic metadata of a single-node broker, kept under the log directory so it
// survives restarts without any other service:
//
//   <log dir>/gregor-topics.json           every topic: id, partitions, replication factor, config overrides
//   <log dir>/<topic>-<p>/partition.metadata   Kafka's file: "version: 0" and "topic_id: <base64url id>"
//
// The JSON file is replaced atomically (temp, fsync, rename, fsync dir) after
// every change; a change is acknowledged only after that write.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const TOPICS_FILE = 'gregor-topics.json';
export const PARTITION_METADATA_FILE = 'partition.metadata';

/** Kafka's topic-name rule: 1-249 characters of [a-zA-Z0-9._-], not "." or "..". */
export const TOPIC_NAME_LENGTH_MAX = 249;

export function topicNameError(name: string): string | undefined {
  if (name.length === 0) return 'Topic name is illegal, it can\'t be empty';
  if (name === '.' || name === '..') return 'Topic name cannot be "." or ".."';
  if (name.length > TOPIC_NAME_LENGTH_MAX) return `Topic name is illegal, it can't be longer than ${TOPIC_NAME_LENGTH_MAX} characters`;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return undefined;
}

export interface TopicRecord {
  name: string;
  /** 16 bytes, as Kafka's Uuid; base64url in files and logs. */
  id: Buffer;
  partitions: number;
  replicationFactor: number;
  /** Topic-level overrides, Kafka names, string values. */
  configs: Record<string, string>;
}

interface TopicFileEntry {
  name: string;
  id: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

export function newTopicId(): Buffer {
  // Kafka never hands out the all-zero id (Uuid.ZERO_UUID) or ids starting with '-' in base64.
  for (;;) {
    const id = randomBytes(16);
    if (!id.equals(Buffer.alloc(16)) && !id.toString('base64url').startsWith('-')) return id;
  }
}

export function formatPartitionMetadata(id: Buffer): Buffer {
  return Buffer.from(`version: 0\ntopic_id: ${id.toString('base64url')}\n`);
}

export type AtomicWriter = (path: string, contents: Buffer) => Promise<void>;

export class TopicStore {
  #topics = new Map<string, TopicRecord>();
  #byId = new Map<string, TopicRecord>();
  #write: AtomicWriter;
  #dir: string;
  #chain: Promise<void> = Promise.resolve();

  private constructor(dir: string, write: AtomicWriter) {
    this.#dir = dir;
    this.#write = write;
  }

  static async open(dir: string, write: AtomicWriter): Promise<TopicStore> {
    const store = new TopicStore(dir, write);
    let text: string | undefined;
    try {
      text = await readFile(join(dir, TOPICS_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      let entries: TopicFileEntry[];
      try {
        entries = (JSON.parse(text) as { topics: TopicFileEntry[] }).topics;
      } catch (error) {
        throw new Error(`Topic metadata ${join(dir, TOPICS_FILE)} is not valid JSON: ${(error as Error).message}`);
      }
      for (const e of entries) {
        store.#add({ name: e.name, id: Buffer.from(e.id, 'base64url'), partitions: e.partitions, replicationFactor: e.replicationFactor, configs: e.configs ?? {} });
      }
    }
    return store;
  }

  #add(topic: TopicRecord): void {
    this.#topics.set(topic.name, topic);
    this.#byId.set(topic.id.toString('hex'), topic);
  }

  get(name: string): TopicRecord | undefined {
    return this.#topics.get(name);
  }
  getById(id: Buffer): TopicRecord | undefined {
    return this.#byId.get(id.toString('hex'));
  }
  all(): TopicRecord[] {
    return [...this.#topics.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Persists the whole set; concurrent changes are written one after another. */
  #persist(): Promise<void> {
    const run = this.#chain.then(() => {
      const entries: TopicFileEntry[] = this.all().map((t) => ({
        name: t.name,
        id: t.id.toString('base64url'),
        partitions: t.partitions,
        replicationFactor: t.replicationFactor,
        configs: t.configs,
      }));
      return this.#write(join(this.#dir, TOPICS_FILE), Buffer.from(JSON.stringify({ version: 1, topics: entries }, null, 1) + '\n'));
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async create(topic: Omit<TopicRecord, 'id'> & { id?: Buffer }): Promise<TopicRecord> {
    if (this.#topics.has(topic.name)) throw new Error(`Topic '${topic.name}' already exists.`);
    const record: TopicRecord = { ...topic, id: topic.id ?? newTopicId() };
    this.#add(record);
    await this.#persist();
    return record;
  }

  async update(name: string, change: Partial<Pick<TopicRecord, 'partitions' | 'configs'>>): Promise<TopicRecord> {
    const topic = this.#topics.get(name);
    if (!topic) throw new Error(`Topic '${name}' does not exist.`);
    if (change.partitions !== undefined) topic.partitions = change.partitions;
    if (change.configs !== undefined) topic.configs = change.configs;
    await this.#persist();
    return topic;
  }

  async delete(name: string): Promise<TopicRecord | undefined> {
    const topic = this.#topics.get(name);
    if (!topic) return undefined;
    this.#topics.delete(name);
    this.#byId.delete(topic.id.toString('hex'));
    await this.#persist();
    return topic;
  }
}
