// Segment: one `<base offset>.log` file with its `.index` and `.timeindex`.
//
// The .log holds RecordBatch v2 bytes back to back, exactly as Kafka writes
// them; its name is the segment's base offset, 20 digits, zero padded. Only
// the last (active) segment of a log is appended to. `size_bytes` is the end
// of the last whole batch: bytes past it (a torn write) are never read and are
// cut off by recovery.
//
// The .log file descriptor lives in a refcounted LogFile, so a file region
// handed to a reader (for sendfile) keeps the file readable after the segment
// is deleted from the log: unlink removes the name, the last reference closes
// the descriptor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "offset_index.h"
#include "record_batch.h"

namespace gregor {

struct LogFile {
  int fd = -1;
  std::string path;
  LogFile(int fd_, std::string path_) : fd(fd_), path(std::move(path_)) {}
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
};

std::string segment_file_name(int64_t base_offset, const char* suffix);

// Reads batch headers sequentially through a window buffer, so a scan costs
// one pread per window instead of one per batch.
class BatchHeaderScanner {
 public:
  BatchHeaderScanner(int fd, uint64_t start, uint64_t end, size_t window_bytes = 64 * 1024);
  // Advances to the next batch header. Returns false at `end`, on a read
  // error (see status()), or when the header there is not a plausible batch
  // (bad magic, length below the minimum or running past `end`).
  bool next(BatchHeader* header, uint64_t* position);
  const Status& status() const { return status_; }

 private:
  int fd_;
  uint64_t position_;
  uint64_t end_;
  std::unique_ptr<uint8_t[]> window_;
  size_t window_capacity_;
  uint64_t window_start_ = 0;
  size_t window_bytes_ = 0;
  Status status_;
};

struct SegmentConfig {
  int64_t segment_index_bytes = 10 * 1024 * 1024;
  int64_t index_interval_bytes = 4096;
};

class Segment {
 public:
  Segment(std::string dir, int64_t base_offset);

  // Creates empty files for a new active segment.
  Status create(const SegmentConfig& config, int64_t now_ms);
  // Opens existing files. Indexes that are missing or fail their sanity check
  // are reported through `index_ok`; the caller decides to rebuild.
  Status open(const SegmentConfig& config, bool active, bool* index_ok);
  // Rescans the whole .log: validates every batch (CRC included), rebuilds
  // both indexes and the in-memory state, and truncates the file at the first
  // invalid or torn batch. `truncated_bytes` tells how much was cut.
  Status recover(const SegmentConfig& config, bool active, uint64_t* truncated_bytes);
  // Rebuilds the in-memory tail state (next offset, max timestamp) of a
  // cleanly closed segment from its indexes plus a short scan.
  Status load_tail_state(const SegmentConfig& config);

  // Records the batches just written at `position` in the indexes.
  void on_appended(const SegmentConfig& config, const BatchHeader& header, uint64_t position);

  // Finds the first batch whose last offset is >= `offset`. Returns false if
  // the segment has none.
  bool find_batch(int64_t offset, BatchHeader* header, uint64_t* position, Status* status) const;
  // Earliest record with timestamp >= `timestamp` and offset >= `min_offset`.
  bool find_timestamp(int64_t timestamp, int64_t min_offset, int64_t* found_offset,
                      int64_t* found_timestamp, Status* status) const;

  // The first record with the largest timestamp among offsets >= `min_offset`.
  bool max_timestamp_from(int64_t min_offset, int64_t* found_offset, int64_t* found_timestamp, Status* status) const;
  // Cuts the segment so that it holds no offset >= `offset` (at a batch
  // boundary) and recomputes its state.
  Status truncate_to(const SegmentConfig& config, int64_t offset);
  // Reopens the indexes for appending (after recovery removed later segments).
  Status make_active(const SegmentConfig& config);
  // Called when this segment stops being the active one.
  Status close_active();
  // Makes all written bytes and index entries durable.
  Status sync();
  // Unlinks the files; open regions keep the .log readable. Fails only if
  // the .log stays: an index that cannot go is an orphan the next open removes.
  Status remove();
  // Renames the files to `<name>.deleted` (the .log first) and releases the
  // indexes; `renamed` gets the new paths. Fails, changing nothing, only if
  // the .log cannot be renamed. Open regions keep the .log readable.
  Status rename_to_deleted(std::vector<std::string>* renamed);
  // The .log's modification time: a segment's age when none of its batches
  // carries a timestamp (Kafka's rule for retention.ms).
  int64_t last_modified_ms() const;

  int64_t base_offset() const { return base_offset_; }
  int64_t next_offset() const { return next_offset_; }
  uint64_t size_bytes() const { return size_bytes_; }
  int64_t max_timestamp() const { return max_timestamp_; }
  int64_t offset_of_max_timestamp() const { return offset_of_max_timestamp_; }
  // How long the segment has been collecting data, by Kafka's segment.ms
  // rule: the new batch's max timestamp minus the first batch's, or the wall
  // time since creation while the segment is empty.
  int64_t time_waited_for_roll_ms(int64_t now_ms, int64_t batch_max_timestamp) const;
  const std::shared_ptr<LogFile>& log_file() const { return log_; }
  const OffsetIndex& offset_index() const { return offset_index_; }
  const TimeIndex& time_index() const { return time_index_; }
  bool index_full() const { return offset_index_.full() || time_index_.full(); }
  bool dirty() const { return dirty_; }
  void mark_dirty() { dirty_ = true; }
  void set_size(uint64_t bytes) { size_bytes_ = bytes; }
  void set_next_offset(int64_t offset) { next_offset_ = offset; }

 private:
  Status open_log_file(bool create);
  Status scan_state_from(uint64_t start, int64_t start_max_timestamp, int64_t start_offset_of_max);

  std::string dir_;
  int64_t base_offset_;
  std::shared_ptr<LogFile> log_;
  OffsetIndex offset_index_;
  TimeIndex time_index_;
  uint64_t size_bytes_ = 0;
  int64_t next_offset_;
  int64_t max_timestamp_ = -1;
  int64_t offset_of_max_timestamp_ = -1;
  // maxTimestamp of the first batch, for segment.ms (Kafka's rule); -1 if empty.
  int64_t first_batch_timestamp_ = -1;
  int64_t created_ms_ = 0;
  uint64_t bytes_since_index_entry_ = 0;
  // Written but not yet fsynced (data or index entries).
  bool dirty_ = false;
};

}  // namespace gregor
