// The group coordinator's use of the `__consumer_offsets` topic: creating it
// on first use (compacted, offsets.topic.num.partitions), appending a
// group's records to the partition Kafka would pick for it, and reading
// every partition back at start. The record formats are in offsets-topic.ts.
import type { Logger } from '../observability/logger.js';
import type { GroupMetadataValue } from '../protocol/generated/index.js';
import { decodeRecordBatches, encodeRecordBatch, type RecordInput } from '../protocol/record-batch.js';
import type { BrokerState } from '../server/broker-state.js';
import { OFFSETS_TOPIC, decodeOffsetsTopicRecord, partitionForGroup, type StoredOffset } from './offsets-topic.js';

/** Bytes read per call while loading. */
const LOAD_READ_BYTES = 4 * 1024 * 1024;

/** What the topic says, key by key, last record winning (null: a tombstone). */
export interface OffsetsTopicContents {
  groupValues: Map<string, GroupMetadataValue | null>;
  /** group -> "topic\0partition" -> committed offset. */
  offsets: Map<string, Map<string, { topic: string; partition: number; value: StoredOffset | null }>>;
  records: number;
}

export class OffsetsTopicLog {
  #creating: Promise<number> | undefined;

  constructor(
    private readonly broker: BrokerState,
    private readonly logger: Logger,
  ) {}

  /** The topic's partition count, creating it on first use. */
  async ensureTopic(): Promise<number> {
    const existing = this.broker.topics.get(OFFSETS_TOPIC);
    if (existing) {
      // The topic is recorded before its logs are open: wait for those.
      if (this.broker.partitionsOf(OFFSETS_TOPIC).length < existing.partitions) await this.broker.topicChangesSettled();
      return existing.partitions;
    }
    const config = this.broker.config.groups;
    this.#creating ??= this.broker
      .createTopic(OFFSETS_TOPIC, config.offsetsTopicPartitions, 1, {
        'cleanup.policy': 'compact',
        'segment.bytes': String(config.offsetsTopicSegmentBytes),
        'compression.type': 'producer',
      })
      .then(
        (topic) => {
          this.logger.info('Created the offsets topic', { topic: OFFSETS_TOPIC, partitions: topic.partitions });
          return topic.partitions;
        },
        (error: unknown) => {
          const topic = this.broker.topics.get(OFFSETS_TOPIC);
          if (topic) return topic.partitions;
          throw error;
        },
      )
      .finally(() => {
        this.#creating = undefined;
      });
    return this.#creating;
  }

  /** Appends one batch of `groupId`'s records; resolves once they are in the log. */
  async append(groupId: string, records: RecordInput[]): Promise<void> {
    const partitions = await this.ensureTopic();
    const log = this.broker.log(OFFSETS_TOPIC, partitionForGroup(groupId, partitions));
    if (!log) throw Object.assign(new Error(`${OFFSETS_TOPIC} is not open`), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await log.append(encodeRecordBatch(records, { timestamp: Date.now() }));
    this.broker.wakeFetchers();
  }

  /**
   * Reads every partition from its log start. An unreadable record is
   * skipped with a warning (the rest of the group state still loads);
   * records of kinds this broker does not keep are ignored.
   */
  async readAll(): Promise<OffsetsTopicContents> {
    const contents: OffsetsTopicContents = { groupValues: new Map(), offsets: new Map(), records: 0 };
    const topic = this.broker.topics.get(OFFSETS_TOPIC);
    for (let p = 0; topic && p < topic.partitions; p++) {
      const log = this.broker.log(OFFSETS_TOPIC, p);
      if (!log) continue;
      let offset = log.logStartOffset;
      while (offset < log.logEndOffset) {
        const batches = decodeRecordBatches(await log.read(offset, LOAD_READ_BYTES));
        if (batches.length === 0) break;
        for (const batch of batches) {
          offset = batch.lastOffset + 1;
          if (batch.isControl) continue;
          for (const record of batch.records) {
            if (record.key === null) continue;
            let decoded;
            try {
              decoded = decodeOffsetsTopicRecord(record.key, record.value);
            } catch (error) {
              this.logger.warn('Skipping an unreadable record of the offsets topic', { partition: p, offset: record.offset, error: (error as Error).message });
              continue;
            }
            if (!decoded) continue;
            contents.records++;
            if (decoded.kind === 'group') {
              contents.groupValues.set(decoded.group, decoded.value);
            } else {
              let byKey = contents.offsets.get(decoded.group);
              if (!byKey) contents.offsets.set(decoded.group, (byKey = new Map()));
              byKey.set(`${decoded.topic}\0${decoded.partition}`, { topic: decoded.topic, partition: decoded.partition, value: decoded.value });
            }
          }
        }
      }
    }
    return contents;
  }
}
