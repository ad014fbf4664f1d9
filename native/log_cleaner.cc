#include "log_cleaner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <vector>

#include "bytes.h"
#include "crc32c.h"
#include "record_batch.h"

namespace gregor {

using namespace batch_layout;

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ssize_t pread_all(int fd, uint8_t* buffer, size_t bytes, uint64_t position) {
  size_t done = 0;
  while (done < bytes) {
    ssize_t r = ::pread(fd, buffer + done, bytes - done, static_cast<off_t>(position + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

Status write_all(int fd, const uint8_t* data, size_t bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes) {
    ssize_t w = ::write(fd, data + done, bytes - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return storage_error("write " + path, errno);
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

// Calls visit(batch bytes, header) for every whole valid batch of a segment,
// reading it through a 1 MiB window (grown for a larger batch).
template <typename Visit>
Status for_each_batch(const CleanSegment& segment, CleanStats* stats, Visit visit) {
  std::vector<uint8_t> window(1 << 20);
  uint64_t position = 0;
  const uint64_t end = segment.size_bytes;
  while (position < end) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(window.size(), end - position));
    ssize_t got = pread_all(segment.file->fd, window.data(), want, position);
    if (got < 0) return storage_error("read " + segment.file->path, errno);
    size_t available = static_cast<size_t>(got);
    if (available < kHeaderBytes) break;
    size_t at = 0;
    while (at + kHeaderBytes <= available) {
      uint64_t size = kLogOverheadBytes + static_cast<uint64_t>(std::max(0, load_i32_be(window.data() + at + kBatchLength)));
      if (at + size > available) break;
      BatchHeader h;
      bool torn = false;
      Status check = check_stored_batch(window.data() + at, available - at, &h, &torn);
      if (!check.ok()) {
        check.message = "cleaning " + segment.file->path + " at byte " + std::to_string(position + at) + ": " + check.message;
        return check;
      }
      visit(window.data() + at, h);
      at += h.size_bytes();
    }
    if (at == 0) {
      // One batch larger than the window: read it whole.
      uint64_t size = kLogOverheadBytes + static_cast<uint64_t>(std::max(0, load_i32_be(window.data() + kBatchLength)));
      if (size > end - position || size <= window.size()) {
        return Status::Error(KafkaError::kCorruptMessage, "cleaning " + segment.file->path + ": torn batch at byte " +
                                                              std::to_string(position));
      }
      window.resize(static_cast<size_t>(size));
      continue;
    }
    position += at;
    stats->bytes_read += at;
  }
  return Status::Ok();
}

// One record of an uncompressed batch, as the cleaner needs it.
struct RecordView {
  const uint8_t* begin;  // the length varint
  size_t bytes;          // whole record, length varint included
  int64_t offset_delta;
  const uint8_t* key;    // nullptr for a null key
  size_t key_bytes;
  bool null_value;
};

// Walks the records of an (uncompressed, checked) batch; false if malformed.
template <typename Visit>
bool for_each_record(const uint8_t* batch, const BatchHeader& header, Visit visit) {
  const uint8_t* p = batch + kRecords;
  const uint8_t* end = batch + header.size_bytes();
  for (int32_t i = 0; i < header.records_count; ++i) {
    int64_t length = 0;
    size_t n = read_zigzag_varint(p, end, 5, &length);
    if (n == 0 || length < 1 || length > end - p - static_cast<ptrdiff_t>(n)) return false;
    const uint8_t* record_end = p + n + length;
    const uint8_t* q = p + n + 1;  // past attributes
    int64_t ignored = 0, offset_delta = 0, key_length = 0, value_length = 0;
    size_t m = read_zigzag_varint(q, record_end, 10, &ignored);
    if (m == 0) return false;
    q += m;
    m = read_zigzag_varint(q, record_end, 5, &offset_delta);
    if (m == 0) return false;
    q += m;
    m = read_zigzag_varint(q, record_end, 5, &key_length);
    if (m == 0) return false;
    q += m;
    const uint8_t* key = nullptr;
    if (key_length >= 0) {
      if (key_length > record_end - q) return false;
      key = q;
      q += key_length;
    }
    m = read_zigzag_varint(q, record_end, 5, &value_length);
    if (m == 0) return false;
    RecordView r{p, static_cast<size_t>(record_end - p), offset_delta, key,
                 key ? static_cast<size_t>(key_length) : 0, value_length < 0};
    visit(r);
    p = record_end;
  }
  return true;
}

bool walkable(const BatchHeader& h) { return h.codec() == 0 && !h.is_control(); }

// 64-bit hash of the key bytes (8 bytes at a time, murmur-style mixing) with
// a seed; two seeds give the 128-bit key digest the offset map stores
// instead of the key (Kafka's SkimpyOffsetMap stores an MD5 digest).
inline uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t hash_key(const uint8_t* p, size_t n, uint64_t seed) {
  uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return mix(h ^ tail ^ (static_cast<uint64_t>(n) << 56));
}

// key digest -> latest offset, open addressing, grown at half full.
}  // namespace

class OffsetMap {
 public:
  OffsetMap() : slots_(1 << 12) {}
  void put(const uint8_t* key, size_t n, int64_t offset) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    insert(hash_key(key, n, 0x243f6a8885a308d3ULL), hash_key(key, n, 0x13198a2e03707344ULL), offset);
  }
  // The latest offset of the key, or -1.
  int64_t get(const uint8_t* key, size_t n) const {
    uint64_t a = hash_key(key, n, 0x243f6a8885a308d3ULL), b = hash_key(key, n, 0x13198a2e03707344ULL);
    size_t mask = slots_.size() - 1;
    for (size_t i = a & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.offset < 0) return -1;
      if (s.a == a && s.b == b) return s.offset;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t a = 0, b = 0;
    int64_t offset = -1;
  };
  void insert(uint64_t a, uint64_t b, int64_t offset) {
    size_t mask = slots_.size() - 1;
    for (size_t i = a & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.offset < 0) {
        s = Slot{a, b, offset};
        ++size_;
        return;
      }
      if (s.a == a && s.b == b) {
        if (s.offset < offset) s.offset = offset;
        return;
      }
    }
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old) {
      if (s.offset >= 0) insert(s.a, s.b, s.offset);
    }
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};


CleanWork::CleanWork() : map(std::make_unique<OffsetMap>()) {}
CleanWork::~CleanWork() = default;

Status build_offset_map(const CleanPlan& plan, const CleanOptions& options, bool collect_compressed, CleanWork* work,
                        CleanStats* stats) {
  int64_t started = steady_ms();
  OffsetMap& latest = *work->map;
  work->dirty_tombstone.assign(plan.segments.size(), 0);
  bool malformed = false;
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    const CleanSegment& segment = plan.segments[i];
    bool dirty = i >= plan.first_dirty_segment;
    if (!dirty && !collect_compressed) continue;
    Status s = for_each_batch(segment, stats, [&](const uint8_t* batch, const BatchHeader& h) {
      if (h.codec() != 0 && !h.is_control()) {
        if (collect_compressed) work->compressed.push_back(CompressedBatch{i, std::vector<uint8_t>(batch, batch + h.size_bytes())});
        return;
      }
      if (!dirty || !walkable(h) || h.last_offset() < plan.first_dirty_offset) return;
      if (!for_each_record(batch, h, [&](const RecordView& r) {
            if (r.key == nullptr) return;
            int64_t offset = h.base_offset + r.offset_delta;
            if (offset >= plan.first_dirty_offset) latest.put(r.key, r.key_bytes, offset);
          })) {
        malformed = true;
      }
    });
    if (!s.ok()) return s;
    if (malformed) return Status::Error(KafkaError::kCorruptMessage, "cleaning " + segment.file->path + ": a record is malformed");
  }
  stats->keys = latest.size();
  stats->bytes_read = 0;  // counted by the rewrite, which reads every segment
  stats->map_ms = steady_ms() - started;
  return Status::Ok();
}

namespace {

// Kafka's rule per record: the latest of its key (or a key the dirty part
// does not have), and not a tombstone whose time is up.
struct RetainRule {
  const CleanPlan& plan;
  const CleanOptions& options;
  bool drop_tombstones(const CleanSegment& segment, bool dirty_segment) const {
    return !dirty_segment && options.now_ms - segment.last_modified_ms > options.delete_retention_ms;
  }
};

}  // namespace

Status resolve_compressed(const CleanPlan& plan, const CleanOptions& options, const uint8_t* records, size_t bytes,
                          CleanWork* work, std::vector<uint8_t>* keep, CleanStats* stats) {
  struct Entry {
    const uint8_t* key;
    int32_t key_bytes;
    int64_t offset;
    bool null_value;
  };
  std::vector<Entry> entries;
  size_t at = 0;
  while (at < bytes) {
    if (bytes - at < 4) return Status::Error(KafkaError::kInvalidArgument, "compressed record list is truncated");
    int32_t key_bytes = load_i32_be(records + at);
    at += 4;
    const uint8_t* key = nullptr;
    if (key_bytes >= 0) {
      if (bytes - at < static_cast<size_t>(key_bytes)) return Status::Error(KafkaError::kInvalidArgument, "compressed record list is truncated");
      key = records + at;
      at += static_cast<size_t>(key_bytes);
    }
    if (bytes - at < 9) return Status::Error(KafkaError::kInvalidArgument, "compressed record list is truncated");
    int64_t offset = load_i64_be(records + at);
    bool null_value = records[at + 8] != 0;
    at += 9;
    entries.push_back(Entry{key, key_bytes, offset, null_value});
  }
  // Dirty keys first (the map must be complete before any decision).
  for (const Entry& e : entries) {
    if (e.key != nullptr && e.offset >= plan.first_dirty_offset && e.offset < plan.first_uncleanable_offset) {
      work->map->put(e.key, static_cast<size_t>(e.key_bytes), e.offset);
    }
  }
  stats->keys = work->map->size();
  // The list comes from JavaScript: it must describe exactly the records of
  // the batches, in order, each offset inside its batch and increasing.
  size_t expected = 0;
  size_t checked = 0;
  for (const CompressedBatch& batch : work->compressed) {
    int32_t count = load_i32_be(batch.bytes.data() + kRecordsCount);
    int64_t base = load_i64_be(batch.bytes.data());
    int64_t last = base + load_i32_be(batch.bytes.data() + kLastOffsetDelta);
    if (count < 0) return Status::Error(KafkaError::kInvalidArgument, "a compressed batch has a negative record count");
    expected += static_cast<size_t>(count);
    int64_t previous = base - 1;
    for (int32_t j = 0; j < count && checked < entries.size(); ++j, ++checked) {
      int64_t offset = entries[checked].offset;
      if (offset <= previous || offset > last) {
        return Status::Error(KafkaError::kInvalidArgument, "compressed record list has an offset outside its batch");
      }
      previous = offset;
    }
  }
  if (expected != entries.size()) {
    return Status::Error(KafkaError::kInvalidArgument, "compressed record list does not match the batches' record counts");
  }
  // Segment of each record: records come batch by batch, in the order of work->compressed.
  keep->assign(entries.size(), 0);
  size_t record = 0;
  RetainRule rule{plan, options};
  for (const CompressedBatch& batch : work->compressed) {
    int32_t count = load_i32_be(batch.bytes.data() + kRecordsCount);
    const CleanSegment& segment = plan.segments[batch.segment];
    bool dirty_segment = batch.segment >= plan.first_dirty_segment;
    bool drop_tombstones = rule.drop_tombstones(segment, dirty_segment);
    for (int32_t j = 0; j < count; ++j, ++record) {
      const Entry& e = entries[record];
      if (e.key == nullptr) continue;
      if (work->map->get(e.key, static_cast<size_t>(e.key_bytes)) > e.offset) continue;
      if (e.null_value) {
        if (drop_tombstones && e.offset < plan.first_dirty_offset) {
          ++stats->tombstones_removed;
          continue;
        }
        if (e.offset >= plan.first_dirty_offset) work->dirty_tombstone[batch.segment] = 1;
      }
      (*keep)[record] = 1;
    }
  }
  stats->records_read += entries.size();
  for (uint8_t k : *keep) stats->records_kept += k;
  return Status::Ok();
}

Status rewrite_segments(const CleanPlan& plan, const CleanOptions& options, CleanWork* work,
                        std::vector<CleanedFile>* out, CleanStats* stats) {
  int64_t started = steady_ms();
  const OffsetMap& latest = *work->map;
  RetainRule rule{plan, options};
  size_t compressed_index = 0;
  bool malformed = false;
  std::vector<uint8_t> output;
  std::vector<std::pair<const uint8_t*, size_t>> runs;
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    auto [begin, end] = plan.groups[g];
    CleanedFile file;
    file.group = g;
    file.base_offset = plan.segments[begin].base_offset;
    file.path = plan.dir + "/" + segment_file_name(file.base_offset, ".log.cleaned");
    int fd = ::open(file.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return storage_error("create " + file.path, errno);
    // A cleaned file keeps the age of its newest source; tombstones taken from
    // the dirty part make it "now", so that they survive delete.retention.ms.
    int64_t mtime_ms = 0;
    Status s;
    for (size_t i = begin; i < end && s.ok(); ++i) {
      const CleanSegment& segment = plan.segments[i];
      mtime_ms = std::max(mtime_ms, segment.last_modified_ms);
      if (i < work->dirty_tombstone.size() && work->dirty_tombstone[i]) mtime_ms = std::max(mtime_ms, options.now_ms);
      bool dirty_segment = i >= plan.first_dirty_segment;
      bool drop_tombstones = rule.drop_tombstones(segment, dirty_segment);
      output.clear();
      Status written;
      s = for_each_batch(segment, stats, [&](const uint8_t* batch, const BatchHeader& h) {
        // After a failed write nothing more is kept (the pass fails anyway).
        if (!written.ok()) return;
        // Written out every 4 MiB, between batches, so memory stays bounded.
        if (output.size() >= (4u << 20)) {
          written = write_all(fd, output.data(), output.size(), file.path);
          file.size_bytes += output.size();
          output.clear();
        }
        if (h.codec() != 0 && !h.is_control()) {
          size_t k = compressed_index++;
          uint8_t kind = k < work->replacement_kind.size() ? work->replacement_kind[k] : 0;
          if (kind == 1) return;
          if (kind == 2) {
            const std::vector<uint8_t>& r = work->replacements[k];
            output.insert(output.end(), r.begin(), r.end());
            return;
          }
          output.insert(output.end(), batch, batch + h.size_bytes());
          return;
        }
        if (!walkable(h)) {
          output.insert(output.end(), batch, batch + h.size_bytes());
          return;
        }
        // Decide first (kept records as runs of adjacent bytes), then copy:
        // a batch that keeps everything goes in one piece, CRC and all.
        runs.clear();
        int32_t kept = 0;
        bool ok = for_each_record(batch, h, [&](const RecordView& r) {
          ++stats->records_read;
          if (r.key == nullptr) return;  // Kafka drops records without a key from compacted logs
          int64_t offset = h.base_offset + r.offset_delta;
          if (latest.get(r.key, r.key_bytes) > offset) return;
          if (r.null_value) {
            if (drop_tombstones && offset < plan.first_dirty_offset) {
              ++stats->tombstones_removed;
              return;
            }
            if (offset >= plan.first_dirty_offset) mtime_ms = std::max(mtime_ms, options.now_ms);
          }
          if (!runs.empty() && runs.back().first + runs.back().second == r.begin) {
            runs.back().second += r.bytes;
          } else {
            runs.emplace_back(r.begin, r.bytes);
          }
          ++kept;
        });
        if (!ok) {
          malformed = true;
          return;
        }
        stats->records_kept += static_cast<uint64_t>(kept);
        if (kept == 0) return;  // an empty batch is dropped
        if (kept == h.records_count) {
          output.insert(output.end(), batch, batch + h.size_bytes());  // unchanged
          return;
        }
        size_t header_at = output.size();
        output.insert(output.end(), batch, batch + kHeaderBytes);
        for (const auto& [begin, length] : runs) output.insert(output.end(), begin, begin + length);
        uint8_t* header = output.data() + header_at;
        size_t batch_bytes = output.size() - header_at;
        store_u32_be(header + kBatchLength, static_cast<uint32_t>(batch_bytes - kLogOverheadBytes));
        store_u32_be(header + kRecordsCount, static_cast<uint32_t>(kept));
        store_u32_be(header + kCrc, crc32c(header + kCrcStart, batch_bytes - kCrcStart));
      });
      if (s.ok()) s = written;
      if (s.ok() && malformed) {
        s = Status::Error(KafkaError::kCorruptMessage, "cleaning " + segment.file->path + ": a record is malformed");
      }
      if (s.ok() && !output.empty()) s = write_all(fd, output.data(), output.size(), file.path);
      file.size_bytes += output.size();
      output.clear();
    }
    if (s.ok()) {
      timespec times[2];
      times[0].tv_sec = 0;
      times[0].tv_nsec = UTIME_OMIT;
      times[1].tv_sec = mtime_ms / 1000;
      times[1].tv_nsec = (mtime_ms % 1000) * 1000000;
      ::futimens(fd, times);
      if (::fsync(fd) != 0) s = storage_error("fsync " + file.path, errno);
    }
    ::close(fd);
    if (!s.ok()) {
      ::unlink(file.path.c_str());
      for (const CleanedFile& done : *out) ::unlink(done.path.c_str());
      out->clear();
      return s;
    }
    stats->bytes_written += file.size_bytes;
    out->push_back(std::move(file));
  }
  stats->rewrite_ms = steady_ms() - started;
  return Status::Ok();
}

Status clean_segments(const CleanPlan& plan, const CleanOptions& options, std::vector<CleanedFile>* out,
                      CleanStats* stats) {
  CleanWork work;
  Status s = build_offset_map(plan, options, false, &work, stats);
  if (!s.ok()) return s;
  return rewrite_segments(plan, options, &work, out, stats);
}

}  // namespace gregor
