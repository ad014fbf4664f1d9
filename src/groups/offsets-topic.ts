// The records of `__consumer_offsets`, in Kafka's formats so that Kafka's
// own tools could read our log: every key and value is an int16 schema
// version followed by the message (../shared/kafka-protocol/records).
//
//   key v0/v1 OffsetCommitKey (group, topic, partition) -> OffsetCommitValue v3 (v1 when it carries an expire timestamp)
//   key v2    GroupMetadataKey (group)                  -> GroupMetadataValue v3
//
// A null value (tombstone) deletes the key: a removed offset or a deleted group.
import {
  readGroupMetadataKey,
  readGroupMetadataValue,
  readOffsetCommitKey,
  readOffsetCommitValue,
  writeGroupMetadataKey,
  writeGroupMetadataValue,
  writeOffsetCommitKey,
  writeOffsetCommitValue,
  type GroupMetadataValue,
  type OffsetCommitValue,
} from '../protocol/generated/index.js';
import { Reader, Writer, type Init } from '../protocol/wire.js';
import type { RecordInput } from '../protocol/record-batch.js';

export const OFFSETS_TOPIC = '__consumer_offsets';

const OFFSET_KEY_VERSION = 1;
const GROUP_KEY_VERSION = 2;
const OFFSET_VALUE_VERSION = 3;
const OFFSET_VALUE_VERSION_WITH_EXPIRY = 1;
const GROUP_VALUE_VERSION = 3;

/**
 * The partition of __consumer_offsets that holds a group: Java's
 * String.hashCode of the id, made non-negative, modulo the partition count,
 * so a group lands where Kafka would put it.
 */
export function partitionForGroup(groupId: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0;
  return (hash & 0x7fffffff) % partitions;
}

export interface StoredOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  /** Set only by commits that asked for a retention time (OffsetCommit v2-v4). */
  expireTimestamp: number | undefined;
}

export type OffsetsTopicRecord =
  | { kind: 'offset'; group: string; topic: string; partition: number; value: StoredOffset | null }
  | { kind: 'group'; group: string; value: GroupMetadataValue | null };

/** Keys and values are small: a writer sized for them avoids a 1 KiB buffer per record. */
const RECORD_WRITER_BYTES = 128;

function versioned(version: number, write: (w: Writer) => void): Buffer {
  const w = new Writer(RECORD_WRITER_BYTES);
  w.int16(version);
  write(w);
  return w.toBuffer();
}

export function offsetCommitRecord(group: string, topic: string, partition: number, value: StoredOffset | null, timestamp: number): RecordInput {
  const key = versioned(OFFSET_KEY_VERSION, (w) => writeOffsetCommitKey(w, { group, topic, partition }, OFFSET_KEY_VERSION));
  if (value === null) return { key, value: null, timestamp };
  const version = value.expireTimestamp === undefined ? OFFSET_VALUE_VERSION : OFFSET_VALUE_VERSION_WITH_EXPIRY;
  const body: Init<OffsetCommitValue> = {
    offset: BigInt(value.offset),
    leaderEpoch: value.leaderEpoch,
    metadata: value.metadata,
    commitTimestamp: BigInt(value.commitTimestamp),
    expireTimestamp: BigInt(value.expireTimestamp ?? -1),
  };
  return { key, value: versioned(version, (w) => writeOffsetCommitValue(w, body, version)), timestamp };
}

export function groupMetadataRecord(group: string, value: Init<GroupMetadataValue> | null, timestamp: number): RecordInput {
  const key = versioned(GROUP_KEY_VERSION, (w) => writeGroupMetadataKey(w, { group }, GROUP_KEY_VERSION));
  if (value === null) return { key, value: null, timestamp };
  return { key, value: versioned(GROUP_VALUE_VERSION, (w) => writeGroupMetadataValue(w, value, GROUP_VALUE_VERSION)), timestamp };
}

/**
 * Decodes one record of the topic; undefined for keys of a kind this broker
 * does not keep (Kafka's newer coordinator writes other key versions).
 * Throws on malformed bytes.
 */
export function decodeOffsetsTopicRecord(key: Buffer, value: Buffer | null): OffsetsTopicRecord | undefined {
  if (key.length < 2) throw new Error(`key of ${key.length} bytes is too short`);
  const keyVersion = key.readInt16BE(0);
  const keyReader = new Reader(key.subarray(2));
  if (keyVersion === 0 || keyVersion === 1) {
    const k = readOffsetCommitKey(keyReader, keyVersion);
    if (value === null) return { kind: 'offset', group: k.group, topic: k.topic, partition: k.partition, value: null };
    const valueVersion = value.readInt16BE(0);
    const v = readOffsetCommitValue(new Reader(value.subarray(2)), valueVersion);
    return {
      kind: 'offset',
      group: k.group,
      topic: k.topic,
      partition: k.partition,
      value: {
        offset: Number(v.offset),
        leaderEpoch: v.leaderEpoch,
        metadata: v.metadata,
        commitTimestamp: Number(v.commitTimestamp),
        expireTimestamp: v.expireTimestamp >= 0n ? Number(v.expireTimestamp) : undefined,
      },
    };
  }
  if (keyVersion === GROUP_KEY_VERSION) {
    const k = readGroupMetadataKey(keyReader, keyVersion);
    if (value === null) return { kind: 'group', group: k.group, value: null };
    return { kind: 'group', group: k.group, value: readGroupMetadataValue(new Reader(value.subarray(2)), value.readInt16BE(0)) };
  }
  return undefined;
}
