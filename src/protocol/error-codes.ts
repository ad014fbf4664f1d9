// Kafka protocol error codes used by the broker, by name. Numbers and names
// are Kafka's (see ../shared/kafka-protocol/error-codes.tsv); add entries as
// handlers need them.
export const ErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  INVALID_TOPIC_EXCEPTION: 17,
  RECORD_LIST_TOO_LARGE: 18,
  INVALID_REQUIRED_ACKS: 21,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REPLICA_ASSIGNMENT: 39,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
  KAFKA_STORAGE_ERROR: 56,
  FETCH_SESSION_ID_NOT_FOUND: 70,
  INVALID_FETCH_SESSION_EPOCH: 71,
  INVALID_RECORD: 87,
  UNKNOWN_TOPIC_ID: 100,
  MISMATCHED_ENDPOINT_TYPE: 114,
  UNSUPPORTED_ENDPOINT_TYPE: 115,
} as const;

export type ErrorName = keyof typeof ErrorCode;

/** Error code for a storage LogError's name, UNKNOWN_SERVER_ERROR for anything else. */
export function errorCodeOf(error: unknown): number {
  const code = (error as { code?: string })?.code;
  if (typeof code === 'string' && code in ErrorCode) return ErrorCode[code as ErrorName];
  return ErrorCode.UNKNOWN_SERVER_ERROR;
}
