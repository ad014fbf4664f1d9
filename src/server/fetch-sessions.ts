// Incremental fetch sessions (KIP-227). A consumer that sends session id 0
// and epoch 0 gets a session: the broker remembers its partitions and fetch
// positions, and later requests (same id, next epoch) carry only what
// changed; responses carry only partitions with new data or changed offsets.
//
//   id 0, epoch -1   full fetch, no session (what librdkafka and kafkajs do)
//   id 0, epoch 0    full fetch, create a session
//   id S, epoch -1   close S, full fetch without a session
//   id S, epoch E>0  incremental fetch in S; E must be the session's next epoch
//
// The cache is bounded (max.incremental.fetch.session.cache.slots, 1000 in
// Kafka): when full, the least recently used session is evicted, and its
// client gets FETCH_SESSION_ID_NOT_FOUND and starts over with a full fetch.
import { randomInt } from 'node:crypto';

/** Kafka's default max.incremental.fetch.session.cache.slots. */
export const FETCH_SESSIONS_MAX = 1000;

export interface SessionPartition {
  topicKey: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  /** What the last response told the client, to send only changes. */
  sentHighWatermark: number;
  sentLogStartOffset: number;
}

export interface FetchSession {
  readonly id: number;
  /** The epoch the next request must carry. */
  nextEpoch: number;
  partitions: Map<string, SessionPartition>;
}

export function sessionKey(topicKey: string, partition: number): string {
  return `${topicKey}\u0000${partition}`;
}

export class FetchSessionCache {
  // Map order is recency order: a used session is re-inserted at the end.
  #sessions = new Map<number, FetchSession>();

  constructor(readonly capacity = FETCH_SESSIONS_MAX) {}

  create(): FetchSession {
    if (this.#sessions.size >= this.capacity) {
      const oldest = this.#sessions.keys().next().value as number;
      this.#sessions.delete(oldest);
    }
    let id: number;
    do id = randomInt(1, 2 ** 31 - 1);
    while (this.#sessions.has(id));
    const session: FetchSession = { id, nextEpoch: 1, partitions: new Map() };
    this.#sessions.set(id, session);
    return session;
  }

  get(id: number): FetchSession | undefined {
    const session = this.#sessions.get(id);
    if (session) {
      this.#sessions.delete(id);
      this.#sessions.set(id, session);
    }
    return session;
  }

  remove(id: number): void {
    this.#sessions.delete(id);
  }

  get size(): number {
    return this.#sessions.size;
  }
}
