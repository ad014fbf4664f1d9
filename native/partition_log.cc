#include "partition_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "bytes.h"
#include "fault_probe.h"

namespace gregor {

using namespace batch_layout;

namespace {

bool parse_segment_name(const char* name, const char* suffix, int64_t* base_offset) {
  size_t length = std::strlen(name), suffix_length = std::strlen(suffix);
  if (length != 20 + suffix_length || std::strcmp(name + 20, suffix) != 0) return false;
  int64_t value = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    if (value > (INT64_MAX - (name[i] - '0')) / 10) return false;
    value = value * 10 + (name[i] - '0');
  }
  *base_offset = value;
  return true;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

Status pwritev_full(int fd, std::vector<iovec>& iov, uint64_t position) {
  size_t first = 0;
  while (first < iov.size()) {
    int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    ssize_t written = ::pwritev(fd, iov.data() + first, count, static_cast<off_t>(position));
    if (written < 0) {
      if (errno == EINTR) continue;
      return storage_error("write", errno);
    }
    position += static_cast<uint64_t>(written);
    size_t left = static_cast<size_t>(written);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return Status::Ok();
}

}  // namespace

PartitionLog::PartitionLog(std::string dir, LogConfig config) : dir_(std::move(dir)), config_(config) {}

PartitionLog::~PartitionLog() = default;

SegmentConfig PartitionLog::segment_config() const {
  SegmentConfig c;
  c.segment_index_bytes = config_.segment_index_bytes;
  c.index_interval_bytes = config_.index_interval_bytes;
  return c;
}

void PartitionLog::set_config(const LogConfig& config) { config_ = config; }

void PartitionLog::publish() {
  uint64_t bytes = 0;
  for (const auto& s : segments_) bytes += s->size_bytes();
  int64_t end = segments_.back()->next_offset();
  int64_t start = log_start_offset_.load(std::memory_order_relaxed);
  if (start > end) start = end;  // invariant: log start <= log end
  log_start_offset_.store(start, std::memory_order_release);
  log_end_offset_.store(end, std::memory_order_release);
  if (recovery_point_.load(std::memory_order_relaxed) > end) recovery_point_.store(end, std::memory_order_release);
  size_bytes_.store(bytes, std::memory_order_release);
}

size_t PartitionLog::segment_index_for(int64_t offset) const {
  size_t lo = 0, hi = segments_.size();  // first segment with base > offset
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (segments_[mid]->base_offset() <= offset) lo = mid + 1; else hi = mid;
  }
  return lo == 0 ? 0 : lo - 1;
}

Status PartitionLog::sync_dir() {
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return storage_error("open directory " + dir_, errno);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) return storage_error("fsync directory " + dir_, saved);
  dir_dirty_ = false;
  return Status::Ok();
}

Status PartitionLog::open(int64_t recovery_point, int64_t log_start_offset, bool clean, int64_t now_ms) {
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) return storage_error("create directory " + dir_, errno);
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return storage_error("list " + dir_, errno);
  std::vector<int64_t> bases;
  std::vector<std::string> index_files, leftovers;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    int64_t base;
    if (parse_segment_name(e->d_name, ".log", &base)) {
      bases.push_back(base);
    } else if (parse_segment_name(e->d_name, ".log.swap", &base)) {
      swaps_.push_back(base);  // a compaction swap that a crash interrupted: completed below
    } else if (parse_segment_name(e->d_name, ".index", &base) || parse_segment_name(e->d_name, ".timeindex", &base)) {
      index_files.push_back(name);
    } else if (ends_with(name, ".deleted") || ends_with(name, ".cleaned") || ends_with(name, ".swap")) {
      leftovers.push_back(name);  // an interrupted delete or swap: Kafka's suffixes
    }
  }
  ::closedir(d);
  std::sort(bases.begin(), bases.end());
  for (const std::string& name : leftovers) ::unlink((dir_ + "/" + name).c_str());
  {
    Status s = complete_swaps(&bases);
    if (!s.ok()) return s;
  }
  for (const std::string& name : index_files) {
    int64_t base = 0;
    if (!parse_segment_name(name.c_str(), ".index", &base)) parse_segment_name(name.c_str(), ".timeindex", &base);
    if (!std::binary_search(bases.begin(), bases.end(), base)) ::unlink((dir_ + "/" + name).c_str());
  }

  SegmentConfig sc = segment_config();
  if (bases.empty()) {
    int64_t base = std::max<int64_t>(log_start_offset, 0);
    auto segment = std::make_unique<Segment>(dir_, base);
    Status s = segment->create(sc, now_ms);
    if (!s.ok()) return s;
    segments_.push_back(std::move(segment));
    dir_dirty_ = true;
  } else {
    size_t recover_from = bases.size();
    if (!clean) {
      // The first segment that may hold unflushed data.
      recover_from = 0;
      for (size_t i = 0; i < bases.size(); ++i) {
        if (bases[i] <= recovery_point) recover_from = i;
      }
    }
    for (size_t i = 0; i < bases.size(); ++i) {
      bool last = i + 1 == bases.size();
      auto segment = std::make_unique<Segment>(dir_, bases[i]);
      bool index_ok = false;
      Status s = segment->open(sc, last, &index_ok);
      if (!s.ok()) return s;
      bool needs_recovery = i >= recover_from || !index_ok;
      if (!needs_recovery) {
        s = segment->load_tail_state(sc);
        if (s.code == KafkaError::kKafkaStorageError) return s;
        needs_recovery = !s.ok();
      }
      uint64_t truncated = 0;
      if (needs_recovery) {
        s = segment->recover(sc, last, &truncated);
        if (!s.ok()) return s;
        recovered_truncated_bytes_ += truncated;
      }
      segments_.push_back(std::move(segment));
      if (truncated > 0 && i >= recover_from) {
        // The log ends at the first invalid batch: later segments go.
        for (size_t j = i + 1; j < bases.size(); ++j) {
          Segment later(dir_, bases[j]);
          bool ignored;
          if (later.open(sc, false, &ignored).ok()) {
            recovered_truncated_bytes_ += later.size_bytes();
            later.remove();
          }
        }
        if (!last) {
          s = segments_.back()->make_active(sc);
          if (!s.ok()) return s;
        }
        dir_dirty_ = true;
        break;
      }
    }
  }
  log_start_offset_.store(std::max(log_start_offset, segments_.front()->base_offset()), std::memory_order_relaxed);
  recovery_point_.store(INT64_MAX, std::memory_order_relaxed);
  publish();
  // Everything that survived recovery has been synced; the recovery point is the end.
  if (dir_dirty_) {
    Status s = sync_dir();
    if (!s.ok()) return s;
  }
  recovery_point_.store(log_end_offset(), std::memory_order_release);
  opened_ = true;
  return Status::Ok();
}

bool PartitionLog::should_roll(const BatchHeader& first, const BatchHeader& last, uint64_t append_bytes,
                               int64_t now_ms) {
  Segment& s = active();
  uint64_t size = s.size_bytes();
  if (size > 0 && size + append_bytes > static_cast<uint64_t>(config_.segment_bytes)) return true;
  if (size > 0 && s.time_waited_for_roll_ms(now_ms, last.max_timestamp) > config_.segment_ms) return true;
  if (s.index_full()) return true;
  // Relative offsets in the indexes are 32 bits.
  if (last.last_offset() - s.base_offset() > INT32_MAX || first.base_offset < s.base_offset()) return true;
  return false;
}

Status PartitionLog::roll_to(int64_t base_offset, int64_t now_ms) {
  SegmentConfig sc = segment_config();
  Segment& old = active();
  if (old.size_bytes() == 0 && old.base_offset() == base_offset) return Status::Ok();
  auto next = std::make_unique<Segment>(dir_, base_offset);
  Status s = next->create(sc, now_ms);
  if (!s.ok()) {
    // Whatever part was created goes (on a full disk, the indexes' blocks
    // can fail after the files exist).
    next.reset();
    for (const char* suffix : {".log", ".index", ".timeindex"}) {
      ::unlink((dir_ + "/" + segment_file_name(base_offset, suffix)).c_str());
    }
    return s;
  }
  if (old.size_bytes() == 0) {
    // An empty active segment is replaced rather than kept as a husk; if it
    // was the only one, the log now starts where the new one does.
    s = old.remove();
    segments_.pop_back();
    if (segments_.empty()) {
      log_start_offset_.store(std::max(log_start_offset(), base_offset), std::memory_order_release);
    }
  } else {
    s = old.close_active();
  }
  segments_.push_back(std::move(next));
  dir_dirty_ = true;
  return s;
}

Status PartitionLog::roll(int64_t now_ms) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  if (active().size_bytes() == 0) return Status::Ok();
  Status s = roll_to(log_end_offset(), now_ms);
  publish();
  return s;
}

Status PartitionLog::write_batches(const uint8_t* data, const PendingBatch* batches, size_t count,
                                   uint64_t bytes, int64_t now_ms, bool* rolled) {
  if (should_roll(batches[0].header, batches[count - 1].header, bytes, now_ms)) {
    Status s = roll_to(batches[0].header.base_offset, now_ms);
    publish();
    if (!s.ok()) return s;
    *rolled = true;
  }
  // Each batch's header is rewritten in scratch (offset, and for
  // LogAppendTime the timestamp, attributes and CRC); bodies go as they are.
  Segment& segment = active();
  header_scratch_.resize(count * kHeaderBytes);
  std::vector<iovec> iov;
  iov.reserve(count * 2);
  for (size_t i = 0; i < count; ++i) {
    const PendingBatch& p = batches[i];
    uint8_t* header = header_scratch_.data() + i * kHeaderBytes;
    const uint8_t* source = data + p.position;
    std::memcpy(header, source, kHeaderBytes);
    store_i64_be(header + kBaseOffset, p.header.base_offset);
    size_t body_bytes = p.header.size_bytes() - kHeaderBytes;
    if (p.rewrite_time) {
      store_u16_be(header + kAttributes, p.header.attributes);
      store_i64_be(header + kMaxTimestamp, p.header.max_timestamp);
      store_u32_be(header + kCrc, batch_crc(header, source + kHeaderBytes, body_bytes));
    }
    iov.push_back(iovec{header, kHeaderBytes});
    if (body_bytes > 0) iov.push_back(iovec{const_cast<uint8_t*>(source + kHeaderBytes), body_bytes});
  }
  uint64_t start = segment.size_bytes();
  Status s = GREGOR_FAULT(kAppend) ? Status::Error(KafkaError::kKafkaStorageError, "injected fault: append")
                                   : pwritev_full(segment.log_file()->fd, iov, start);
  if (!s.ok()) {
    // Leave the segment exactly as it was: cut whatever part of the write landed.
    if (::ftruncate(segment.log_file()->fd, static_cast<off_t>(start)) != 0) {
      s.message += "; and restoring the segment size failed";
    }
    s.message = "append to " + segment.log_file()->path + " failed: " + s.message;
    return s;
  }
  uint64_t at = start;
  SegmentConfig sc = segment_config();
  for (size_t i = 0; i < count; ++i) {
    segment.on_appended(sc, batches[i].header, at);
    at += batches[i].header.size_bytes();
  }
  return Status::Ok();
}

Status PartitionLog::append(const uint8_t* data, size_t bytes, OffsetMode mode, int64_t now_ms,
                            AppendResult* result) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  if (bytes == 0) return Status::Error(KafkaError::kInvalidRecord, "append needs at least one record batch");
  if (bytes > static_cast<uint64_t>(config_.segment_bytes)) {
    return Status::Error(KafkaError::kRecordListTooLarge,
                         "append of " + std::to_string(bytes) + " bytes exceeds segment.bytes (" +
                             std::to_string(config_.segment_bytes) + ")");
  }
  // 1. Validate every batch before anything is written.
  BatchCheckOptions options;
  options.offset_mode = mode;
  // A follower stores what its leader accepted, even if the limit changed since.
  options.batch_bytes_max = mode == OffsetMode::kAssign ? config_.max_message_bytes : INT32_MAX;
  // Only the leader stamps LogAppendTime; followers keep the leader's bytes.
  bool stamp_append_time = mode == OffsetMode::kAssign && config_.log_append_time;
  std::vector<PendingBatch> batches;
  int64_t next_offset = log_end_offset();
  size_t position = 0;
  while (position < bytes) {
    PendingBatch p;
    p.position = position;
    Status s = check_batch(data + position, bytes - position, options, &p.header);
    if (!s.ok()) {
      s.message = "batch " + std::to_string(batches.size()) + " at byte " + std::to_string(position) + ": " + s.message;
      return s;
    }
    if (mode == OffsetMode::kAssign) {
      p.header.base_offset = next_offset;
    } else if (p.header.base_offset < next_offset) {
      return Status::Error(KafkaError::kOffsetOutOfRange,
                           "batch " + std::to_string(batches.size()) + " starts at offset " +
                               std::to_string(p.header.base_offset) + ", below the next expected offset " +
                               std::to_string(next_offset));
    }
    next_offset = p.header.last_offset() + 1;
    if (next_offset > kOffsetMax) {
      return Status::Error(KafkaError::kInvalidRecord, "offsets beyond 2^53 are not supported");
    }
    p.rewrite_time = false;
    if (stamp_append_time) {
      p.header.attributes |= kTimestampTypeLogAppendTime;
      p.header.max_timestamp = now_ms;
      p.rewrite_time = true;
    } else if (mode == OffsetMode::kAssign && p.header.codec() == 0 && !p.header.is_log_append_time() &&
               p.header.records_max_timestamp != p.header.max_timestamp && p.header.records_count > 0) {
      // A producer's maxTimestamp must match its records (Kafka's validator
      // corrects it too): time lookups and retention trust this field.
      p.header.max_timestamp = p.header.records_max_timestamp;
      p.rewrite_time = true;
    }
    position += p.header.size_bytes();
    batches.push_back(p);
  }

  // 2. Write. A follower append whose offsets span more than one segment
  // can hold (2^31, compacted logs have gaps) is split at segment bounds.
  int64_t records = 0;
  bool rolled = false;
  size_t group_begin = 0;
  while (group_begin < batches.size()) {
    size_t group_end = group_begin + 1;
    uint64_t group_bytes = batches[group_begin].header.size_bytes();
    while (group_end < batches.size() &&
           batches[group_end].header.last_offset() - batches[group_begin].header.base_offset <= INT32_MAX) {
      group_bytes += batches[group_end].header.size_bytes();
      ++group_end;
    }
    Status s = write_batches(data, batches.data() + group_begin, group_end - group_begin, group_bytes, now_ms, &rolled);
    if (!s.ok()) {
      if (group_begin > 0) {
        // Undo the groups already written: an append is all or nothing.
        Status undo = truncate_to(batches.front().header.base_offset, now_ms);
        if (!undo.ok()) s.message += "; undoing the earlier part failed: " + undo.message;
      }
      return s;
    }
    for (size_t i = group_begin; i < group_end; ++i) records += batches[i].header.records_count;
    group_begin = group_end;
  }
  unflushed_messages_ += records;
  publish();

  result->base_offset = batches.front().header.base_offset;
  result->last_offset = batches.back().header.last_offset();
  result->log_append_time_ms = stamp_append_time ? now_ms : -1;
  result->record_count = records;
  result->batch_count = static_cast<int64_t>(batches.size());
  result->needs_flush = unflushed_messages_ >= config_.flush_messages;
  result->rolled = rolled;
  return Status::Ok();
}

Status PartitionLog::locate(int64_t offset, size_t* segment, BatchHeader* first, uint64_t* position, bool* at_end) {
  *at_end = false;
  int64_t start = log_start_offset(), end = log_end_offset();
  if (offset < start || offset > end) {
    return Status::Error(KafkaError::kOffsetOutOfRange,
                         "offset " + std::to_string(offset) + " is outside the log [" + std::to_string(start) +
                             ", " + std::to_string(end) + "]");
  }
  for (size_t i = segment_index_for(offset); i < segments_.size(); ++i) {
    Status status;
    if (segments_[i]->find_batch(offset, first, position, &status)) {
      *segment = i;
      return Status::Ok();
    }
    if (!status.ok()) return status;
  }
  *at_end = true;  // at the log end, or in a gap that runs to it
  return Status::Ok();
}

Status PartitionLog::read(int64_t offset, uint64_t max_bytes, FileRegion* region) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  size_t index = 0;
  BatchHeader first;
  uint64_t position = 0;
  bool at_end = false;
  Status s = locate(offset, &index, &first, &position, &at_end);
  if (!s.ok() || at_end) return s;
  Segment& segment = *segments_[index];
  uint64_t length = first.size_bytes();
  BatchHeaderScanner scanner(segment.log_file()->fd, position + length, segment.size_bytes());
  BatchHeader h;
  uint64_t p;
  while (length < max_bytes && scanner.next(&h, &p)) {
    if (length + h.size_bytes() > max_bytes) break;
    length += h.size_bytes();
  }
  region->file = segment.log_file();
  region->position = position;
  region->length = length;
  region->first_offset = first.base_offset;
  return Status::Ok();
}

Status PartitionLog::read_bytes(int64_t offset, uint64_t max_bytes, std::unique_ptr<uint8_t[]>* bytes,
                                size_t* size_bytes, int64_t* first_offset) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  *size_bytes = 0;
  *first_offset = -1;
  size_t index = 0;
  BatchHeader first;
  uint64_t position = 0;
  bool at_end = false;
  Status s = locate(offset, &index, &first, &position, &at_end);
  if (!s.ok() || at_end) return s;
  Segment& segment = *segments_[index];
  uint64_t want = std::max<uint64_t>(first.size_bytes(), std::min<uint64_t>(max_bytes, segment.size_bytes() - position));
  // Not value-initialised: every kept byte is overwritten by the read.
  bytes->reset(new uint8_t[want]);
  size_t done = 0;
  while (done < want) {
    ssize_t r = ::pread(segment.log_file()->fd, bytes->get() + done, want - done, static_cast<off_t>(position + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return storage_error("read " + segment.log_file()->path, errno);
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  // Check what was read, batch by batch, and keep only whole valid batches.
  size_t keep = 0;
  while (keep < done) {
    BatchHeader h;
    bool truncated = false;
    Status check = check_stored_batch(bytes->get() + keep, done - keep, &h, &truncated);
    if (!check.ok()) {
      if (keep == 0) {
        check.message = "stored batch at offset " + std::to_string(first.base_offset) + " in " +
                        segment.log_file()->path + " is damaged: " + check.message;
        return check;
      }
      break;
    }
    keep += h.size_bytes();
  }
  *size_bytes = keep;
  *first_offset = first.base_offset;
  return Status::Ok();
}

Status PartitionLog::offset_for_timestamp(int64_t timestamp, bool* found, int64_t* offset, int64_t* record_timestamp) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  *found = false;
  int64_t start = log_start_offset();
  for (const auto& segment : segments_) {
    if (segment->next_offset() <= start || segment->max_timestamp() < timestamp) continue;
    Status status;
    if (segment->find_timestamp(timestamp, start, offset, record_timestamp, &status)) {
      *found = true;
      return Status::Ok();
    }
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

Status PartitionLog::offset_of_max_timestamp(bool* found, int64_t* offset, int64_t* record_timestamp) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  *found = false;
  int64_t start = log_start_offset();
  for (const auto& segment : segments_) {
    if (segment->next_offset() <= start || segment->max_timestamp() < 0) continue;
    // No record of this segment can beat the best so far (ties keep the earlier offset).
    if (*found && segment->max_timestamp() <= *record_timestamp) continue;
    int64_t segment_offset = -1, segment_timestamp = -1;
    Status status;
    bool hit;
    // Wholly readable: the maximum is known, find the first record that has
    // it. Otherwise (the segment straddles the log start, or no record holds
    // the header maximum, as with the empty batches compaction leaves) scan.
    hit = segment->base_offset() >= start &&
          segment->find_timestamp(segment->max_timestamp(), start, &segment_offset, &segment_timestamp, &status);
    if (!hit && status.ok()) {
      hit = segment->max_timestamp_from(std::max(start, segment->base_offset()), &segment_offset, &segment_timestamp,
                                        &status);
    }
    if (!status.ok()) return status;
    if (hit && (!*found || segment_timestamp > *record_timestamp)) {
      *found = true;
      *offset = segment_offset;
      *record_timestamp = segment_timestamp;
    }
  }
  return Status::Ok();
}

Status PartitionLog::truncate_to(int64_t offset, int64_t now_ms) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  if (offset < 0) return Status::Error(KafkaError::kInvalidArgument, "cannot truncate to a negative offset");
  if (offset >= log_end_offset()) return Status::Ok();
  SegmentConfig sc = segment_config();
  Status s;
  if (offset <= segments_.front()->base_offset() || offset < log_start_offset()) {
    // Nothing below `offset` survives: start over at it.
    auto fresh = std::make_unique<Segment>(dir_, offset);
    for (auto& segment : segments_) {
      s = segment->remove();
      if (!s.ok()) return s;
    }
    segments_.clear();
    s = fresh->create(sc, now_ms);
    segments_.push_back(std::move(fresh));
    log_start_offset_.store(offset, std::memory_order_release);
  } else {
    size_t keep = segment_index_for(offset);
    while (segments_.size() > keep + 1) {
      s = segments_.back()->remove();
      if (!s.ok()) return s;
      segments_.pop_back();
    }
    s = segments_.back()->truncate_to(sc, offset);
  }
  dir_dirty_ = true;
  publish();
  return s;
}

Status PartitionLog::delete_records_before(int64_t offset, int64_t now_ms) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  if (offset > log_end_offset() || offset < 0) {
    return Status::Error(KafkaError::kOffsetOutOfRange,
                         "cannot delete records before " + std::to_string(offset) + ": the log ends at " +
                             std::to_string(log_end_offset()));
  }
  if (offset <= log_start_offset()) return Status::Ok();
  log_start_offset_.store(offset, std::memory_order_release);
  size_t removable = 0;
  while (removable + 1 < segments_.size() && segments_[removable + 1]->base_offset() <= offset) ++removable;
  size_t deleted = 0;
  return delete_oldest_segments(removable, now_ms, &deleted);
}

Status PartitionLog::delete_oldest_segments(size_t count, int64_t now_ms, size_t* deleted) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  *deleted = 0;
  count = std::min(count, segments_.size() - 1);
  bool delay = config_.file_delete_delay_ms > 0;
  PendingDeletion pending;
  pending.due_ms = config_.file_delete_delay_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + config_.file_delete_delay_ms;
  Status s;
  for (size_t i = 0; i < count; ++i) {
    if (GREGOR_FAULT(kDelete)) {
      s = Status::Error(KafkaError::kKafkaStorageError, "injected fault: delete");
      break;
    }
    s = delay ? segments_[i]->rename_to_deleted(&pending.paths) : segments_[i]->remove();
    if (!s.ok()) break;
    ++*deleted;
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(*deleted));
  if (*deleted > 0) {
    dir_dirty_ = true;
    int64_t start = std::max(log_start_offset(), segments_.front()->base_offset());
    log_start_offset_.store(start, std::memory_order_release);
  }
  if (!pending.paths.empty()) {
    pending_deletions_.push_back(std::move(pending));
    publish_next_file_deletion();
  }
  publish();
  return s;
}

namespace {

// Kafka's retention.ms test: the segment's largest timestamp (its file's
// modification time if no batch has one) is more than retention.ms old.
bool past_retention_ms(const Segment& segment, int64_t now_ms, int64_t retention_ms) {
  int64_t largest = segment.max_timestamp() >= 0 ? segment.max_timestamp() : segment.last_modified_ms();
  return largest < now_ms && static_cast<uint64_t>(now_ms) - static_cast<uint64_t>(largest) > static_cast<uint64_t>(retention_ms);
}

}  // namespace

Status PartitionLog::delete_old_segments(int64_t now_ms, RetentionResult* result) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  *result = RetentionResult{};
  const size_t n = segments_.size();
  // The active segment may go only if it holds something (it is rolled first).
  auto deletable = [&](size_t i) { return i + 1 < n || segments_[i]->size_bytes() > 0; };
  size_t count = 0;
  // 1. Wholly below the log start offset (a DeleteRecords whose deletion failed).
  int64_t start = log_start_offset();
  while (count + 1 < n && segments_[count + 1]->base_offset() <= start) ++count;
  result->below_log_start = count;
  if (config_.delete_policy) {
    // 2. retention.bytes: the oldest segments while the rest still hold that much.
    if (config_.retention_bytes >= 0) {
      uint64_t size = 0;
      for (size_t i = count; i < n; ++i) size += segments_[i]->size_bytes();
      uint64_t limit = static_cast<uint64_t>(config_.retention_bytes);
      if (size >= limit) {
        uint64_t excess = size - limit;
        while (count < n && deletable(count) && segments_[count]->size_bytes() <= excess) {
          excess -= segments_[count]->size_bytes();
          ++count;
          ++result->by_size;
        }
      }
    }
    // 3. retention.ms: the oldest segments whose newest record is too old.
    if (config_.retention_ms >= 0) {
      while (count < n && deletable(count) && past_retention_ms(*segments_[count], now_ms, config_.retention_ms)) {
        ++count;
        ++result->by_time;
      }
    }
  }
  if (count == 0) return Status::Ok();
  Status roll_status;
  if (count == n) {
    // Everything, the active segment included, is past retention: roll so
    // that the active segment can go too and the log continues at its end.
    roll_status = roll_to(log_end_offset(), now_ms);
    publish();
    if (segments_.size() > n) {
      result->rolled = true;  // (even if trimming the old segment's indexes failed: it goes anyway)
    } else {
      --count;  // keep the active segment; delete the rest (on a full disk, that frees room)
      if (result->by_time > 0) --result->by_time; else if (result->by_size > 0) --result->by_size;
    }
  }
  std::vector<uint64_t> sizes;
  for (size_t i = 0; i < count; ++i) sizes.push_back(segments_[i]->size_bytes());
  size_t deleted = 0;
  Status s = delete_oldest_segments(count, now_ms, &deleted);
  result->segments = deleted;
  for (size_t i = 0; i < deleted; ++i) result->bytes += sizes[i];
  if (deleted < count) {
    // Stopped early: the reasons are counted in deletion order.
    result->below_log_start = std::min(result->below_log_start, deleted);
    result->by_size = std::min(result->by_size, deleted - result->below_log_start);
    result->by_time = deleted - result->below_log_start - result->by_size;
  }
  if (!s.ok()) return s;
  return roll_status;
}

void PartitionLog::publish_next_file_deletion() {
  int64_t next = -1;
  for (const PendingDeletion& p : pending_deletions_) {
    if (next < 0 || p.due_ms < next) next = p.due_ms;
  }
  next_file_deletion_ms_.store(next, std::memory_order_release);
}

Status PartitionLog::unlink_due_files(int64_t now_ms) {
  Status s;
  std::vector<PendingDeletion> waiting;
  for (PendingDeletion& p : pending_deletions_) {
    if (p.due_ms > now_ms) {
      waiting.push_back(std::move(p));
      continue;
    }
    for (const std::string& path : p.paths) {
      // A file that cannot be unlinked now is a leftover the next open removes.
      if (::unlink(path.c_str()) != 0 && errno != ENOENT && s.ok()) s = storage_error("unlink " + path, errno);
    }
  }
  pending_deletions_ = std::move(waiting);
  publish_next_file_deletion();
  return s;
}

Status PartitionLog::delete_expired_files(int64_t now_ms) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  return unlink_due_files(now_ms);
}

Status PartitionLog::flush() {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  int64_t end = log_end_offset();
  for (auto& segment : segments_) {
    Status s = segment->sync();
    if (!s.ok()) return s;
  }
  if (dir_dirty_) {
    Status s = sync_dir();
    if (!s.ok()) return s;
  }
  unflushed_messages_ = 0;
  recovery_point_.store(end, std::memory_order_release);
  return Status::Ok();
}

Status PartitionLog::close(bool flush_first) {
  if (closed_) return Status::Ok();
  Status s;
  if (flush_first && opened_) s = flush();
  if (s.ok() && opened_ && !segments_.empty()) s = active().close_active();
  segments_.clear();
  // Nothing reads through the log any more (file regions keep their own
  // descriptors): deleted segments need not wait for their delay.
  Status unlinked = unlink_due_files(INT64_MAX);
  closed_ = true;
  return s.ok() ? unlinked : s;
}

std::vector<SegmentInfo> PartitionLog::segments() const {
  std::vector<SegmentInfo> out;
  for (const auto& s : segments_) {
    out.push_back(SegmentInfo{s->base_offset(), s->next_offset(), s->size_bytes(), s->max_timestamp()});
  }
  return out;
}

}  // namespace gregor

namespace gregor {

// Kafka's rule for a `.swap` left by a crash: the cleaning finished (the file
// was fsynced before it got this name), so the swap is completed. It replaces
// every segment whose base offset lies in its range [base, last offset]; old
// segments already renamed `.deleted` were removed with the leftovers. The
// old indexes of `base` go too: the new .log gets fresh ones.
Status PartitionLog::complete_swaps(std::vector<int64_t>* bases) {
  std::sort(swaps_.begin(), swaps_.end());
  for (int64_t base : swaps_) {
    std::string swap = dir_ + "/" + segment_file_name(base, ".log.swap");
    int fd = ::open(swap.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return storage_error("open " + swap, errno);
    struct stat st;
    int64_t last = base;
    if (::fstat(fd, &st) == 0) {
      BatchHeaderScanner scanner(fd, 0, static_cast<uint64_t>(st.st_size));
      BatchHeader h;
      uint64_t position;
      while (scanner.next(&h, &position)) last = std::max(last, h.last_offset());
    }
    ::close(fd);
    std::vector<int64_t> kept;
    for (int64_t b : *bases) {
      if (b == base || (b > base && b <= last)) {
        for (const char* suffix : {".log", ".index", ".timeindex"}) {
          ::unlink((dir_ + "/" + segment_file_name(b, suffix)).c_str());
        }
      } else {
        kept.push_back(b);
      }
    }
    for (const char* suffix : {".index", ".timeindex"}) ::unlink((dir_ + "/" + segment_file_name(base, suffix)).c_str());
    std::string log = dir_ + "/" + segment_file_name(base, ".log");
    if (::rename(swap.c_str(), log.c_str()) != 0) return storage_error("rename " + swap, errno);
    kept.push_back(base);
    std::sort(kept.begin(), kept.end());
    *bases = std::move(kept);
    dir_dirty_ = true;
  }
  swaps_.clear();
  if (dir_dirty_) return sync_dir();
  return Status::Ok();
}

Status PartitionLog::plan_clean(const CleanOptions& options, CleanPlan* plan) {
  if (closed_) return Status::Error(KafkaError::kLogClosed, "log is closed");
  *plan = CleanPlan{};
  plan->dir = dir_;
  plan->segment_bytes = config_.segment_bytes;
  plan->segment_index_bytes = config_.segment_index_bytes;
  plan->index_interval_bytes = config_.index_interval_bytes;
  int64_t start = log_start_offset();
  int64_t end = log_end_offset();
  plan->log_start_offset = start;
  int64_t first_dirty = options.first_dirty_offset;
  // Kafka: a checkpoint below the log start, or past the log end, restarts at the log start.
  if (first_dirty < start || first_dirty > end) first_dirty = start;
  const size_t n = segments_.size();
  size_t dirty_index = 0;
  while (dirty_index + 1 < n && segments_[dirty_index]->next_offset() <= first_dirty) ++dirty_index;
  // The first uncleanable segment: the active one, or the first dirty one
  // holding a record younger than min.compaction.lag.ms.
  size_t limit = n - 1;
  if (options.min_compaction_lag_ms > 0) {
    for (size_t i = dirty_index; i < limit; ++i) {
      if (segments_[i]->max_timestamp() > options.now_ms - options.min_compaction_lag_ms) {
        limit = i;
        break;
      }
    }
  }
  if (dirty_index > limit) dirty_index = limit;
  plan->first_dirty_offset = first_dirty;
  plan->first_uncleanable_offset = segments_[limit]->base_offset();
  for (size_t i = 0; i < limit; ++i) {
    const Segment& s = *segments_[i];
    (i < dirty_index ? plan->clean_bytes : plan->dirty_bytes) += s.size_bytes();
    plan->segments.push_back(CleanSegment{s.base_offset(), s.next_offset(), s.size_bytes(), s.last_modified_ms(), s.log_file()});
  }
  plan->first_dirty_segment = dirty_index;
  uint64_t total = plan->clean_bytes + plan->dirty_bytes;
  plan->dirty_ratio = total == 0 ? 0 : static_cast<double>(plan->dirty_bytes) / static_cast<double>(total);
  // max.compaction.lag.ms: the first dirty batch has waited too long.
  if (plan->dirty_bytes > 0 && options.max_compaction_lag_ms < INT64_MAX) {
    const Segment& s = *segments_[dirty_index];
    uint8_t header[kHeaderBytes];
    ssize_t got = ::pread(s.log_file()->fd, header, kHeaderBytes, 0);
    if (got == static_cast<ssize_t>(kHeaderBytes)) {
      int64_t first_timestamp = load_i64_be(header + kMaxTimestamp);
      plan->max_lag_exceeded = first_timestamp >= 0 && options.now_ms - first_timestamp > options.max_compaction_lag_ms;
    }
  }
  plan->clean = plan->dirty_bytes > 0 &&
                (options.force || plan->dirty_ratio >= options.min_cleanable_ratio || plan->max_lag_exceeded);
  if (!plan->clean) {
    plan->segments.clear();
    return Status::Ok();
  }
  // Groups of consecutive segments, each rewritten into one file: at most
  // segment.bytes of input, offsets within the 32-bit relative range, and
  // an index that can hold an entry per index.interval.bytes.
  size_t begin = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < plan->segments.size(); ++i) {
    const CleanSegment& s = plan->segments[i];
    uint64_t next_bytes = bytes + s.size_bytes;
    bool fits = i > begin && next_bytes <= static_cast<uint64_t>(config_.segment_bytes) &&
                s.next_offset - plan->segments[begin].base_offset <= INT32_MAX &&
                (config_.index_interval_bytes <= 0 ||
                 (next_bytes / static_cast<uint64_t>(config_.index_interval_bytes) + 2) * 12 <=
                     static_cast<uint64_t>(config_.segment_index_bytes));
    if (i > begin && !fits) {
      plan->groups.emplace_back(begin, i);
      begin = i;
      next_bytes = s.size_bytes;
    }
    bytes = next_bytes;
  }
  if (!plan->segments.empty()) plan->groups.emplace_back(begin, plan->segments.size());
  return Status::Ok();
}

Status PartitionLog::swap_cleaned(const CleanPlan& plan, const std::vector<CleanedFile>& files, int64_t now_ms,
                                  CleanStats* stats) {
  auto drop_from = [&](size_t f) {
    for (size_t k = f; k < files.size(); ++k) ::unlink(files[k].path.c_str());
  };
  if (closed_) {
    drop_from(0);
    return Status::Error(KafkaError::kLogClosed, "log is closed");
  }
  SegmentConfig sc = segment_config();
  PendingDeletion pending;
  pending.due_ms = config_.file_delete_delay_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + config_.file_delete_delay_ms;
  bool delay = config_.file_delete_delay_ms > 0;
  Status s;
  for (size_t f = 0; f < files.size(); ++f) {
    const CleanedFile& file = files[f];
    auto [begin, end] = plan.groups[file.group];
    size_t count = end - begin;
    // The group must still be in the log as it was planned (retention,
    // DeleteRecords or a truncation may have changed it meanwhile).
    size_t at = segment_index_for(file.base_offset);
    bool same = at + count < segments_.size();
    for (size_t k = 0; same && k < count; ++k) {
      const Segment& current = *segments_[at + k];
      const CleanSegment& planned = plan.segments[begin + k];
      same = current.log_file() == planned.file && current.size_bytes() == planned.size_bytes &&
             current.base_offset() == planned.base_offset;
    }
    if (!same) {
      ::unlink(file.path.c_str());
      continue;
    }
    std::string swap = dir_ + "/" + segment_file_name(file.base_offset, ".log.swap");
    if (::rename(file.path.c_str(), swap.c_str()) != 0) {
      s = storage_error("rename " + file.path, errno);
      drop_from(f);
      break;
    }
    s = sync_dir();
    if (s.ok() && GREGOR_FAULT(kCleanSwap)) s = Status::Error(KafkaError::kKafkaStorageError, "injected fault: clean-swap");
    // From here on the swap is committed: a failure leaves it for the next open to complete.
    for (size_t k = 0; s.ok() && k < count; ++k) {
      Segment& old = *segments_[at + k];
      s = delay ? old.rename_to_deleted(&pending.paths) : old.remove();
    }
    if (!s.ok()) {
      drop_from(f + 1);
      break;
    }
    std::string log = dir_ + "/" + segment_file_name(file.base_offset, ".log");
    if (::rename(swap.c_str(), log.c_str()) != 0) {
      s = storage_error("rename " + swap, errno);
      drop_from(f + 1);
      break;
    }
    auto cleaned = std::make_unique<Segment>(dir_, file.base_offset);
    bool index_ok = false;
    uint64_t truncated = 0;
    s = cleaned->open(sc, false, &index_ok);
    if (s.ok()) s = cleaned->recover(sc, false, &truncated);
    if (!s.ok()) {
      drop_from(f + 1);
      break;
    }
    segments_.erase(segments_.begin() + static_cast<ptrdiff_t>(at), segments_.begin() + static_cast<ptrdiff_t>(at + count));
    segments_.insert(segments_.begin() + static_cast<ptrdiff_t>(at), std::move(cleaned));
    stats->segments_swapped += count;
    dir_dirty_ = true;
  }
  if (dir_dirty_) {
    Status synced = sync_dir();
    if (s.ok()) s = synced;
  }
  if (!pending.paths.empty()) {
    pending_deletions_.push_back(std::move(pending));
    publish_next_file_deletion();
  }
  publish();
  return s;
}

}  // namespace gregor
