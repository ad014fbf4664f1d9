// A memory-mapped, fixed-entry-size index file: the storage under both
// OffsetIndex (.index) and TimeIndex (.timeindex).
//
// Lifecycle, as in Kafka: the active segment's index is sized to its maximum
// (segment.index.bytes rounded down to whole entries) as a sparse file, and
// disk blocks are reserved with fallocate a little ahead of the entries, so
// that writing through the mapping never touches a page without a block
// behind it (which would raise SIGBUS on a full disk). When
// the segment rolls or the log closes, the file is trimmed to its used
// entries and remapped read-only. On open, the number of entries is the file
// size divided by the entry size (a cleanly closed index is trimmed); a
// preallocated, zero-filled tail left by a crash fails the sanity check and
// the index is rebuilt from the log.
//
// The file descriptor is closed once the file is mapped: indexes cost no fd.
// All calls for one partition come from its io thread; nothing here locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.h"

namespace gregor {

class IndexFile {
 public:
  IndexFile(std::string path, size_t entry_bytes) : path_(std::move(path)), entry_bytes_(entry_bytes) {}
  ~IndexFile();
  IndexFile(const IndexFile&) = delete;
  IndexFile& operator=(const IndexFile&) = delete;

  // Opens (creating if absent). When `writable` the file is grown to
  // `capacity_bytes` (whole entries) and mapped read-write; otherwise mapped
  // read-only at its current size. Entries = existing size / entry size.
  Status open(bool writable, size_t capacity_bytes);
  // Grows a trimmed index back to capacity for appending (a segment that
  // becomes active again after truncation or reopen).
  Status make_writable(size_t capacity_bytes);
  // Shrinks the file to its used entries, syncs it, and remaps read-only.
  Status trim();
  // Forgets all entries at index >= `entries` (does not shrink the file).
  void truncate_entries(size_t entries);
  // Drops every entry and recreates the file empty and writable.
  Status reset(bool writable, size_t capacity_bytes);
  // Makes written entries durable (msync of the mapping).
  Status flush();
  // Unmaps and unlinks the file.
  Status remove();
  void close();

  const std::string& path() const { return path_; }
  size_t entries() const { return entries_; }
  size_t capacity_entries() const { return capacity_bytes_ / entry_bytes_; }
  bool writable() const { return writable_; }
  const uint8_t* entry(size_t i) const { return data_ + i * entry_bytes_; }
  // Where the next entry goes, with disk blocks reserved behind it; null if
  // the index is full, read-only, or the disk has no room.
  uint8_t* append_slot();
  void commit_append() { ++entries_; dirty_ = true; }
  size_t file_bytes_on_open() const { return file_bytes_on_open_; }

 private:
  // Blocks are reserved this far ahead of the last entry (a few thousand entries).
  static constexpr size_t kReserveAheadBytes = 64 * 1024;
  Status map(int fd, size_t bytes, bool writable);
  bool reserve(int fd, size_t through_bytes);
  void unmap();

  std::string path_;
  size_t entry_bytes_;
  uint8_t* data_ = nullptr;
  size_t mapped_bytes_ = 0;
  size_t capacity_bytes_ = 0;
  size_t entries_ = 0;
  size_t file_bytes_on_open_ = 0;
  bool writable_ = false;
  bool dirty_ = false;
  size_t allocated_bytes_ = 0;
};

}  // namespace gregor
