// RecordBatch v2: the unit Kafka stores and sends. Layout (big-endian), from
// Kafka's published format; Gregor stores batches exactly as they travel:
//
//   @0  baseOffset i64        @8  batchLength i32 (= size - 12)
//   @12 partitionLeaderEpoch  @16 magic i8 (= 2)   @17 crc u32 (CRC-32C of @21..end)
//   @21 attributes i16 (bits 0-2 codec, 3 LogAppendTime, 4 transactional, 5 control)
//   @23 lastOffsetDelta i32   @27 baseTimestamp i64 @35 maxTimestamp i64
//   @43 producerId i64        @51 producerEpoch i16 @53 baseSequence i32
//   @57 recordsCount i32      @61 records (one compressed blob when codec != 0)
//
// Record (uncompressed): length varint, attributes i8, timestampDelta varlong,
// offsetDelta varint, key (varint length, -1 = null), value (same), header
// count varint, headers (key varint+utf8, value varint+bytes). Varints here are
// zigzag-encoded.
//
// This module is pure: it parses and validates bytes in memory and never
// touches a file. It never trusts a length it reads: every length is checked
// against the bytes actually available before it is used.
#pragma once

#include <cstddef>
#include <cstdint>

#include "errors.h"

namespace gregor {

namespace batch_layout {
constexpr size_t kBaseOffset = 0;
constexpr size_t kBatchLength = 8;
constexpr size_t kPartitionLeaderEpoch = 12;
constexpr size_t kMagic = 16;
constexpr size_t kCrc = 17;
constexpr size_t kAttributes = 21;
constexpr size_t kLastOffsetDelta = 23;
constexpr size_t kBaseTimestamp = 27;
constexpr size_t kMaxTimestamp = 35;
constexpr size_t kProducerId = 43;
constexpr size_t kRecordsCount = 57;
constexpr size_t kRecords = 61;
// Bytes before batchLength's coverage starts (baseOffset + batchLength).
constexpr size_t kLogOverheadBytes = 12;
// The whole fixed header; the smallest possible batch (no records).
constexpr size_t kHeaderBytes = 61;
// The first byte covered by the CRC.
constexpr size_t kCrcStart = kAttributes;
constexpr uint8_t kMagicV2 = 2;

constexpr uint16_t kCodecMask = 0x07;
constexpr uint16_t kTimestampTypeLogAppendTime = 0x08;
constexpr uint16_t kTransactional = 0x10;
constexpr uint16_t kControl = 0x20;
// Codec ids 0..4 are none, gzip, snappy, lz4, zstd; 5..7 are not defined.
constexpr uint16_t kCodecMax = 4;
}  // namespace batch_layout

// Offsets stay below 2^53 so that JavaScript numbers hold them exactly.
constexpr int64_t kOffsetMax = (1LL << 53) - 1;

inline int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  uint8_t magic = 0;
  uint32_t crc = 0;
  uint16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int32_t records_count = 0;
  // Set by check_batch for uncompressed batches: the largest record
  // timestamp actually present (INT64_MIN if none was walked).
  int64_t records_max_timestamp = INT64_MIN;

  size_t size_bytes() const {
    return batch_layout::kLogOverheadBytes + static_cast<size_t>(batch_length);
  }
  // Wrapping arithmetic: headers read from disk or the wire may hold any
  // value; offsets_plausible() says whether the result means anything.
  int64_t last_offset() const {
    return static_cast<int64_t>(static_cast<uint64_t>(base_offset) + static_cast<uint64_t>(static_cast<int64_t>(last_offset_delta)));
  }
  // Offsets inside [0, kOffsetMax] with a non-negative delta.
  bool offsets_plausible() const;
  unsigned codec() const { return attributes & batch_layout::kCodecMask; }
  bool is_log_append_time() const {
    return (attributes & batch_layout::kTimestampTypeLogAppendTime) != 0;
  }
  bool is_control() const { return (attributes & batch_layout::kControl) != 0; }
};

// Reads the fixed header; `data` must hold at least kHeaderBytes.
BatchHeader parse_batch_header(const uint8_t* data);

// How offsets in an appended batch are treated.
enum class OffsetMode {
  // Leader path: the broker assigns offsets; inner offset deltas must be
  // 0..count-1 and lastOffsetDelta == count-1.
  kAssign,
  // Follower path: offsets already in the batch are kept (compacted batches
  // may have gaps, so only monotonicity is required).
  kKeep,
};

struct BatchCheckOptions {
  OffsetMode offset_mode = OffsetMode::kAssign;
  // max.message.bytes: the largest batch (including the 12-byte log overhead).
  int64_t batch_bytes_max = INT32_MAX;
  // Walk uncompressed records and check every length and offset delta.
  bool check_records = true;
};

// Checks the batch at the start of `data` (with `available` bytes behind it):
// header length, magic, CRC-32C, record count against lastOffsetDelta, codec,
// and for uncompressed batches every record's framing. On success fills
// `header`. Errors say which field is wrong and map to CORRUPT_MESSAGE,
// INVALID_RECORD or MESSAGE_TOO_LARGE.
Status check_batch(const uint8_t* data, size_t available,
                   const BatchCheckOptions& options, BatchHeader* header);

// The lighter check used when scanning a log that Gregor wrote itself:
// framing, magic and CRC, without the record walk. Returns kNone and fills
// `header` if a whole valid batch starts at `data`; kCorruptMessage otherwise,
// with `truncated` set when the bytes simply end inside the batch (a torn
// write) rather than containing something invalid.
Status check_stored_batch(const uint8_t* data, size_t available, BatchHeader* header,
                          bool* truncated);

// CRC-32C over bytes kCrcStart..end of a batch whose first kHeaderBytes are
// in `header_bytes` and the rest in `body` (body_bytes = size - kHeaderBytes).
uint32_t batch_crc(const uint8_t* header_bytes, const uint8_t* body, size_t body_bytes);

// One record's position in time and offset, as the timestamp search needs.
struct RecordStamp {
  int64_t offset;
  int64_t timestamp;
};

// Calls `visit(stamp)` for each record of an uncompressed batch (already
// checked) until it returns false. Returns false if the batch is compressed
// (records cannot be walked without decompressing) or malformed.
template <typename Visit>
bool for_each_record_stamp(const uint8_t* batch, const BatchHeader& header, Visit visit);

// --- zigzag varints (shared with the template above) -------------------

// Reads a zigzag varint of at most `max_bytes` bytes (5 for int32, 10 for
// int64). Returns the bytes consumed, or 0 if it runs past `end` or is too long.
size_t read_zigzag_varint(const uint8_t* p, const uint8_t* end, size_t max_bytes,
                          int64_t* value);

template <typename Visit>
bool for_each_record_stamp(const uint8_t* batch, const BatchHeader& header, Visit visit) {
  if (header.codec() != 0) return false;
  const uint8_t* p = batch + batch_layout::kRecords;
  const uint8_t* end = batch + header.size_bytes();
  for (int32_t i = 0; i < header.records_count; ++i) {
    int64_t length = 0;
    size_t n = read_zigzag_varint(p, end, 5, &length);
    if (n == 0 || length < 1 || length > end - p - static_cast<ptrdiff_t>(n)) return false;
    const uint8_t* record = p + n;
    const uint8_t* record_end = record + length;
    const uint8_t* q = record + 1;  // attributes
    int64_t timestamp_delta = 0, offset_delta = 0;
    size_t m = read_zigzag_varint(q, record_end, 10, &timestamp_delta);
    if (m == 0) return false;
    q += m;
    m = read_zigzag_varint(q, record_end, 5, &offset_delta);
    if (m == 0) return false;
    int64_t timestamp = header.is_log_append_time() ? header.max_timestamp
                                                    : wrapping_add(header.base_timestamp, timestamp_delta);
    if (!visit(RecordStamp{wrapping_add(header.base_offset, offset_delta), timestamp})) return true;
    p = record_end;
  }
  return true;
}

}  // namespace gregor
