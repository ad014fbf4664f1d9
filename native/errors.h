// Typed storage errors. Every failure the engine reports names the problem in
// a sentence and maps to the Kafka error code a broker would put on the wire,
// so the TypeScript layer never has to guess from a message string.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace gregor {

// Kafka protocol error codes (../shared/kafka-protocol/error-codes.tsv) that
// the storage engine can produce.
enum class KafkaError : int16_t {
  kNone = 0,
  kOffsetOutOfRange = 1,
  kCorruptMessage = 2,
  kMessageTooLarge = 10,
  kRecordListTooLarge = 18,
  kKafkaStorageError = 56,
  kInvalidRecord = 87,
  // Not a wire error: the caller passed an argument the API does not accept.
  kInvalidArgument = -100,
  // Not a wire error: the log was closed before the operation ran.
  kLogClosed = -101,
};

const char* kafka_error_name(KafkaError code);

struct Status {
  KafkaError code = KafkaError::kNone;
  std::string message;

  bool ok() const { return code == KafkaError::kNone; }
  static Status Ok() { return Status{}; }
  static Status Error(KafkaError code, std::string message) {
    return Status{code, std::move(message)};
  }
};

// Appends errno's text to a sentence about what failed.
Status storage_error(const std::string& what, int errno_value);

}  // namespace gregor
