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
#include "log_cleaner.h"
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
  int64_t retention_ms = -1;                // retention.ms (negative: keep forever)
  int64_t retention_bytes = -1;             // retention.bytes (negative: no limit)
  bool delete_policy = true;                // cleanup.policy includes "delete"
  int64_t file_delete_delay_ms = 60000;     // file.delete.delay.ms
};

struct AppendResult {
  int64_t base_offset = -1;
  int64_t last_offset = -1;
  int64_t log_append_time_ms = -1;  // -1 unless the topic uses LogAppendTime
  int64_t record_count = 0;
  int64_t batch_count = 0;
  bool needs_flush = false;  // flush.messages reached: fsync before acknowledging
  bool rolled = false;       // the append started a new segment
};

// What one retention pass (delete_old_segments) removed, by Kafka's reasons.
struct RetentionResult {
  size_t segments = 0;
  uint64_t bytes = 0;
  size_t below_log_start = 0;  // wholly below the log start offset (DeleteRecords)
  size_t by_size = 0;          // retention.bytes
  size_t by_time = 0;          // retention.ms
  bool rolled = false;         // the active segment was past retention and rolled first
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
  // Moves the log start offset to `offset` and deletes the segments wholly
  // below it (as delete_oldest_segments does).
  Status delete_records_before(int64_t offset, int64_t now_ms);
  // Deletes the oldest `count` segments (never the active one) and moves the
  // log start offset to the next segment's base. Returns how many went.
  // This is the one way segments leave the front of a log (retention and
  // DeleteRecords): with file.delete.delay.ms > 0 the files are renamed to
  // `<name>.deleted` and unlinked by delete_expired_files once the delay has
  // passed; with 0 they are unlinked at once. Either way file regions handed
  // out earlier keep reading (they hold the .log descriptor).
  Status delete_oldest_segments(size_t count, int64_t now_ms, size_t* deleted);
  // One retention pass, Kafka's UnifiedLog.deleteOldSegments: segments wholly
  // below the log start offset; then, if cleanup.policy includes delete, the
  // oldest segments while the log without them still holds retention.bytes;
  // then the oldest segments whose largest timestamp is more than
  // retention.ms before `now_ms`. Only whole segments go, oldest first; the
  // active segment counts only if it is not empty, and is rolled first when
  // it must go too.
  Status delete_old_segments(int64_t now_ms, RetentionResult* result);
  // Unlinks the `.deleted` files whose delay has passed by `now_ms`
  // (INT64_MAX: all of them).
  Status delete_expired_files(int64_t now_ms);
  Status roll(int64_t now_ms);
  // Compaction, step 1 (see log_cleaner.h): the cleanable range, its dirty
  // ratio, whether to clean, and the segments and groups to rewrite.
  Status plan_clean(const CleanOptions& options, CleanPlan* plan);
  // Compaction, step 3: swaps each cleaned file in for its group of segments,
  // if those segments are still in the log unchanged (otherwise the file is
  // dropped). Crash-safe: see open().
  Status swap_cleaned(const CleanPlan& plan, const std::vector<CleanedFile>& files, int64_t now_ms,
                      CleanStats* stats);
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
  // When the next `.deleted` files are due for unlinking; -1 if none wait.
  int64_t next_file_deletion_ms() const { return next_file_deletion_ms_.load(std::memory_order_acquire); }
  size_t pending_file_deletions() const { return pending_deletions_.size(); }
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
  Status write_batches(const uint8_t* data, const PendingBatch* batches, size_t count, uint64_t bytes, int64_t now_ms,
                       bool* rolled);
  bool should_roll(const BatchHeader& first, const BatchHeader& last, uint64_t append_bytes, int64_t now_ms);
  Status roll_to(int64_t base_offset, int64_t now_ms);
  Status sync_dir();
  Status locate(int64_t offset, size_t* segment, BatchHeader* first, uint64_t* position, bool* at_end);
  void publish();
  void publish_next_file_deletion();
  Status unlink_due_files(int64_t now_ms);
  // At open: finishes the compaction swaps a crash interrupted.
  Status complete_swaps(std::vector<int64_t>* bases);

  std::string dir_;
  LogConfig config_;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::atomic<int64_t> log_start_offset_{0};
  std::atomic<int64_t> log_end_offset_{0};
  std::atomic<int64_t> recovery_point_{0};
  std::atomic<uint64_t> size_bytes_{0};
  // Renamed segment files waiting for file.delete.delay.ms (io thread only).
  struct PendingDeletion {
    int64_t due_ms;
    std::vector<std::string> paths;
  };
  std::vector<PendingDeletion> pending_deletions_;
  std::atomic<int64_t> next_file_deletion_ms_{-1};
  int64_t unflushed_messages_ = 0;
  bool dir_dirty_ = false;
  bool closed_ = false;
  bool opened_ = false;
  uint64_t recovered_truncated_bytes_ = 0;
  // `.log.swap` files found at open.
  std::vector<int64_t> swaps_;
  // Scratch for the rewritten batch headers of one append.
  std::vector<uint8_t> header_scratch_;
};

}  // namespace gregor
