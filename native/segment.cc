#include "segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "bytes.h"
#include "fault_probe.h"

namespace gregor {

using namespace batch_layout;

LogFile::~LogFile() {
  if (fd >= 0) ::close(fd);
}

std::string segment_file_name(int64_t base_offset, const char* suffix) {
  char name[64];
  std::snprintf(name, sizeof name, "%020lld%s", static_cast<long long>(base_offset), suffix);
  return name;
}

namespace {

// Reads exactly `n` bytes at `position` unless the file ends first.
ssize_t pread_full(int fd, uint8_t* buffer, size_t n, uint64_t position) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buffer + done, n - done, static_cast<off_t>(position + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

// index.interval.bytes (4096) plus a header: what a lookup usually needs.
constexpr size_t kFirstWindowBytes = 8 * 1024;

BatchHeaderScanner::BatchHeaderScanner(int fd, uint64_t start, uint64_t end, size_t window_bytes)
    : fd_(fd), position_(start), end_(end), window_(new uint8_t[window_bytes]),
      window_capacity_(window_bytes) {}

bool BatchHeaderScanner::next(BatchHeader* header, uint64_t* position) {
  if (position_ + kHeaderBytes > end_) return false;
  if (position_ < window_start_ || position_ + kHeaderBytes > window_start_ + window_bytes_) {
    // The first read is small: a lookup usually needs one header a few KiB
    // from its index entry; a scan that goes on reads whole windows.
    size_t capacity = window_bytes_ == 0 && window_start_ == 0 ? std::min<size_t>(window_capacity_, kFirstWindowBytes)
                                                              : window_capacity_;
    size_t want = static_cast<size_t>(std::min<uint64_t>(capacity, end_ - position_));
    ssize_t got = pread_full(fd_, window_.get(), want, position_);
    if (got < 0) {
      status_ = storage_error("read batch header", errno);
      return false;
    }
    window_start_ = position_;
    window_bytes_ = static_cast<size_t>(got);
    if (window_bytes_ < kHeaderBytes) return false;
  }
  BatchHeader h = parse_batch_header(window_.get() + (position_ - window_start_));
  if (h.magic != kMagicV2 || h.batch_length < static_cast<int32_t>(kHeaderBytes - kLogOverheadBytes) ||
      position_ + h.size_bytes() > end_ || !h.offsets_plausible()) {
    status_ = Status::Error(KafkaError::kCorruptMessage,
                            "implausible batch header at position " + std::to_string(position_));
    return false;
  }
  *header = h;
  *position = position_;
  position_ += h.size_bytes();
  return true;
}

Segment::Segment(std::string dir, int64_t base_offset)
    : dir_(std::move(dir)),
      base_offset_(base_offset),
      offset_index_(dir_ + "/" + segment_file_name(base_offset, ".index"), base_offset),
      time_index_(dir_ + "/" + segment_file_name(base_offset, ".timeindex"), base_offset),
      next_offset_(base_offset) {}

Status Segment::open_log_file(bool create) {
  std::string path = dir_ + "/" + segment_file_name(base_offset_, ".log");
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return storage_error("open " + path, errno);
  log_ = std::make_shared<LogFile>(fd, path);
  return Status::Ok();
}

Status Segment::create(const SegmentConfig& config, int64_t now_ms) {
  if (GREGOR_FAULT(kRoll)) return Status::Error(KafkaError::kKafkaStorageError, "injected fault: roll");
  Status s = open_log_file(true);
  if (!s.ok()) return s;
  size_t capacity = static_cast<size_t>(config.segment_index_bytes);
  s = offset_index_.file().reset(true, capacity);
  if (!s.ok()) return s;
  s = time_index_.file().reset(true, capacity);
  if (!s.ok()) return s;
  created_ms_ = now_ms;
  dirty_ = true;
  return Status::Ok();
}

Status Segment::open(const SegmentConfig& config, bool active, bool* index_ok) {
  Status s = open_log_file(false);
  if (!s.ok()) return s;
  struct stat st;
  if (::fstat(log_->fd, &st) != 0) return storage_error("stat " + log_->path, errno);
  size_bytes_ = static_cast<uint64_t>(st.st_size);
  created_ms_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000;
  *index_ok = true;
  size_t capacity = static_cast<size_t>(config.segment_index_bytes);
  for (IndexFile* file : {&offset_index_.file(), &time_index_.file()}) {
    if (::access(file->path().c_str(), F_OK) != 0) {
      *index_ok = false;
      continue;
    }
    s = file->open(active, capacity);
    if (!s.ok()) return s;
  }
  if (*index_ok) {
    std::string why = offset_index_.sanity_error(size_bytes_);
    if (why.empty()) why = time_index_.sanity_error(base_offset_ + INT32_MAX + 1LL);
    if (!why.empty()) *index_ok = false;
  }
  return Status::Ok();
}

Status Segment::scan_state_from(uint64_t start, int64_t start_max_timestamp, int64_t start_offset_of_max) {
  max_timestamp_ = start_max_timestamp;
  offset_of_max_timestamp_ = start_offset_of_max;
  BatchHeaderScanner scanner(log_->fd, start, size_bytes_);
  BatchHeader h;
  uint64_t position = 0;
  uint64_t end = start;
  while (scanner.next(&h, &position)) {
    if (h.max_timestamp > max_timestamp_) {
      max_timestamp_ = h.max_timestamp;
      offset_of_max_timestamp_ = h.last_offset();
    }
    next_offset_ = h.last_offset() + 1;
    end = position + h.size_bytes();
  }
  if (!scanner.status().ok() && scanner.status().code == KafkaError::kKafkaStorageError) return scanner.status();
  if (end != size_bytes_) {
    return Status::Error(KafkaError::kCorruptMessage,
                         log_->path + " does not end on a batch boundary (" + std::to_string(end) +
                             " of " + std::to_string(size_bytes_) + " bytes are whole batches)");
  }
  bytes_since_index_entry_ = end - start;
  return Status::Ok();
}

Status Segment::load_tail_state(const SegmentConfig&) {
  next_offset_ = base_offset_;
  uint64_t start = 0;
  if (offset_index_.entries() > 0) {
    OffsetIndex::Entry last = offset_index_.entry(offset_index_.entries() - 1);
    start = last.position;
  }
  int64_t max_ts = -1, offset_of_max = -1;
  // An index too small for even one entry (segment.index.bytes < 12) keeps
  // no maximum timestamp: scan the whole segment for it.
  if (time_index_.entries() == 0) start = 0;
  if (time_index_.entries() > 0) {
    TimeIndex::Entry last = time_index_.entry(time_index_.entries() - 1);
    max_ts = last.timestamp;
    offset_of_max = last.offset;
  }
  if (size_bytes_ >= kHeaderBytes) {
    uint8_t first[kHeaderBytes];
    if (pread_full(log_->fd, first, kHeaderBytes, 0) != static_cast<ssize_t>(kHeaderBytes)) {
      return storage_error("read " + log_->path, errno);
    }
    first_batch_timestamp_ = parse_batch_header(first).max_timestamp;
  }
  return scan_state_from(start, max_ts, offset_of_max);
}

void Segment::on_appended(const SegmentConfig& config, const BatchHeader& h, uint64_t position) {
  if (position == 0) first_batch_timestamp_ = h.max_timestamp;
  if (h.max_timestamp > max_timestamp_) {
    max_timestamp_ = h.max_timestamp;
    offset_of_max_timestamp_ = h.last_offset();
  }
  if (bytes_since_index_entry_ > static_cast<uint64_t>(config.index_interval_bytes)) {
    offset_index_.append(h.last_offset(), static_cast<uint32_t>(position));
    time_index_.maybe_append(max_timestamp_, offset_of_max_timestamp_, false);
    bytes_since_index_entry_ = 0;
  }
  bytes_since_index_entry_ += h.size_bytes();
  size_bytes_ = position + h.size_bytes();
  next_offset_ = h.last_offset() + 1;
  dirty_ = true;
}

Status Segment::recover(const SegmentConfig& config, bool active, uint64_t* truncated_bytes) {
  *truncated_bytes = 0;
  size_t capacity = static_cast<size_t>(config.segment_index_bytes);
  Status s = offset_index_.file().reset(true, capacity);
  if (!s.ok()) return s;
  s = time_index_.file().reset(true, capacity);
  if (!s.ok()) return s;
  uint64_t file_bytes = size_bytes_;
  size_bytes_ = 0;
  next_offset_ = base_offset_;
  max_timestamp_ = -1;
  offset_of_max_timestamp_ = -1;
  first_batch_timestamp_ = -1;
  bytes_since_index_entry_ = 0;

  constexpr size_t kWindowBytes = 1 << 20;
  std::vector<uint8_t> window(kWindowBytes);
  uint64_t position = 0;
  int64_t expected_min_offset = base_offset_;
  while (position < file_bytes) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(window.size(), file_bytes - position));
    ssize_t got = pread_full(log_->fd, window.data(), want, position);
    if (got < 0) return storage_error("read " + log_->path, errno);
    size_t available = static_cast<size_t>(got);
    if (available >= kHeaderBytes) {
      // A batch larger than the window: read it whole, if the file holds it.
      uint64_t size = kLogOverheadBytes + static_cast<uint64_t>(std::max(0, load_i32_be(window.data() + kBatchLength)));
      if (size > available && size <= file_bytes - position && size > window.size()) {
        window.resize(static_cast<size_t>(size));
        got = pread_full(log_->fd, window.data(), static_cast<size_t>(size), position);
        if (got < 0) return storage_error("read " + log_->path, errno);
        available = static_cast<size_t>(got);
      }
    }
    size_t offset_in_window = 0;
    bool stop = false;
    while (offset_in_window < available) {
      BatchHeader h;
      bool torn = false;
      Status check = check_stored_batch(window.data() + offset_in_window, available - offset_in_window, &h, &torn);
      if (!check.ok() && torn && position + offset_in_window + (available - offset_in_window) < file_bytes) {
        break;  // the batch continues past this window: read the next window from it
      }
      bool valid = check.ok() && h.offsets_plausible() && h.base_offset >= expected_min_offset &&
                   h.last_offset() - base_offset_ <= INT32_MAX;
      if (!valid) {
        stop = true;
        break;
      }
      on_appended(config, h, position + offset_in_window);
      expected_min_offset = h.last_offset() + 1;
      offset_in_window += h.size_bytes();
    }
    position += offset_in_window;
    if (stop || offset_in_window == 0) break;
  }
  if (position < file_bytes) {
    if (GREGOR_FAULT(kTruncate)) return Status::Error(KafkaError::kKafkaStorageError, "injected fault: truncate");
    if (::ftruncate(log_->fd, static_cast<off_t>(position)) != 0) return storage_error("truncate " + log_->path, errno);
    *truncated_bytes = file_bytes - position;
  }
  size_bytes_ = position;
  s = sync();
  if (!s.ok()) return s;
  if (!active) return close_active();
  return Status::Ok();
}

bool Segment::find_batch(int64_t offset, BatchHeader* header, uint64_t* position, Status* status) const {
  uint32_t start = offset_index_.lookup(offset).position;
  for (;;) {
    BatchHeaderScanner scanner(log_->fd, start, size_bytes_);
    BatchHeader h;
    uint64_t p;
    while (scanner.next(&h, &p)) {
      if (h.last_offset() >= offset) {
        *header = h;
        *position = p;
        return true;
      }
    }
    // An index entry that does not land on a batch (a damaged index that
    // passed the sanity check): the log itself is the truth, scan it whole.
    if (scanner.status().code == KafkaError::kCorruptMessage && start != 0) {
      start = 0;
      continue;
    }
    *status = scanner.status();
    return false;
  }
}

bool Segment::find_timestamp(int64_t timestamp, int64_t min_offset, int64_t* found_offset,
                             int64_t* found_timestamp, Status* status) const {
  if (max_timestamp_ < timestamp) return false;
  TimeIndex::Entry hint = time_index_.lookup(timestamp);
  uint32_t start = offset_index_.lookup(std::max(hint.offset, min_offset)).position;
  BatchHeaderScanner scanner(log_->fd, start, size_bytes_);
  BatchHeader h;
  uint64_t p;
  std::vector<uint8_t> batch;
  while (scanner.next(&h, &p)) {
    if (h.max_timestamp < timestamp || h.last_offset() < min_offset) continue;
    if (h.codec() != 0) {
      // Compressed records cannot be searched without decompressing (a later
      // issue); the batch is the closest answer that loses no record.
      *found_offset = std::max(h.base_offset, min_offset);
      *found_timestamp = h.max_timestamp;
      return true;
    }
    batch.resize(h.size_bytes());
    if (pread_full(log_->fd, batch.data(), batch.size(), p) != static_cast<ssize_t>(batch.size())) {
      *status = storage_error("read " + log_->path, errno);
      return false;
    }
    bool found = false;
    for_each_record_stamp(batch.data(), h, [&](const RecordStamp& r) {
      if (r.timestamp >= timestamp && r.offset >= min_offset) {
        *found_offset = r.offset;
        *found_timestamp = r.timestamp;
        found = true;
        return false;
      }
      return true;
    });
    if (found) return true;
  }
  *status = scanner.status();
  return false;
}

bool Segment::max_timestamp_from(int64_t min_offset, int64_t* found_offset, int64_t* found_timestamp,
                                 Status* status) const {
  bool found = false;
  BatchHeader first;
  uint64_t position = 0;
  if (!find_batch(min_offset, &first, &position, status)) return false;
  BatchHeaderScanner scanner(log_->fd, position, size_bytes_);
  BatchHeader h;
  uint64_t p;
  std::vector<uint8_t> batch;
  auto consider = [&](int64_t offset, int64_t timestamp) {
    if (offset >= min_offset && (!found || timestamp > *found_timestamp)) {
      found = true;
      *found_offset = offset;
      *found_timestamp = timestamp;
    }
  };
  while (scanner.next(&h, &p)) {
    if (found && h.max_timestamp <= *found_timestamp) continue;
    if (h.codec() != 0) {
      // Records cannot be read without decompressing: the batch's first readable offset.
      consider(std::max(h.base_offset, min_offset), h.max_timestamp);
      continue;
    }
    batch.resize(h.size_bytes());
    if (pread_full(log_->fd, batch.data(), batch.size(), p) != static_cast<ssize_t>(batch.size())) {
      *status = storage_error("read " + log_->path, errno);
      return false;
    }
    for_each_record_stamp(batch.data(), h, [&](const RecordStamp& r) {
      consider(r.offset, r.timestamp);
      return true;
    });
  }
  if (!scanner.status().ok()) *status = scanner.status();
  return found;
}

Status Segment::truncate_to(const SegmentConfig& config, int64_t offset) {
  BatchHeader h;
  uint64_t position = 0;
  Status status;
  if (!find_batch(offset, &h, &position, &status)) {
    if (!status.ok()) return status;
    position = size_bytes_;
  }
  if (GREGOR_FAULT(kTruncate)) return Status::Error(KafkaError::kKafkaStorageError, "injected fault: truncate");
  if (position < size_bytes_ && ::ftruncate(log_->fd, static_cast<off_t>(position)) != 0) {
    return storage_error("truncate " + log_->path, errno);
  }
  size_bytes_ = position;
  offset_index_.truncate_to(offset);
  time_index_.truncate_to(offset);
  size_t capacity = static_cast<size_t>(config.segment_index_bytes);
  Status s = offset_index_.file().make_writable(capacity);
  if (!s.ok()) return s;
  s = time_index_.file().make_writable(capacity);
  if (!s.ok()) return s;
  next_offset_ = base_offset_;
  first_batch_timestamp_ = -1;
  if (size_bytes_ >= kHeaderBytes) {
    uint8_t first[kHeaderBytes];
    if (pread_full(log_->fd, first, kHeaderBytes, 0) == static_cast<ssize_t>(kHeaderBytes)) {
      first_batch_timestamp_ = parse_batch_header(first).max_timestamp;
    }
  }
  // Entries that survived describe data before the cut; recompute the rest.
  dirty_ = true;
  return scan_state_from(0, -1, -1);
}

int64_t Segment::time_waited_for_roll_ms(int64_t now_ms, int64_t batch_max_timestamp) const {
  if (first_batch_timestamp_ >= 0) return batch_max_timestamp - first_batch_timestamp_;
  return now_ms - created_ms_;
}

Status Segment::make_active(const SegmentConfig& config) {
  size_t capacity = static_cast<size_t>(config.segment_index_bytes);
  Status s = offset_index_.file().make_writable(capacity);
  if (!s.ok()) return s;
  return time_index_.file().make_writable(capacity);
}

Status Segment::close_active() {
  if (max_timestamp_ >= 0) time_index_.maybe_append(max_timestamp_, offset_of_max_timestamp_, true);
  Status s = offset_index_.file().trim();
  if (!s.ok()) return s;
  return time_index_.file().trim();
}

Status Segment::sync() {
  if (!dirty_) return Status::Ok();
  if (GREGOR_FAULT(kFsync)) return Status::Error(KafkaError::kKafkaStorageError, "injected fault: fsync");
  if (::fdatasync(log_->fd) != 0) return storage_error("fsync " + log_->path, errno);
  // Index entries are not synced here: the indexes of every segment from the
  // recovery point on are rebuilt after a crash, and an index is synced when
  // its segment rolls (trim), before any later recovery point can pass it.
  dirty_ = false;
  return Status::Ok();
}

Status Segment::remove() {
  // The .log goes first: an index without its log is an orphan that the next
  // open deletes, while a log without its index would just be rebuilt.
  if (::unlink(log_->path.c_str()) != 0 && errno != ENOENT) return storage_error("unlink " + log_->path, errno);
  offset_index_.file().remove();
  time_index_.file().remove();
  return Status::Ok();
}

Status Segment::rename_to_deleted(std::vector<std::string>* renamed) {
  // The .log first, as in remove(): once it is renamed the segment is gone.
  std::string log_to = log_->path + ".deleted";
  if (::rename(log_->path.c_str(), log_to.c_str()) != 0) return storage_error("rename " + log_->path, errno);
  renamed->push_back(log_to);
  for (IndexFile* file : {&offset_index_.file(), &time_index_.file()}) {
    file->close();
    std::string to = file->path() + ".deleted";
    if (::rename(file->path().c_str(), to.c_str()) == 0) {
      renamed->push_back(to);
    } else if (errno != ENOENT) {
      ::unlink(file->path().c_str());  // or an orphan that the next open removes
    }
  }
  return Status::Ok();
}

int64_t Segment::last_modified_ms() const {
  struct stat st;
  if (::fstat(log_->fd, &st) != 0) return created_ms_;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

}  // namespace gregor
