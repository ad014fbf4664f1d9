#include "offset_index.h"

#include "bytes.h"

namespace gregor {

OffsetIndex::Entry OffsetIndex::entry(size_t i) const {
  const uint8_t* p = file_.entry(i);
  return Entry{base_offset_ + load_u32_be(p), load_u32_be(p + 4)};
}

bool OffsetIndex::append(int64_t offset, uint32_t position) {
  int64_t relative = offset - base_offset_;
  if (relative < 0 || relative > INT32_MAX) return false;
  if (file_.entries() > 0) {
    Entry last = entry(file_.entries() - 1);
    if (offset <= last.offset || position <= last.position) return false;
  }
  uint8_t* slot = file_.append_slot();
  if (slot == nullptr) return false;
  store_u32_be(slot, static_cast<uint32_t>(relative));
  store_u32_be(slot + 4, position);
  file_.commit_append();
  return true;
}

OffsetIndex::Entry OffsetIndex::lookup(int64_t target) const {
  size_t lo = 0, hi = file_.entries();  // find the first entry with offset > target
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (entry(mid).offset <= target) lo = mid + 1; else hi = mid;
  }
  if (lo == 0) return Entry{base_offset_, 0};
  return entry(lo - 1);
}

void OffsetIndex::truncate_to(int64_t offset) {
  size_t lo = 0, hi = file_.entries();  // first entry with offset >= `offset`
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (entry(mid).offset < offset) lo = mid + 1; else hi = mid;
  }
  file_.truncate_entries(lo);
}

std::string OffsetIndex::sanity_error(uint64_t log_bytes) const {
  if (file_.file_bytes_on_open() % kEntryBytes != 0) {
    return "index file size " + std::to_string(file_.file_bytes_on_open()) + " is not a multiple of 8";
  }
  for (size_t i = 0; i < file_.entries(); ++i) {
    Entry e = entry(i);
    if (e.position >= log_bytes) return "entry " + std::to_string(i) + " points past the end of the log";
    if (i > 0) {
      Entry prev = entry(i - 1);
      if (e.offset <= prev.offset || e.position <= prev.position) {
        return "entry " + std::to_string(i) + " does not increase";
      }
    }
  }
  return {};
}

TimeIndex::Entry TimeIndex::entry(size_t i) const {
  const uint8_t* p = file_.entry(i);
  return Entry{load_i64_be(p), base_offset_ + load_u32_be(p + 8)};
}

bool TimeIndex::maybe_append(int64_t timestamp, int64_t offset, bool on_roll) {
  int64_t relative = offset - base_offset_;
  if (relative < 0 || relative > INT32_MAX) return false;
  if (file_.entries() > 0) {
    Entry last = entry(file_.entries() - 1);
    if (timestamp <= last.timestamp || offset < last.offset) return false;
  }
  if (!on_roll && full()) return false;
  uint8_t* slot = file_.append_slot();
  if (slot == nullptr) return false;
  store_i64_be(slot, timestamp);
  store_u32_be(slot + 8, static_cast<uint32_t>(relative));
  file_.commit_append();
  return true;
}

TimeIndex::Entry TimeIndex::lookup(int64_t target) const {
  size_t lo = 0, hi = file_.entries();  // first entry with timestamp > target
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (entry(mid).timestamp <= target) lo = mid + 1; else hi = mid;
  }
  if (lo == 0) return Entry{-1, base_offset_};
  return entry(lo - 1);
}

void TimeIndex::truncate_to(int64_t offset) {
  size_t n = file_.entries();
  while (n > 0 && entry(n - 1).offset >= offset) --n;
  file_.truncate_entries(n);
}

std::string TimeIndex::sanity_error(int64_t next_offset_bound) const {
  if (file_.file_bytes_on_open() % kEntryBytes != 0) {
    return "time index file size " + std::to_string(file_.file_bytes_on_open()) + " is not a multiple of 12";
  }
  for (size_t i = 0; i < file_.entries(); ++i) {
    Entry e = entry(i);
    if (e.offset >= next_offset_bound) return "time index entry " + std::to_string(i) + " is past the segment";
    if (i > 0) {
      Entry prev = entry(i - 1);
      if (e.timestamp <= prev.timestamp || e.offset < prev.offset) {
        return "time index entry " + std::to_string(i) + " does not increase";
      }
    }
  }
  return {};
}

}  // namespace gregor
