// PartitionLog: one partition's log, an ordered list of segments of which the
// last is active. See docs/STORAGE_FORMAT.md for the files.
//
// Threading: every call except the atomic getters runs on the partition's
// pinned io thread, so the log needs no locks. The getters (log start/end
// offset, recovery point) read atomics published after each change.
//
// Invariants (asserted where state changes):
//   log_start_offset <= log_end_offset; recovery_point <= log_end_offset;
//   segments are sorted by base offset and never empty; only the last is
//   written; every byte below a segment's size is a whole, valid batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "record_batch.h"
#include "segment.h"

namespace gregor {

// Topic-level settings, with Kafka's names in comments. Validated in
// TypeScript (src/log/config.ts); the engine only clamps what would break it.
struct LogConfig {
  int64_t segment_bytes = 1073741824;       // segment.bytes
  int64_t segment_ms = 604800000;           // segment.ms
  int64_t segment_index_bytes = 10485760;   // segment.index.bytes
  int64_t index_interval_bytes = 4096;      // index.interval.bytes
  int64_t flush_messages = INT64_MAX;       // flush.messages
  int64_t max_message_bytes = 1048588;      // max.message.bytes
  bool log_append_time = false;             // message.timestamp.type=LogAppendTime
};

struct AppendResult {
  int64_t base_offset = -1;
  int64_t last_offset = -1;
  int64_t log_append_time_ms = -1;  // -1 unless the topic uses LogAppendTime
  int64_t record_count = 0;
  int64_t batch_count = 0;
  bool needs_flush = false;  // flush.messages reached: fsync before acknowledging
};

// Bytes of whole batches in one segment's .log, for sendfile or pread.
struct FileRegion {
  std::shared_ptr<LogFile> file;
  uint64_t position = 0;
  uint64_t length = 0;
  int64_t first_offset = -1;  // base offset of the first batch in the region
};

struct SegmentInfo {
  int64_t base_offset;
  int64_t next_offset;
  uint64_t size_bytes;
  int64_t max_timestamp;
};

class PartitionLog {
 public:
  PartitionLog(std::string dir, LogConfig config);
  ~PartitionLog();

  // Loads the segments. `clean` says the previous process shut down cleanly;
  // otherwise every segment from the one holding `recovery_point` on is
  // rescanned and truncated at the first invalid batch.
  Status open(int64_t recovery_point, int64_t log_start_offset, bool clean, int64_t now_ms);

  Status append(const uint8_t* data, size_t bytes, OffsetMode mode, int64_t now_ms, AppendResult* result);
  // Whole batches from the batch holding `offset`, up to `max_bytes` (the
  // first batch whole even if larger). An empty region at the log end.
  Status read(int64_t offset, uint64_t max_bytes, FileRegion* region);
  // The same bytes copied into memory, with every batch's CRC checked.
  Status read_bytes(int64_t offset, uint64_t max_bytes, std::unique_ptr<uint8_t[]>* bytes, size_t* size_bytes,
                    int64_t* first_offset);
  // Earliest offset whose record timestamp >= `timestamp`; found=false if none.
  Status offset_for_timestamp(int64_t timestamp, bool* found, int64_t* offset, int64_t* record_timestamp);
  // Offset and timestamp of the record with the largest timestamp.
  Status offset_of_max_timestamp(bool* found, int64_t* offset, int64_t* record_timestamp);
  Status truncate_to(int64_t offset, int64_t now_ms);
  Status delete_records_before(int64_t offset);
  // Deletes the oldest `count` segments (never the active one) and moves the
  // log start offset to the next segment's base. Returns how many went.
  Status delete_oldest_segments(size_t count, size_t* deleted);
  Status roll(int64_t now_ms);
  // fsync everything written so far; advances the recovery point to the
  // log end offset.
  Status flush();
  // Trims the active segment's indexes and releases the files. `flush` makes
  // it a clean close.
  Status close(bool flush);
  std::vector<SegmentInfo> segments() const;
  void set_config(const LogConfig& config);

  const std::string& dir() const { return dir_; }
  int64_t log_start_offset() const { return log_start_offset_.load(std::memory_order_acquire); }
  int64_t log_end_offset() const { return log_end_offset_.load(std::memory_order_acquire); }
  int64_t recovery_point() const { return recovery_point_.load(std::memory_order_acquire); }
  uint64_t size_bytes() const { return size_bytes_.load(std::memory_order_acquire); }
  int64_t unflushed_messages() const { return unflushed_messages_; }
  bool closed() const { return closed_; }
  // Bytes cut off by recovery at open (0 after a clean shutdown).
  uint64_t recovered_truncated_bytes() const { return recovered_truncated_bytes_; }

 private:
  SegmentConfig segment_config() const;
  Segment& active() { return *segments_.back(); }
  // Index of the segment that would hold `offset` (last base <= offset).
  size_t segment_index_for(int64_t offset) const;
  struct PendingBatch {
    BatchHeader header;  // with the offsets and timestamps it will be stored with
    size_t position;     // in the caller's buffer
    bool rewrite_time;   // LogAppendTime: attributes, maxTimestamp and CRC change
  };
  // Writes batches that fit one segment (rolling first if needed) and indexes them.
  Status write_batches(const uint8_t* data, const PendingBatch* batches, size_t count, uint64_t bytes, int64_t now_ms);
  bool should_roll(const BatchHeader& first, const BatchHeader& last, uint64_t append_bytes, int64_t now_ms);
  Status roll_to(int64_t base_offset, int64_t now_ms);
  Status sync_dir();
  Status locate(int64_t offset, size_t* segment, BatchHeader* first, uint64_t* position, bool* at_end);
  void publish();

  std::string dir_;
  LogConfig config_;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::atomic<int64_t> log_start_offset_{0};
  std::atomic<int64_t> log_end_offset_{0};
  std::atomic<int64_t> recovery_point_{0};
  std::atomic<uint64_t> size_bytes_{0};
  int64_t unflushed_messages_ = 0;
  bool dir_dirty_ = false;
  bool closed_ = false;
  bool opened_ = false;
  uint64_t recovered_truncated_bytes_ = 0;
  // Scratch for the rewritten batch headers of one append.
  std::vector<uint8_t> header_scratch_;
};

}  // namespace gregor
