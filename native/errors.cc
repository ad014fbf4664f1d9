#include "errors.h"

#include <cstring>

namespace gregor {

const char* kafka_error_name(KafkaError code) {
  switch (code) {
    case KafkaError::kNone: return "NONE";
    case KafkaError::kOffsetOutOfRange: return "OFFSET_OUT_OF_RANGE";
    case KafkaError::kCorruptMessage: return "CORRUPT_MESSAGE";
    case KafkaError::kMessageTooLarge: return "MESSAGE_TOO_LARGE";
    case KafkaError::kRecordListTooLarge: return "RECORD_LIST_TOO_LARGE";
    case KafkaError::kKafkaStorageError: return "KAFKA_STORAGE_ERROR";
    case KafkaError::kInvalidRecord: return "INVALID_RECORD";
    case KafkaError::kInvalidArgument: return "INVALID_ARGUMENT";
    case KafkaError::kLogClosed: return "LOG_CLOSED";
  }
  return "UNKNOWN_SERVER_ERROR";
}

Status storage_error(const std::string& what, int errno_value) {
  char buffer[256];
  // GNU strerror_r may return a static string instead of filling `buffer`.
  const char* text = strerror_r(errno_value, buffer, sizeof buffer);
  return Status::Error(KafkaError::kKafkaStorageError, what + ": " + text);
}

}  // namespace gregor
