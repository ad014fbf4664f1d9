#include "record_batch.h"

#include <string>

#include "bytes.h"
#include "crc32c.h"

namespace gregor {

using namespace batch_layout;

BatchHeader parse_batch_header(const uint8_t* data) {
  BatchHeader h;
  h.base_offset = load_i64_be(data + kBaseOffset);
  h.batch_length = load_i32_be(data + kBatchLength);
  h.magic = data[kMagic];
  h.crc = load_u32_be(data + kCrc);
  h.attributes = load_u16_be(data + kAttributes);
  h.last_offset_delta = load_i32_be(data + kLastOffsetDelta);
  h.base_timestamp = load_i64_be(data + kBaseTimestamp);
  h.max_timestamp = load_i64_be(data + kMaxTimestamp);
  h.records_count = load_i32_be(data + kRecordsCount);
  return h;
}

size_t read_zigzag_varint(const uint8_t* p, const uint8_t* end, size_t max_bytes,
                          int64_t* value) {
  uint64_t raw = 0;
  for (size_t i = 0; i < max_bytes; ++i) {
    if (p + i >= end) return 0;
    uint8_t byte = p[i];
    raw |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *value = static_cast<int64_t>(raw >> 1) ^ -static_cast<int64_t>(raw & 1);
      return i + 1;
    }
  }
  return 0;
}

bool BatchHeader::offsets_plausible() const {
  return base_offset >= 0 && last_offset_delta >= 0 && base_offset <= kOffsetMax - last_offset_delta;
}

uint32_t batch_crc(const uint8_t* header_bytes, const uint8_t* body, size_t body_bytes) {
  uint32_t crc = crc32c(header_bytes + kCrcStart, kHeaderBytes - kCrcStart);
  return crc32c_extend(crc, body, body_bytes);
}

namespace {

Status corrupt(const std::string& what) {
  return Status::Error(KafkaError::kCorruptMessage, what);
}
Status invalid(const std::string& what) {
  return Status::Error(KafkaError::kInvalidRecord, what);
}

// Skips a length-prefixed (zigzag varint, -1 = null) byte string.
bool skip_sized_bytes(const uint8_t*& p, const uint8_t* end) {
  int64_t length = 0;
  size_t n = read_zigzag_varint(p, end, 5, &length);
  if (n == 0 || length < -1) return false;
  p += n;
  if (length > 0) {
    if (length > end - p) return false;
    p += length;
  }
  return true;
}

// Walks the records of an uncompressed batch: every record's length must
// frame exactly its fields, and together they must fill the batch.
Status check_records(const uint8_t* data, BatchHeader& h, OffsetMode mode) {
  const uint8_t* p = data + kRecords;
  const uint8_t* end = data + h.size_bytes();
  int64_t previous_delta = -1;
  for (int32_t i = 0; i < h.records_count; ++i) {
    int64_t length = 0;
    size_t n = read_zigzag_varint(p, end, 5, &length);
    if (n == 0) return corrupt("record " + std::to_string(i) + " has a truncated length");
    p += n;
    if (length < 1 || length > end - p) {
      return corrupt("record " + std::to_string(i) + " claims " + std::to_string(length) +
                     " bytes but the batch has " + std::to_string(end - p) + " left");
    }
    const uint8_t* record_end = p + length;
    const uint8_t* q = p + 1;  // record attributes: unused, any value
    int64_t timestamp_delta = 0, offset_delta = 0, header_count = 0;
    size_t m = read_zigzag_varint(q, record_end, 10, &timestamp_delta);
    if (m == 0) return corrupt("record " + std::to_string(i) + " has a bad timestamp delta");
    q += m;
    m = read_zigzag_varint(q, record_end, 5, &offset_delta);
    if (m == 0) return corrupt("record " + std::to_string(i) + " has a bad offset delta");
    q += m;
    int64_t timestamp = wrapping_add(h.base_timestamp, timestamp_delta);
    if (timestamp > h.records_max_timestamp) h.records_max_timestamp = timestamp;
    if (mode == OffsetMode::kAssign ? offset_delta != i
                                    : (offset_delta <= previous_delta ||
                                       offset_delta > h.last_offset_delta)) {
      return invalid("record " + std::to_string(i) + " has offset delta " +
                     std::to_string(offset_delta) + " out of sequence");
    }
    previous_delta = offset_delta;
    if (!skip_sized_bytes(q, record_end)) return corrupt("record " + std::to_string(i) + " has a bad key");
    if (!skip_sized_bytes(q, record_end)) return corrupt("record " + std::to_string(i) + " has a bad value");
    m = read_zigzag_varint(q, record_end, 5, &header_count);
    if (m == 0 || header_count < 0) return corrupt("record " + std::to_string(i) + " has a bad header count");
    q += m;
    for (int64_t k = 0; k < header_count; ++k) {
      int64_t key_length = 0;
      size_t kn = read_zigzag_varint(q, record_end, 5, &key_length);
      // Header keys are non-null strings.
      if (kn == 0 || key_length < 0 || key_length > record_end - q - static_cast<ptrdiff_t>(kn)) {
        return corrupt("record " + std::to_string(i) + " has a bad header key");
      }
      q += kn + key_length;
      if (!skip_sized_bytes(q, record_end)) {
        return corrupt("record " + std::to_string(i) + " has a bad header value");
      }
    }
    if (q != record_end) {
      return corrupt("record " + std::to_string(i) + " length does not match its fields");
    }
    p = record_end;
  }
  if (p != end) return corrupt("batch has bytes after its last record");
  return Status::Ok();
}

}  // namespace

Status check_stored_batch(const uint8_t* data, size_t available, BatchHeader* header,
                          bool* truncated) {
  *truncated = false;
  if (available < kHeaderBytes) {
    *truncated = true;
    return corrupt("batch header is truncated: " + std::to_string(available) + " of " +
                   std::to_string(kHeaderBytes) + " bytes");
  }
  BatchHeader h = parse_batch_header(data);
  if (h.batch_length < static_cast<int32_t>(kHeaderBytes - kLogOverheadBytes)) {
    return corrupt("batch length " + std::to_string(h.batch_length) + " is below the " +
                   std::to_string(kHeaderBytes - kLogOverheadBytes) + "-byte minimum");
  }
  if (h.magic != kMagicV2) {
    return corrupt("batch magic is " + std::to_string(h.magic) + "; only RecordBatch v2 (magic 2) is supported");
  }
  if (h.size_bytes() > available) {
    *truncated = true;
    return corrupt("batch of " + std::to_string(h.size_bytes()) + " bytes is truncated at " +
                   std::to_string(available));
  }
  uint32_t crc = crc32c(data + kCrcStart, h.size_bytes() - kCrcStart);
  if (crc != h.crc) {
    return corrupt("batch CRC-32C mismatch: stored " + std::to_string(h.crc) + ", computed " +
                   std::to_string(crc));
  }
  *header = h;
  return Status::Ok();
}

Status check_batch(const uint8_t* data, size_t available, const BatchCheckOptions& options,
                   BatchHeader* header) {
  bool truncated = false;
  BatchHeader h;
  // Size limits come first so an oversized batch is reported as such even
  // before its CRC is computed.
  if (available >= kHeaderBytes) {
    int64_t size_bytes = static_cast<int64_t>(kLogOverheadBytes) + load_i32_be(data + kBatchLength);
    if (size_bytes > options.batch_bytes_max && size_bytes <= static_cast<int64_t>(available)) {
      return Status::Error(KafkaError::kMessageTooLarge,
                           "batch of " + std::to_string(size_bytes) +
                               " bytes exceeds max.message.bytes (" +
                               std::to_string(options.batch_bytes_max) + ")");
    }
  }
  Status status = check_stored_batch(data, available, &h, &truncated);
  if (!status.ok()) return status;
  if (h.codec() > kCodecMax) {
    return corrupt("batch uses undefined compression codec " + std::to_string(h.codec()));
  }
  if (h.records_count < 0 || h.last_offset_delta < 0) {
    return invalid("batch has negative record count or lastOffsetDelta");
  }
  if (options.offset_mode == OffsetMode::kAssign) {
    if (h.records_count == 0) return invalid("batch has no records");
    if (h.is_control()) return invalid("control batches are written by the broker, not by producers");
    if (h.last_offset_delta != h.records_count - 1) {
      return invalid("lastOffsetDelta " + std::to_string(h.last_offset_delta) +
                     " does not match record count " + std::to_string(h.records_count));
    }
  } else if (!h.offsets_plausible()) {
    return Status::Error(KafkaError::kInvalidRecord,
                         "batch offsets " + std::to_string(h.base_offset) + " + " + std::to_string(h.last_offset_delta) +
                             " are outside [0, 2^53)");
  } else if (h.records_count > static_cast<int64_t>(h.last_offset_delta) + 1) {
    return invalid("record count " + std::to_string(h.records_count) +
                   " exceeds the offsets the batch spans");
  }
  // Each record takes at least 7 bytes; a count that cannot fit is corrupt
  // whatever the codec (compressed payloads still have to hold the records).
  if (h.codec() == 0 &&
      static_cast<uint64_t>(h.records_count) * 7 > h.size_bytes() - kHeaderBytes) {
    return corrupt("record count " + std::to_string(h.records_count) +
                   " cannot fit in the batch's " + std::to_string(h.size_bytes() - kHeaderBytes) +
                   " bytes of records");
  }
  if (options.check_records && h.codec() == 0) {
    status = check_records(data, h, options.offset_mode);
    if (!status.ok()) return status;
  }
  *header = h;
  return Status::Ok();
}

}  // namespace gregor
