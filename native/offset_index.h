// OffsetIndex: the sparse `.index` file of a segment.
//
// Format: 8-byte entries, each `relative offset (u32 BE) | position (u32 BE)`,
// where relative offset = offset - segment base offset and position is the
// byte position in the .log of the batch whose *last* offset is that offset
// (Kafka's convention). Entries strictly increase in both fields. One entry is
// added per index.interval.bytes of log.
//
// Lookup rule: the greatest entry whose offset is <= the target gives a
// position at or before the batch holding the target; the caller scans batch
// headers forward from there. No entry: scan from position 0.
//
// Crash policy: the index is derived data. After an unclean shutdown the
// indexes of every segment after the recovery point are rebuilt from the log;
// an index that fails the sanity check at open is rebuilt too.
#pragma once

#include <cstdint>
#include <string>

#include "index_file.h"

namespace gregor {

class OffsetIndex {
 public:
  static constexpr size_t kEntryBytes = 8;

  OffsetIndex(std::string path, int64_t base_offset)
      : file_(std::move(path), kEntryBytes), base_offset_(base_offset) {}

  IndexFile& file() { return file_; }
  const IndexFile& file() const { return file_; }
  size_t entries() const { return file_.entries(); }
  bool full() const { return file_.entries() >= file_.capacity_entries(); }

  // Adds (offset, position). Returns false (and adds nothing) when the index
  // is full or the entry would not increase; a skipped entry only makes the
  // index sparser, never wrong.
  bool append(int64_t offset, uint32_t position);

  struct Entry {
    int64_t offset;
    uint32_t position;
  };
  Entry entry(size_t i) const;
  // Greatest entry with offset <= target, or {base_offset, 0} if none.
  Entry lookup(int64_t target) const;
  // Removes every entry whose offset is >= `offset`.
  void truncate_to(int64_t offset);
  // Checks entries increase, stay after the base offset and point inside a
  // log of `log_bytes`. An empty string means sane.
  std::string sanity_error(uint64_t log_bytes) const;

 private:
  IndexFile file_;
  int64_t base_offset_;
};

// TimeIndex: the sparse `.timeindex` file of a segment.
//
// Format: 12-byte entries, `timestamp (i64 BE) | relative offset (u32 BE)`:
// by the time the log reached that offset, the largest timestamp seen in the
// segment was that timestamp. Timestamps and offsets never decrease; an entry
// is only added when its timestamp is larger than the last one. One slot is
// kept free so that rolling can always record the segment's final maximum.
//
// Lookup rule: the greatest entry whose timestamp is <= the target gives an
// offset from which to scan; every record before it has a smaller timestamp.
class TimeIndex {
 public:
  static constexpr size_t kEntryBytes = 12;

  TimeIndex(std::string path, int64_t base_offset)
      : file_(std::move(path), kEntryBytes), base_offset_(base_offset) {}

  IndexFile& file() { return file_; }
  const IndexFile& file() const { return file_; }
  size_t entries() const { return file_.entries(); }
  // Full one slot early: the last slot is reserved for the entry added on roll.
  bool full() const { return file_.entries() + 1 >= file_.capacity_entries(); }

  struct Entry {
    int64_t timestamp;
    int64_t offset;
  };
  Entry entry(size_t i) const;
  // Adds the entry if `timestamp` is above the last one. `on_roll` may use
  // the reserved last slot.
  bool maybe_append(int64_t timestamp, int64_t offset, bool on_roll);
  // Greatest entry with timestamp <= target, or {-1, base_offset} if none.
  Entry lookup(int64_t target) const;
  void truncate_to(int64_t offset);
  std::string sanity_error(int64_t next_offset_bound) const;

 private:
  IndexFile file_;
  int64_t base_offset_;
};

}  // namespace gregor
