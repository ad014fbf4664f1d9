// Randomized property fuzzer for the native storage engine (native/*.cc).
//
// Built by native/CMakeLists.txt as the plain executable `storage_fuzz`
// (AddressSanitizer + UBSan with -DGREGOR_SANITIZE=ON):
//   cmake -S native -B build-cmake/asan -DGREGOR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
//   cmake --build build-cmake/asan -j2 --target storage_fuzz
//   build-cmake/asan/storage_fuzz --seconds 60
// or without sanitizers, directly:
//   g++ -O2 -std=c++17 -Wall -Wextra -Werror $(grep -v -e binding -e addon native/sources.txt)
//       test/native/storage_fuzz.cc -lpthread -o /tmp/storage_fuzz
//
//   storage_fuzz [--seconds N] [--seed S] [--only KIND:CASE] [--dir PATH] [--avoid-known-bugs] [--verbose]
//
//   --seconds N        run for about N seconds (default 20)
//   --seed S           seed of the case sequence (default 1; `random` picks one and prints it)
//   --only KIND:CASE   replay one case; with --verbose, a log case prints each operation
//   --dir PATH         parent of the temporary directory (default $TMPDIR, else /dev/shm, else /tmp)
//   --avoid-known-bugs steer around open engine bugs (listed at g_avoid_known_bugs)
//
// Cases run in a fixed order derived from the seed; `--seconds` only decides
// where the run stops. Every failure, and every sanitizer report, names the
// `--only` argument that replays that single case. The last line is
// `storage_fuzz: N passed, M failed` (N and M count cases); the exit status is
// 0 only when nothing failed. Memory stays bounded (the log model is pruned
// past a few MB) and the temporary directory is removed at the end.
//
// Three kinds of case:
//   batch  check_batch / check_stored_batch / for_each_record_stamp /
//          read_zigzag_varint on random buffers and on valid batches built
//          here (a small RecordBatch v2 encoder), then mutated, with the CRC
//          recomputed half the time so the record walk is exercised. Inputs
//          sit in exact-size heap blocks, so ASan sees any read past them.
//          Results are compared with an independent reference validator.
//   index  OffsetIndex / TimeIndex over mmap'd files: appends, lookups,
//          truncation, trim / make_writable, reopen (clean and not), garbage
//          files; compared with a vector model.
//   log    PartitionLog end to end against an in-memory model of the stored
//          batches: appends (valid and invalid, both offset modes), reads,
//          timestamp lookups, truncation, record deletion, rolls, flushes,
//          injected faults, clean reopen, and crash + tail corruption + recovery;
//          then compaction_case: cleanings (with interrupted swaps and crash
//          reopens) checked against the appended records.
//
// With libFuzzer (clang -fsanitize=fuzzer -DGREGOR_STORAGE_FUZZ_LIBFUZZER) the
// file instead exposes LLVMFuzzerTestOneInput, which runs the batch checks on
// the input bytes and uses them to seed one case of each kind.

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "../../native/bytes.h"
#include "../../native/crc32c.h"
#include "../../native/errors.h"
#include "../../native/fault_probe.h"
#include "../../native/offset_index.h"
#include "../../native/partition_log.h"
#include "../../native/record_batch.h"
#include "../../native/segment.h"

#if defined(__SANITIZE_ADDRESS__)
#define STORAGE_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STORAGE_FUZZ_ASAN 1
#endif
#endif
#ifdef STORAGE_FUZZ_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

using gregor::BatchCheckOptions;
using gregor::BatchHeader;
using gregor::KafkaError;
using gregor::OffsetMode;
using gregor::RecordStamp;
using gregor::Status;
namespace bl = gregor::batch_layout;
using Bytes = std::vector<uint8_t>;

constexpr int64_t kOffsetMax = (1LL << 53) - 1;  // partition_log.cc: offsets stay below 2^53

// ---------------------------------------------------------------------------
// Failure reporting

struct CaseFailure {
  std::string message;
};

std::string vformat(const char* fmt, va_list ap) {
  char buffer[1024];
  std::vsnprintf(buffer, sizeof buffer, fmt, ap);
  return buffer;
}

std::string sfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string sfmt(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  return s;
}

[[noreturn]] void fail_at(int line, const char* condition, const std::string& detail) {
  throw CaseFailure{sfmt("storage_fuzz.cc:%d: %s: %s", line, condition, detail.c_str())};
}

#define CHECK(cond, ...)                                           \
  do {                                                             \
    if (!(cond)) fail_at(__LINE__, #cond, sfmt(__VA_ARGS__));      \
  } while (0)

std::string status_text(const Status& s) {
  return std::string(gregor::kafka_error_name(s.code)) + (s.message.empty() ? "" : ": " + s.message);
}

#define CHECK_OK(expr, what)                                                                      \
  do {                                                                                            \
    Status check_ok_status_ = (expr);                                                             \
    if (!check_ok_status_.ok()) fail_at(__LINE__, #expr, std::string(what) + " failed: " +        \
                                                          status_text(check_ok_status_));        \
  } while (0)

// What a crash (ASan/UBSan report or signal) should say about the running case.
char g_case_banner[256] = "storage_fuzz: crashed outside any case\n";
char g_op_banner[256] = "";
std::string g_op_desc;

void set_case_banner(const char* kind, uint64_t index, uint64_t seed) {
  std::snprintf(g_case_banner, sizeof g_case_banner,
                "storage_fuzz: crashed in %s case %" PRIu64 " (seed %" PRIu64
                "); replay with: storage_fuzz --seed %" PRIu64 " --only %s:%" PRIu64 "\n",
                kind, index, seed, seed, kind, index);
  g_op_banner[0] = '\0';
  g_op_desc.clear();
}

void write_banners() {
  ssize_t ignored = ::write(2, g_case_banner, std::strlen(g_case_banner));
  if (g_op_banner[0] != '\0') ignored = ::write(2, g_op_banner, std::strlen(g_op_banner));
  (void)ignored;
}

void on_fatal_signal(int sig) {
  write_banners();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// GCC links ASan and UBSan as two shared runtimes, each with its own death
// callback: register with every loaded sanitizer runtime.
int register_death_callback(struct dl_phdr_info* info, size_t, void*) {
  const char* name = info->dlpi_name;
  if (name == nullptr || std::strstr(name, "san") == nullptr) return 0;
  void* handle = ::dlopen(name, RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return 0;
  using SetCallback = void (*)(void (*)(void));
  if (auto set = reinterpret_cast<SetCallback>(::dlsym(handle, "__sanitizer_set_death_callback"))) set(write_banners);
  ::dlclose(handle);
  return 0;
}

void install_crash_banners() {
#ifdef STORAGE_FUZZ_ASAN
  __sanitizer_set_death_callback(write_banners);
#else
  std::signal(SIGSEGV, on_fatal_signal);
  std::signal(SIGBUS, on_fatal_signal);
#endif
  ::dl_iterate_phdr(register_death_callback, nullptr);
  std::signal(SIGABRT, on_fatal_signal);
}

// ---------------------------------------------------------------------------
// Random numbers (std::mt19937_64 is specified bit for bit; the helpers below
// avoid the library's distributions so runs replay on any standard library).

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint64_t next() { return g(); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  // Inclusive range; hi - lo must fit in uint64 minus one.
  int64_t range(int64_t lo, int64_t hi) {
    uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    if (span == UINT64_MAX) return static_cast<int64_t>(next());
    return static_cast<int64_t>(static_cast<uint64_t>(lo) + below(span + 1));
  }
  bool one_in(uint64_t n) { return below(n) == 0; }
  bool coin() { return (next() & 1) != 0; }
  uint8_t byte() { return static_cast<uint8_t>(next()); }
  Bytes bytes(size_t n) {
    Bytes out(n);
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = next();
      std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
    }
    return out;
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
};

const std::vector<int64_t>& interesting_values() {
  static const std::vector<int64_t> values = {
      0, 1, -1, 2, -2, 6, 7, 8, 12, 48, 49, 50, 60, 61, 62, 63, 64, 127, 128, 255, 256, 4095, 4096,
      32767, 32768, 65535, 65536, INT32_MAX, INT32_MAX - 1, static_cast<int64_t>(INT32_MAX) + 1,
      INT32_MIN, INT32_MIN + 1, static_cast<int64_t>(UINT32_MAX), kOffsetMax, kOffsetMax + 1,
      INT64_MAX, INT64_MAX - 1, INT64_MAX - 5, INT64_MIN, INT64_MIN + 1, 1LL << 35, -(1LL << 35),
      1LL << 62, -(1LL << 62)};
  return values;
}

// --avoid-known-bugs steers around engine bugs found by this fuzzer that are
// not fixed yet, so that everything else can still be fuzzed meanwhile. Each
// item goes when its fix lands:
//  1. offset_of_max_timestamp answers from the segment's maximum, which comes
//     from batch headers; when no record carries it (an empty follower batch,
//     a producer's maxTimestamp above its records) the segment is dropped
//     from the answer. With the flag only the answer's existence is checked.
bool g_avoid_known_bugs = false;
bool g_trace = false;  // --verbose with --only: one line per log operation

int64_t interesting(Rng& r) { return r.pick(interesting_values()); }

// ---------------------------------------------------------------------------
// Zigzag varints and a reference decoder (independent of the engine's).

uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ (v < 0 ? UINT64_MAX : 0); }

// Appends `v`, optionally with `extra` redundant zero groups (an overlong but
// decodable encoding).
void put_varint(Bytes& out, int64_t v, size_t extra = 0) {
  uint64_t z = zigzag(v);
  uint8_t groups[16];
  size_t n = 0;
  do {
    groups[n++] = static_cast<uint8_t>(z & 0x7f);
    z >>= 7;
  } while (z != 0);
  for (size_t i = 0; i < extra && n < sizeof groups; ++i) groups[n++] = 0;
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(groups[i] | (i + 1 < n ? 0x80 : 0)));
}

size_t varint_size(int64_t v) {
  uint64_t z = zigzag(v);
  size_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}

// Decodes at most `max_bytes` bytes of the `avail` at `p`: bytes used or 0.
size_t ref_varint(const uint8_t* p, size_t avail, size_t max_bytes, int64_t* value) {
  uint64_t raw = 0;
  for (size_t i = 0; i < max_bytes; ++i) {
    if (i >= avail) return 0;
    raw |= static_cast<uint64_t>(p[i] & 0x7f) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      *value = static_cast<int64_t>((raw >> 1) ^ (0 - (raw & 1)));
      return i + 1;
    }
  }
  return 0;
}

int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// ---------------------------------------------------------------------------
// RecordBatch v2 encoder

struct HeaderSpec {
  Bytes key;
  bool has_value = true;
  Bytes value;
};

struct RecordSpec {
  uint8_t attributes = 0;
  int64_t timestamp_delta = 0;
  int64_t offset_delta = 0;
  bool has_key = true;
  Bytes key;
  bool has_value = true;
  Bytes value;
  std::vector<HeaderSpec> headers;
  size_t pad = 0;  // redundant varint groups on the timestamp delta
};

struct BatchSpec {
  int64_t base_offset = 0;
  int32_t partition_leader_epoch = 0;
  uint16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t records_count = 0;
  std::vector<RecordSpec> records;  // codec 0
  Bytes blob;                       // codec != 0: opaque "compressed" payload
  unsigned codec() const { return attributes & bl::kCodecMask; }
};

struct Encoded {
  Bytes bytes;
  std::vector<std::pair<size_t, size_t>> varints;  // (position, length) of every varint
};

void put_u16(Bytes& b, size_t at, uint16_t v) { gregor::store_u16_be(b.data() + at, v); }
void put_u32(Bytes& b, size_t at, uint32_t v) { gregor::store_u32_be(b.data() + at, v); }
void put_u64(Bytes& b, size_t at, uint64_t v) { gregor::store_u64_be(b.data() + at, v); }

void fix_crc(Bytes& b) {
  if (b.size() < bl::kHeaderBytes) return;
  put_u32(b, bl::kCrc, gregor::crc32c(b.data() + bl::kCrcStart, b.size() - bl::kCrcStart));
}

void fix_length(Bytes& b) {
  if (b.size() < bl::kLogOverheadBytes) return;
  put_u32(b, bl::kBatchLength, static_cast<uint32_t>(b.size() - bl::kLogOverheadBytes));
}

Encoded encode(const BatchSpec& s) {
  Encoded e;
  Bytes& b = e.bytes;
  b.assign(bl::kHeaderBytes, 0);
  put_u64(b, bl::kBaseOffset, static_cast<uint64_t>(s.base_offset));
  put_u32(b, bl::kPartitionLeaderEpoch, static_cast<uint32_t>(s.partition_leader_epoch));
  b[bl::kMagic] = bl::kMagicV2;
  put_u16(b, bl::kAttributes, s.attributes);
  put_u32(b, bl::kLastOffsetDelta, static_cast<uint32_t>(s.last_offset_delta));
  put_u64(b, bl::kBaseTimestamp, static_cast<uint64_t>(s.base_timestamp));
  put_u64(b, bl::kMaxTimestamp, static_cast<uint64_t>(s.max_timestamp));
  put_u64(b, bl::kProducerId, static_cast<uint64_t>(s.producer_id));
  put_u16(b, 51, static_cast<uint16_t>(s.producer_epoch));
  put_u32(b, 53, static_cast<uint32_t>(s.base_sequence));
  put_u32(b, bl::kRecordsCount, static_cast<uint32_t>(s.records_count));
  if (s.codec() != 0) {
    b.insert(b.end(), s.blob.begin(), s.blob.end());
  } else {
    for (const RecordSpec& r : s.records) {
      Bytes body;
      std::vector<std::pair<size_t, size_t>> marks;
      auto varint = [&](int64_t v, size_t extra = 0) {
        size_t at = body.size();
        put_varint(body, v, extra);
        marks.emplace_back(at, body.size() - at);
      };
      body.push_back(r.attributes);
      varint(r.timestamp_delta, r.pad);
      varint(r.offset_delta);
      varint(r.has_key ? static_cast<int64_t>(r.key.size()) : -1);
      if (r.has_key) body.insert(body.end(), r.key.begin(), r.key.end());
      varint(r.has_value ? static_cast<int64_t>(r.value.size()) : -1);
      if (r.has_value) body.insert(body.end(), r.value.begin(), r.value.end());
      varint(static_cast<int64_t>(r.headers.size()));
      for (const HeaderSpec& h : r.headers) {
        varint(static_cast<int64_t>(h.key.size()));
        body.insert(body.end(), h.key.begin(), h.key.end());
        varint(h.has_value ? static_cast<int64_t>(h.value.size()) : -1);
        if (h.has_value) body.insert(body.end(), h.value.begin(), h.value.end());
      }
      size_t at = b.size();
      put_varint(b, static_cast<int64_t>(body.size()));
      e.varints.emplace_back(at, b.size() - at);
      size_t body_at = b.size();
      b.insert(b.end(), body.begin(), body.end());
      for (auto& m : marks) e.varints.emplace_back(body_at + m.first, m.second);
    }
  }
  fix_length(b);
  fix_crc(b);
  return e;
}

Bytes random_payload(Rng& r, size_t max_len) {
  size_t n = r.one_in(16) ? r.below(max_len * 6 + 1) : r.below(max_len + 1);
  return r.bytes(n);
}

// A batch that check_batch must accept: in both offset modes when
// `both_modes` (offset deltas 0..n-1, not a control batch), otherwise only in
// OffsetMode::kKeep (gaps, control bit, spare offsets, possibly no records).
// `extreme` allows values at the edges of their types (offsets, timestamps).
BatchSpec random_valid_spec(Rng& r, bool both_modes, bool extreme, size_t max_value = 48) {
  BatchSpec s;
  size_t n;
  if (both_modes) {
    n = 1 + r.below(r.one_in(10) ? 60 : 8);
  } else {
    n = r.below(r.one_in(10) ? 40 : 8);
  }
  unsigned codec = r.one_in(8) ? static_cast<unsigned>(1 + r.below(4)) : 0;
  s.attributes = static_cast<uint16_t>(codec);
  if (r.one_in(10)) s.attributes |= bl::kTimestampTypeLogAppendTime;
  if (r.one_in(5)) s.attributes |= bl::kTransactional;
  if (!both_modes && r.one_in(4)) s.attributes |= bl::kControl;
  if (r.one_in(8)) s.attributes |= static_cast<uint16_t>(r.below(0x10000) & ~0x3f);  // unused bits
  s.partition_leader_epoch = static_cast<int32_t>(r.next());
  s.producer_id = r.coin() ? -1 : static_cast<int64_t>(r.below(1u << 20));
  s.producer_epoch = static_cast<int16_t>(r.coin() ? -1 : static_cast<int16_t>(r.below(100)));
  s.base_sequence = static_cast<int32_t>(r.coin() ? -1 : static_cast<int32_t>(r.below(1000)));
  s.base_offset = extreme && r.one_in(4) ? interesting(r) : static_cast<int64_t>(r.below(1u << 30));
  s.base_timestamp = extreme && r.one_in(6) ? interesting(r) : 1000000 + static_cast<int64_t>(r.below(1000000));

  std::vector<int64_t> deltas;
  int64_t next = both_modes ? 0 : static_cast<int64_t>(r.below(3));
  for (size_t i = 0; i < n; ++i) {
    deltas.push_back(next);
    next += both_modes ? 1 : 1 + static_cast<int64_t>(r.one_in(3) ? r.below(4) : 0);
  }
  if (both_modes) {
    s.last_offset_delta = static_cast<int32_t>(n - 1);
  } else {
    int64_t last = deltas.empty() ? static_cast<int64_t>(r.below(4)) : deltas.back() + static_cast<int64_t>(r.below(3));
    s.last_offset_delta = static_cast<int32_t>(last);
  }
  s.records_count = static_cast<int32_t>(n);

  int64_t max_ts = s.base_timestamp;
  std::vector<int64_t> ts_deltas;
  for (size_t i = 0; i < n; ++i) {
    int64_t d = i == 0 && r.coin() ? 0 : r.range(-5000, 5000);
    if (extreme && r.one_in(8)) d = interesting(r);
    ts_deltas.push_back(d);
    int64_t t = wrap_add(s.base_timestamp, d);
    if (i == 0 || t > max_ts) max_ts = t;
  }
  s.max_timestamp = max_ts;

  if (codec != 0) {
    s.blob = r.bytes(7 * n + r.below(120));
    return s;
  }
  for (size_t i = 0; i < n; ++i) {
    RecordSpec rec;
    rec.attributes = r.one_in(8) ? r.byte() : 0;
    rec.timestamp_delta = ts_deltas[i];
    rec.offset_delta = deltas[i];
    rec.has_key = !r.one_in(4);
    if (rec.has_key) rec.key = random_payload(r, 16);
    rec.has_value = !r.one_in(8);
    if (rec.has_value) rec.value = random_payload(r, max_value);
    size_t headers = r.one_in(3) ? r.below(4) : 0;
    for (size_t k = 0; k < headers; ++k) {
      HeaderSpec h;
      h.key = r.bytes(r.below(10));
      h.has_value = !r.one_in(4);
      if (h.has_value) h.value = random_payload(r, 12);
      rec.headers.push_back(std::move(h));
    }
    if (r.one_in(12)) {
      size_t used = varint_size(rec.timestamp_delta);
      if (used < 10) rec.pad = r.below(10 - used + 1);
    }
    s.records.push_back(std::move(rec));
  }
  return s;
}

// ---------------------------------------------------------------------------
// Reference validator: the rules of record_batch.h, written independently
// (index arithmetic instead of pointers) to compare check_batch against.

struct RefResult {
  bool ok = false;
  std::vector<RecordStamp> stamps;
};

// Walks the records of an uncompressed batch of `size` bytes at `b`.
bool ref_walk(const uint8_t* b, size_t size, int32_t count, OffsetMode mode, int32_t lod, bool full_check,
              int64_t base_offset, int64_t base_ts, int64_t max_ts, bool log_append_time,
              std::vector<RecordStamp>* stamps) {
  size_t i = bl::kRecords;
  int64_t previous = -1;
  for (int64_t k = 0; k < count; ++k) {
    int64_t length = 0;
    size_t n = ref_varint(b + i, size - i, 5, &length);
    if (n == 0) return false;
    i += n;
    if (length < 1 || static_cast<uint64_t>(length) > size - i) return false;
    size_t end = i + static_cast<size_t>(length);
    size_t j = i + 1;
    int64_t ts_delta = 0, off_delta = 0;
    n = ref_varint(b + j, end - j, 10, &ts_delta);
    if (n == 0) return false;
    j += n;
    n = ref_varint(b + j, end - j, 5, &off_delta);
    if (n == 0) return false;
    j += n;
    if (stamps != nullptr) {
      stamps->push_back(RecordStamp{wrap_add(base_offset, off_delta),
                                    log_append_time ? max_ts : wrap_add(base_ts, ts_delta)});
    }
    if (full_check) {
      bool in_sequence = mode == OffsetMode::kAssign ? off_delta == k : (off_delta > previous && off_delta <= lod);
      if (!in_sequence) return false;
      previous = off_delta;
      for (int field = 0; field < 2; ++field) {  // key, value
        int64_t len = 0;
        n = ref_varint(b + j, end - j, 5, &len);
        if (n == 0 || len < -1) return false;
        j += n;
        if (len > 0) {
          if (static_cast<uint64_t>(len) > end - j) return false;
          j += static_cast<size_t>(len);
        }
      }
      int64_t headers = 0;
      n = ref_varint(b + j, end - j, 5, &headers);
      if (n == 0 || headers < 0) return false;
      j += n;
      for (int64_t h = 0; h < headers; ++h) {
        int64_t len = 0;
        n = ref_varint(b + j, end - j, 5, &len);
        if (n == 0 || len < 0 || static_cast<uint64_t>(len) > end - j - n) return false;
        j += n + static_cast<size_t>(len);
        n = ref_varint(b + j, end - j, 5, &len);
        if (n == 0 || len < -1) return false;
        j += n;
        if (len > 0) {
          if (static_cast<uint64_t>(len) > end - j) return false;
          j += static_cast<size_t>(len);
        }
      }
      if (j != end) return false;
    }
    i = end;
  }
  return !full_check || i == size;
}

struct RefHeader {
  int64_t base_offset;
  int32_t batch_length;
  uint8_t magic;
  uint32_t crc;
  uint16_t attributes;
  int32_t lod;
  int64_t base_ts, max_ts;
  int32_t count;
};

RefHeader ref_header(const uint8_t* d) {
  RefHeader h;
  h.base_offset = gregor::load_i64_be(d);
  h.batch_length = gregor::load_i32_be(d + 8);
  h.magic = d[16];
  h.crc = gregor::load_u32_be(d + 17);
  h.attributes = gregor::load_u16_be(d + 21);
  h.lod = gregor::load_i32_be(d + 23);
  h.base_ts = gregor::load_i64_be(d + 27);
  h.max_ts = gregor::load_i64_be(d + 35);
  h.count = gregor::load_i32_be(d + 57);
  return h;
}

bool ref_stored_ok(const uint8_t* d, size_t n) {
  if (n < bl::kHeaderBytes) return false;
  RefHeader h = ref_header(d);
  if (h.batch_length < 49 || h.magic != 2) return false;
  uint64_t size = 12 + static_cast<uint64_t>(h.batch_length);
  if (size > n) return false;
  return gregor::crc32c(d + 21, size - 21) == h.crc;  // crc32c_test checks the CRC itself
}

bool ref_check_batch(const uint8_t* d, size_t n, const BatchCheckOptions& o) {
  if (n >= bl::kHeaderBytes) {
    int64_t size = 12 + static_cast<int64_t>(gregor::load_i32_be(d + 8));
    if (size > o.batch_bytes_max && size <= static_cast<int64_t>(n)) return false;
  }
  if (!ref_stored_ok(d, n)) return false;
  RefHeader h = ref_header(d);
  size_t size = 12 + static_cast<size_t>(h.batch_length);
  unsigned codec = h.attributes & 7;
  if (codec > 4 || h.count < 0 || h.lod < 0) return false;
  if (o.offset_mode == OffsetMode::kAssign) {
    if (h.count == 0 || (h.attributes & 0x20) != 0 || h.lod != h.count - 1) return false;
  } else if (h.base_offset < 0 || h.base_offset > kOffsetMax - h.lod) {
    return false;  // a follower's offsets must lie in [0, 2^53)
  } else if (static_cast<int64_t>(h.count) > static_cast<int64_t>(h.lod) + 1) {
    return false;
  }
  if (codec == 0 && static_cast<uint64_t>(h.count) * 7 > size - 61) return false;
  if (o.check_records && codec == 0) {
    return ref_walk(d, size, h.count, o.offset_mode, h.lod, true, h.base_offset, h.base_ts, h.max_ts,
                    (h.attributes & 8) != 0, nullptr);
  }
  return true;
}

// Record stamps of a stored batch, as offset_for_timestamp sees them.
std::vector<RecordStamp> ref_stamps(const Bytes& b) {
  RefHeader h = ref_header(b.data());
  std::vector<RecordStamp> out;
  ref_walk(b.data(), b.size(), h.count, OffsetMode::kKeep, h.lod, false, h.base_offset, h.base_ts, h.max_ts,
           (h.attributes & 8) != 0, &out);
  return out;
}

// ---------------------------------------------------------------------------
// Batch case: properties of the pure functions in record_batch.cc.

// A copy in a heap block of exactly `n` bytes, so ASan flags any read past it.
std::unique_ptr<uint8_t[]> exact_copy(const uint8_t* data, size_t n) {
  std::unique_ptr<uint8_t[]> p(new uint8_t[n == 0 ? 0 : n]);
  if (n > 0) std::memcpy(p.get(), data, n);
  return p;
}

struct BatchStats {
  uint64_t accepted = 0, rejected = 0, walked = 0;
} g_batch_stats;

// Runs every batch-level function on `data` and checks what must hold
// whatever the bytes are. Returns whether check_batch accepted it in `mode`.
void check_any_buffer(Rng& r, const uint8_t* input, size_t n) {
  auto buf = exact_copy(input, n);
  const uint8_t* data = buf.get();

  // check_stored_batch
  BatchHeader stored;
  bool truncated = false;
  Status st = gregor::check_stored_batch(data, n, &stored, &truncated);
  bool ref_ok = ref_stored_ok(data, n);
  CHECK(st.ok() == ref_ok, "check_stored_batch says %s, reference says %s (n=%zu)", status_text(st).c_str(),
        ref_ok ? "ok" : "bad", n);
  if (st.ok()) {
    CHECK(stored.size_bytes() <= n, "accepted batch of %zu bytes in %zu available", stored.size_bytes(), n);
    CHECK(stored.magic == 2 && stored.batch_length >= 49, "accepted magic %u length %d", stored.magic,
          stored.batch_length);
    CHECK(!truncated, "ok but truncated flag set");
  } else {
    CHECK(st.code == KafkaError::kCorruptMessage, "check_stored_batch error code %s", status_text(st).c_str());
    if (truncated) {
      bool short_header = n < bl::kHeaderBytes;
      bool past_end = !short_header && 12 + static_cast<int64_t>(gregor::load_i32_be(data + 8)) > static_cast<int64_t>(n);
      CHECK(short_header || past_end, "truncated flag on a batch that fits (n=%zu)", n);
    }
  }

  // check_batch in both modes, with and without the record walk.
  for (int m = 0; m < 2; ++m) {
    BatchCheckOptions o;
    o.offset_mode = m == 0 ? OffsetMode::kAssign : OffsetMode::kKeep;
    o.check_records = !r.one_in(5);
    if (r.one_in(6)) o.batch_bytes_max = r.range(0, static_cast<int64_t>(n) + 100);
    BatchHeader h;
    Status s = gregor::check_batch(data, n, o, &h);
    bool expect = ref_check_batch(data, n, o);
    CHECK(s.ok() == expect, "check_batch(%s, records=%d, max=%" PRId64 ") says %s, reference says %s (n=%zu)",
          m == 0 ? "assign" : "keep", o.check_records ? 1 : 0, o.batch_bytes_max, status_text(s).c_str(),
          expect ? "ok" : "bad", n);
    if (s.ok()) {
      ++g_batch_stats.accepted;
      CHECK(h.size_bytes() <= n, "accepted batch of %zu bytes in %zu available", h.size_bytes(), n);
      CHECK(static_cast<int64_t>(h.size_bytes()) <= o.batch_bytes_max, "accepted a batch over batch_bytes_max");
      CHECK(st.ok() && h.size_bytes() == stored.size_bytes(), "check_batch accepted what check_stored_batch refused");
    } else {
      ++g_batch_stats.rejected;
      CHECK(s.code == KafkaError::kCorruptMessage || s.code == KafkaError::kInvalidRecord ||
                s.code == KafkaError::kMessageTooLarge ||
                (s.code == KafkaError::kOffsetOutOfRange && o.offset_mode == OffsetMode::kKeep),
            "unexpected check_batch error code %s", status_text(s).c_str());
    }
  }

  // for_each_record_stamp reads only the batch's declared bytes. The engine
  // calls it on batches found by BatchHeaderScanner (magic and length only),
  // so it must stay in bounds on any plausible header, CRC or not.
  if (n >= bl::kHeaderBytes) {
    BatchHeader h = gregor::parse_batch_header(data);
    if (h.magic == 2 && h.batch_length >= 49 && h.size_bytes() <= n) {
      auto exact = exact_copy(data, h.size_bytes());
      std::vector<RecordStamp> got;
      bool ok = gregor::for_each_record_stamp(exact.get(), h, [&](const RecordStamp& s) {
        got.push_back(s);
        return got.size() < 100000;
      });
      ++g_batch_stats.walked;
      std::vector<RecordStamp> want;
      bool ref = h.codec() == 0 && h.records_count >= 0 &&
                 ref_walk(exact.get(), h.size_bytes(), std::min(h.records_count, 100000), OffsetMode::kKeep,
                          h.last_offset_delta, false, h.base_offset, h.base_timestamp, h.max_timestamp,
                          h.is_log_append_time(), &want);
      if (h.codec() != 0) CHECK(!ok, "for_each_record_stamp walked a compressed batch");
      if (ref && h.records_count <= 100000) {
        CHECK(ok, "for_each_record_stamp refused records the reference walks");
      }
      if (ok && h.codec() == 0) {
        size_t k = std::min(got.size(), want.size());
        for (size_t i = 0; i < k; ++i) {
          CHECK(got[i].offset == want[i].offset && got[i].timestamp == want[i].timestamp,
                "stamp %zu: got (%" PRId64 ", %" PRId64 "), want (%" PRId64 ", %" PRId64 ")", i, got[i].offset,
                got[i].timestamp, want[i].offset, want[i].timestamp);
        }
      }
      // A batch check_batch accepts (records walked) yields exactly its records.
      BatchCheckOptions o;
      o.offset_mode = OffsetMode::kKeep;
      BatchHeader checked;
      if (h.codec() == 0 && gregor::check_batch(data, n, o, &checked).ok()) {
        CHECK(ok && got.size() == static_cast<size_t>(h.records_count),
              "accepted batch: for_each_record_stamp gave %zu of %d records (ok=%d)", got.size(), h.records_count,
              ok ? 1 : 0);
      }
    }
  }
}

void check_valid_batch(const BatchSpec& s, const Bytes& b, bool both_modes) {
  auto buf = exact_copy(b.data(), b.size());
  for (int m = 0; m < 2; ++m) {
    OffsetMode mode = m == 0 ? OffsetMode::kAssign : OffsetMode::kKeep;
    BatchCheckOptions o;
    o.offset_mode = mode;
    BatchHeader h;
    Status st = gregor::check_batch(buf.get(), b.size(), o, &h);
    if (mode == OffsetMode::kAssign && !both_modes) {
      bool assignable = s.records_count > 0 && (s.attributes & bl::kControl) == 0 &&
                        s.last_offset_delta == s.records_count - 1;
      for (size_t i = 0; assignable && i < s.records.size(); ++i) assignable = s.records[i].offset_delta == static_cast<int64_t>(i);
      CHECK(st.ok() == assignable, "kAssign on a follower batch: %s, expected %s", status_text(st).c_str(),
            assignable ? "ok" : "INVALID_RECORD");
      if (!st.ok()) CHECK(st.code == KafkaError::kInvalidRecord, "follower batch in kAssign: %s", status_text(st).c_str());
      continue;
    }
    if (mode == OffsetMode::kKeep && (s.base_offset < 0 || s.base_offset > kOffsetMax - s.last_offset_delta)) {
      CHECK(st.code == KafkaError::kInvalidRecord || st.code == KafkaError::kOffsetOutOfRange,
            "follower batch at offset %" PRId64 ": %s", s.base_offset, status_text(st).c_str());
      continue;
    }
    CHECK(st.ok(), "valid batch (%zu bytes, %d records, codec %u) rejected in %s mode: %s", b.size(),
          s.records_count, s.codec(), mode == OffsetMode::kAssign ? "assign" : "keep", status_text(st).c_str());
    CHECK(h.base_offset == s.base_offset, "base offset %" PRId64 " != %" PRId64, h.base_offset, s.base_offset);
    CHECK(h.size_bytes() == b.size(), "size %zu != %zu", h.size_bytes(), b.size());
    CHECK(h.batch_length == static_cast<int32_t>(b.size() - 12), "batch length");
    CHECK(h.magic == 2, "magic");
    CHECK(h.crc == gregor::crc32c_extend_portable(0, b.data() + 21, b.size() - 21), "crc field");
    CHECK(h.attributes == s.attributes, "attributes %u != %u", h.attributes, s.attributes);
    CHECK(h.last_offset_delta == s.last_offset_delta, "last offset delta");
    CHECK(h.base_timestamp == s.base_timestamp && h.max_timestamp == s.max_timestamp, "timestamps");
    CHECK(h.records_count == s.records_count, "records count");
    CHECK(h.codec() == s.codec(), "codec");
    // Too-large limit just below the size: MESSAGE_TOO_LARGE.
    o.batch_bytes_max = static_cast<int64_t>(b.size()) - 1;
    Status big = gregor::check_batch(buf.get(), b.size(), o, &h);
    CHECK(big.code == KafkaError::kMessageTooLarge, "batch over max.message.bytes: %s", status_text(big).c_str());
  }
  BatchHeader h = gregor::parse_batch_header(buf.get());
  std::vector<RecordStamp> got;
  bool ok = gregor::for_each_record_stamp(buf.get(), h, [&](const RecordStamp& st) {
    got.push_back(st);
    return true;
  });
  if (s.codec() != 0) {
    CHECK(!ok, "compressed batch walked");
    return;
  }
  CHECK(ok, "for_each_record_stamp failed on a valid batch");
  CHECK(got.size() == s.records.size(), "stamps %zu != records %zu", got.size(), s.records.size());
  bool lat = (s.attributes & bl::kTimestampTypeLogAppendTime) != 0;
  for (size_t i = 0; i < got.size(); ++i) {
    int64_t want_offset = wrap_add(s.base_offset, s.records[i].offset_delta);
    int64_t want_ts = lat ? s.max_timestamp : wrap_add(s.base_timestamp, s.records[i].timestamp_delta);
    CHECK(got[i].offset == want_offset && got[i].timestamp == want_ts, "record %zu stamp mismatch", i);
  }
  // Stopping early visits exactly the requested prefix.
  if (!got.empty()) {
    size_t stop = got.size() / 2;
    size_t visits = 0;
    gregor::for_each_record_stamp(buf.get(), h, [&](const RecordStamp&) { return ++visits <= stop; });
    CHECK(visits == stop + 1, "early stop visited %zu, wanted %zu", visits, stop + 1);
  }
}

// Rewrites the varint at `at` (length `len`) as `v`, shifting what follows.
void replace_varint(Bytes& b, size_t at, size_t len, int64_t v, size_t extra) {
  Bytes enc;
  put_varint(enc, v, extra);
  b.erase(b.begin() + static_cast<ptrdiff_t>(at), b.begin() + static_cast<ptrdiff_t>(at + len));
  b.insert(b.begin() + static_cast<ptrdiff_t>(at), enc.begin(), enc.end());
}

void mutate(Rng& r, Encoded& e) {
  Bytes& b = e.bytes;
  size_t steps = 1 + r.below(r.one_in(4) ? 6 : 2);
  for (size_t k = 0; k < steps; ++k) {
    switch (r.below(13)) {
      case 0:  // bit flips
        if (!b.empty()) {
          size_t flips = 1 + r.below(3);
          for (size_t i = 0; i < flips; ++i) b[r.below(b.size())] ^= static_cast<uint8_t>(1u << r.below(8));
        }
        break;
      case 1:  // byte set
        if (!b.empty()) b[r.below(b.size())] = r.coin() ? r.byte() : r.pick(std::vector<uint8_t>{0, 1, 0x7f, 0x80, 0xff});
        break;
      case 2:  // truncation
        b.resize(r.below(b.size() + 1));
        break;
      case 3:  // trailing bytes
        {
          Bytes extra = r.bytes(1 + r.below(80));
          b.insert(b.end(), extra.begin(), extra.end());
        }
        break;
      case 4:  // batch length field
        if (b.size() >= 12) {
          int64_t v = r.coin() ? interesting(r) : static_cast<int64_t>(b.size()) - 12 + r.range(-8, 8);
          put_u32(b, bl::kBatchLength, static_cast<uint32_t>(v));
        }
        break;
      case 5:  // records count / lastOffsetDelta
        if (b.size() >= bl::kHeaderBytes) {
          size_t field = r.coin() ? bl::kRecordsCount : bl::kLastOffsetDelta;
          int64_t old = gregor::load_i32_be(b.data() + field);
          int64_t v = r.coin() ? interesting(r) : old + r.range(-3, 3);
          put_u32(b, field, static_cast<uint32_t>(v));
        }
        break;
      case 6:  // a varint's value (re-encoded; its length may change)
      case 7:
        if (!e.varints.empty()) {
          auto [at, len] = e.varints[r.below(e.varints.size())];
          if (at + len <= b.size()) {
            int64_t old = 0;
            ref_varint(b.data() + at, len, 10, &old);
            int64_t v = r.coin() ? interesting(r) : wrap_add(old, r.range(-3, 3));
            replace_varint(b, at, len, v, r.one_in(6) ? r.below(6) : 0);
            e.varints.clear();  // positions after this one moved
          }
        }
        break;
      case 8:  // a varint's bytes: continuation bits, overlong runs
        if (!e.varints.empty()) {
          auto [at, len] = e.varints[r.below(e.varints.size())];
          if (at + len <= b.size()) {
            if (r.coin()) {
              b[at + r.below(len)] ^= 0x80;
            } else {
              size_t extra = 1 + r.below(11);
              b.insert(b.begin() + static_cast<ptrdiff_t>(at), extra, static_cast<uint8_t>(0x80 | r.below(0x80)));
              e.varints.clear();
            }
          }
        }
        break;
      case 9:  // magic
        if (b.size() > bl::kMagic) b[bl::kMagic] = static_cast<uint8_t>(r.coin() ? r.below(4) : r.byte());
        break;
      case 10:  // attributes: codec, control, timestamp type
        if (b.size() >= bl::kAttributes + 2) {
          uint16_t a = gregor::load_u16_be(b.data() + bl::kAttributes);
          a ^= static_cast<uint16_t>(1u << r.below(6));
          put_u16(b, bl::kAttributes, a);
        }
        break;
      case 11:  // insert or delete body bytes
        if (b.size() > bl::kHeaderBytes) {
          size_t at = bl::kHeaderBytes + r.below(b.size() - bl::kHeaderBytes);
          if (r.coin()) {
            b.erase(b.begin() + static_cast<ptrdiff_t>(at),
                    b.begin() + static_cast<ptrdiff_t>(std::min(b.size(), at + 1 + r.below(4))));
          } else {
            Bytes extra = r.bytes(1 + r.below(4));
            b.insert(b.begin() + static_cast<ptrdiff_t>(at), extra.begin(), extra.end());
          }
          e.varints.clear();
        }
        break;
      default:  // header fields not covered by anything else
        if (b.size() >= bl::kHeaderBytes) {
          size_t field = r.pick(std::vector<size_t>{bl::kBaseOffset, bl::kBaseTimestamp, bl::kMaxTimestamp});
          put_u64(b, field, static_cast<uint64_t>(interesting(r)));
        }
        break;
    }
  }
  if (r.coin()) fix_length(b);
  if (r.coin()) {
    // The CRC over the batch as its length field declares it, if that fits.
    if (b.size() >= bl::kHeaderBytes) {
      int64_t size = 12 + static_cast<int64_t>(gregor::load_i32_be(b.data() + 8));
      size_t end = size >= 21 && size <= static_cast<int64_t>(b.size()) ? static_cast<size_t>(size) : b.size();
      put_u32(b, bl::kCrc, gregor::crc32c(b.data() + 21, end - 21));
    }
  }
}

void varint_case(Rng& r) {
  // Round trip through the engine's decoder, with and without padding.
  for (int i = 0; i < 8; ++i) {
    int64_t v = r.coin() ? interesting(r) : static_cast<int64_t>(r.next()) >> r.below(64);
    size_t extra = r.one_in(4) ? r.below(4) : 0;
    Bytes enc;
    put_varint(enc, v, extra);
    auto buf = exact_copy(enc.data(), enc.size());
    int64_t got = 0;
    size_t n = gregor::read_zigzag_varint(buf.get(), buf.get() + enc.size(), 10, &got);
    if (enc.size() <= 10) {
      CHECK(n == enc.size() && got == v, "varint %" PRId64 " (%zu bytes): read %zu bytes, value %" PRId64, v,
            enc.size(), n, got);
    } else {
      CHECK(n == 0, "overlong varint of %zu bytes accepted", enc.size());
    }
    size_t n5 = gregor::read_zigzag_varint(buf.get(), buf.get() + enc.size(), 5, &got);
    CHECK(enc.size() <= 5 ? n5 == enc.size() : n5 == 0, "5-byte limit: read %zu of %zu", n5, enc.size());
    // Cut short: never read past the end.
    size_t cut = r.below(enc.size());
    auto shorter = exact_copy(enc.data(), cut);
    CHECK(gregor::read_zigzag_varint(shorter.get(), shorter.get() + cut, 10, &got) == 0, "read past a cut varint");
  }
  // Random bytes against the reference decoder.
  Bytes raw = r.bytes(r.below(12));
  auto buf = exact_copy(raw.data(), raw.size());
  size_t max_bytes = r.coin() ? 5 : 10;
  int64_t a = 0, b = 0;
  size_t na = gregor::read_zigzag_varint(buf.get(), buf.get() + raw.size(), max_bytes, &a);
  size_t nb = ref_varint(raw.data(), raw.size(), max_bytes, &b);
  CHECK(na == nb && (na == 0 || a == b), "read_zigzag_varint differs from the reference on %zu bytes", raw.size());
}

void batch_case(Rng& r) {
  varint_case(r);
  switch (r.below(5)) {
    case 0: {  // purely random bytes
      Bytes b = r.bytes(r.below(4097));
      check_any_buffer(r, b.data(), b.size());
      break;
    }
    case 1: {  // random bytes behind a plausible header, CRC fixed half the time
      size_t n = bl::kHeaderBytes + r.below(600);
      Bytes b = r.bytes(n);
      b[bl::kMagic] = 2;
      size_t size = r.coin() ? n : bl::kHeaderBytes + r.below(n - bl::kHeaderBytes + 1);
      put_u32(b, bl::kBatchLength, static_cast<uint32_t>(size - 12));
      put_u16(b, bl::kAttributes, static_cast<uint16_t>(r.one_in(4) ? r.below(0x40) : 0));
      int32_t count = static_cast<int32_t>(r.below(8));
      put_u32(b, bl::kRecordsCount, static_cast<uint32_t>(count));
      put_u32(b, bl::kLastOffsetDelta, static_cast<uint32_t>(std::max(0, count - 1)));
      if (r.coin()) put_u32(b, bl::kCrc, gregor::crc32c(b.data() + 21, size - 21));
      check_any_buffer(r, b.data(), b.size());
      break;
    }
    default: {  // a valid batch, checked as is, then mutated
      bool both = !r.one_in(4);
      BatchSpec s = random_valid_spec(r, both, true);
      Encoded e = encode(s);
      check_valid_batch(s, e.bytes, both);
      check_any_buffer(r, e.bytes.data(), e.bytes.size());
      int rounds = 1 + static_cast<int>(r.below(4));
      for (int i = 0; i < rounds; ++i) {
        Encoded m = e;
        mutate(r, m);
        check_any_buffer(r, m.bytes.data(), m.bytes.size());
      }
      // Several batches back to back: each parses at its own start.
      Bytes two = e.bytes;
      Bytes other = encode(random_valid_spec(r, true, false)).bytes;
      two.insert(two.end(), other.begin(), other.end());
      BatchHeader h;
      bool truncated = false;
      auto buf = exact_copy(two.data(), two.size());
      CHECK(gregor::check_stored_batch(buf.get(), two.size(), &h, &truncated).ok() &&
                h.size_bytes() == e.bytes.size(),
            "first of two batches");
      CHECK(gregor::check_stored_batch(buf.get() + e.bytes.size(), other.size(), &h, &truncated).ok(),
            "second of two batches");
      break;
    }
  }
}

// ---------------------------------------------------------------------------
// Temporary files

std::string g_root;

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

void remove_tree(const std::string& path) { ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

off_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

Bytes read_file(const std::string& path) {
  Bytes out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  uint8_t buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  ::close(fd);
  return out;
}

void write_file(const std::string& path, const Bytes& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0, "create %s: %s", path.c_str(), std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    CHECK(n > 0, "write %s", path.c_str());
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

std::map<std::string, off_t> dir_sizes(const std::string& dir) {
  std::map<std::string, off_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    out[name] = file_size(dir + "/" + name);
  }
  ::closedir(d);
  return out;
}

// ---------------------------------------------------------------------------
// Index case

struct OEntry {
  int64_t offset;
  uint32_t position;
};
struct TEntry {
  int64_t timestamp;
  int64_t offset;
};

// Entries as the file holds them (what IndexFile::open will count).
std::vector<OEntry> parse_offset_file(const Bytes& f, int64_t base) {
  std::vector<OEntry> out;
  for (size_t i = 0; i + 8 <= f.size(); i += 8) {
    out.push_back(OEntry{base + gregor::load_u32_be(f.data() + i), gregor::load_u32_be(f.data() + i + 4)});
  }
  return out;
}
std::vector<TEntry> parse_time_file(const Bytes& f, int64_t base) {
  std::vector<TEntry> out;
  for (size_t i = 0; i + 12 <= f.size(); i += 12) {
    out.push_back(TEntry{gregor::load_i64_be(f.data() + i), base + gregor::load_u32_be(f.data() + i + 8)});
  }
  return out;
}

bool offset_entries_sane(const std::vector<OEntry>& v, uint64_t log_bytes) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].position >= log_bytes) return false;
    if (i > 0 && (v[i].offset <= v[i - 1].offset || v[i].position <= v[i - 1].position)) return false;
  }
  return true;
}
bool time_entries_sane(const std::vector<TEntry>& v, int64_t bound) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].offset >= bound) return false;
    if (i > 0 && (v[i].timestamp <= v[i - 1].timestamp || v[i].offset < v[i - 1].offset)) return false;
  }
  return true;
}

struct IndexModel {
  int64_t base;
  std::vector<OEntry> off;
  std::vector<TEntry> time;
};

void compare_index(const gregor::OffsetIndex& oi, const gregor::TimeIndex& ti, const IndexModel& m) {
  CHECK(oi.entries() == m.off.size(), "offset index has %zu entries, model %zu", oi.entries(), m.off.size());
  CHECK(ti.entries() == m.time.size(), "time index has %zu entries, model %zu", ti.entries(), m.time.size());
  for (size_t i = 0; i < m.off.size(); ++i) {
    auto e = oi.entry(i);
    CHECK(e.offset == m.off[i].offset && e.position == m.off[i].position, "offset entry %zu differs", i);
  }
  for (size_t i = 0; i < m.time.size(); ++i) {
    auto e = ti.entry(i);
    CHECK(e.timestamp == m.time[i].timestamp && e.offset == m.time[i].offset, "time entry %zu differs", i);
  }
  CHECK(oi.file().capacity_entries() >= oi.entries(), "offset index capacity below entries");
  CHECK(ti.file().capacity_entries() >= ti.entries(), "time index capacity below entries");
}

int64_t pick_target(Rng& r, const std::vector<int64_t>& keys, int64_t base) {
  if (!keys.empty() && !r.one_in(4)) return wrap_add(keys[r.below(keys.size())], r.range(-1, 1));
  if (r.one_in(8)) return interesting(r);
  return base + r.range(-3, 300);
}

void check_lookups(Rng& r, const gregor::OffsetIndex& oi, const gregor::TimeIndex& ti, const IndexModel& m) {
  std::vector<int64_t> okeys, tkeys;
  for (auto& e : m.off) okeys.push_back(e.offset);
  for (auto& e : m.time) tkeys.push_back(e.timestamp);
  for (int i = 0; i < 6; ++i) {
    int64_t target = pick_target(r, okeys, m.base);
    auto got = oi.lookup(target);
    OEntry want{m.base, 0};
    for (auto& e : m.off) if (e.offset <= target) want = e;
    CHECK(got.offset == want.offset && got.position == want.position,
          "OffsetIndex::lookup(%" PRId64 ") = (%" PRId64 ", %u), want (%" PRId64 ", %u)", target, got.offset,
          got.position, want.offset, want.position);
    int64_t ttarget = pick_target(r, tkeys, 1000);
    auto tgot = ti.lookup(ttarget);
    TEntry twant{-1, m.base};
    for (auto& e : m.time) if (e.timestamp <= ttarget) twant = e;
    CHECK(tgot.timestamp == twant.timestamp && tgot.offset == twant.offset,
          "TimeIndex::lookup(%" PRId64 ") = (%" PRId64 ", %" PRId64 "), want (%" PRId64 ", %" PRId64 ")", ttarget,
          tgot.timestamp, tgot.offset, twant.timestamp, twant.offset);
  }
}

// The next timestamp to try after `ts`, kept away from the int64 limits.
int64_t after(int64_t ts) { return std::clamp<int64_t>(ts, INT64_MIN + 1000, INT64_MAX - 1000) + 1; }

void index_case(Rng& r, uint64_t case_index) {
  std::string stem = g_root + "/idx" + std::to_string(case_index);
  std::string opath = stem + ".index", tpath = stem + ".timeindex";
  IndexModel m;
  m.base = r.coin() ? 0 : r.coin() ? static_cast<int64_t>(r.below(1000)) : static_cast<int64_t>(r.below(1ull << 52));
  size_t capacity = r.pick(std::vector<size_t>{0, 4, 8, 12, 16, 20, 24, 36, 40, 64, 100, 240, 256, 1000, 4096});
  auto oi = std::make_unique<gregor::OffsetIndex>(opath, m.base);
  auto ti = std::make_unique<gregor::TimeIndex>(tpath, m.base);

  if (r.one_in(4)) {
    // Garbage files of any size: opening and querying them must be safe, and
    // the sanity check must describe them exactly.
    Bytes og = r.bytes(r.below(300)), tg = r.bytes(r.below(300));
    if (r.coin()) {  // sorted-looking garbage
      for (size_t i = 0; i + 8 <= og.size(); i += 8) {
        put_u32(og, i, static_cast<uint32_t>(i * 3));
        put_u32(og, i + 4, static_cast<uint32_t>(i * 5));
      }
      for (size_t i = 0; i + 12 <= tg.size(); i += 12) {
        put_u64(tg, i, 1000 + i * 7);
        put_u32(tg, i + 8, static_cast<uint32_t>(i));
      }
    }
    write_file(opath, og);
    write_file(tpath, tg);
    bool writable = r.coin();
    CHECK_OK(oi->file().open(writable, capacity), "open garbage offset index");
    CHECK_OK(ti->file().open(writable, capacity), "open garbage time index");
    auto oentries = parse_offset_file(og, m.base);
    auto tentries = parse_time_file(tg, m.base);
    CHECK(oi->entries() == oentries.size() && ti->entries() == tentries.size(), "garbage entry counts");
    uint64_t log_bytes = r.coin() ? UINT32_MAX + 1ull : r.below(2000);
    int64_t bound = m.base + INT32_MAX + 1LL;
    bool osane = og.size() % 8 == 0 && offset_entries_sane(oentries, log_bytes);
    bool tsane = tg.size() % 12 == 0 && time_entries_sane(tentries, bound);
    CHECK(oi->sanity_error(log_bytes).empty() == osane, "offset sanity_error: '%s', model says %s",
          oi->sanity_error(log_bytes).c_str(), osane ? "sane" : "insane");
    CHECK(ti->sanity_error(bound).empty() == tsane, "time sanity_error: '%s', model says %s",
          ti->sanity_error(bound).c_str(), tsane ? "sane" : "insane");
    // Unsorted entries: lookups must merely stay in bounds.
    for (int i = 0; i < 10; ++i) {
      oi->lookup(interesting(r));
      ti->lookup(interesting(r));
    }
    if (osane && tsane) {
      m.off = oentries;
      m.time = tentries;
      check_lookups(r, *oi, *ti, m);
    }
    oi->truncate_to(r.range(m.base - 2, m.base + 400));
    ti->truncate_to(r.range(m.base - 2, m.base + 400));
    CHECK_OK(oi->file().remove(), "remove");
    CHECK_OK(ti->file().remove(), "remove");
    return;
  }

  ::unlink(opath.c_str());
  ::unlink(tpath.c_str());
  CHECK_OK(oi->file().open(true, capacity), "open offset index");
  CHECK_OK(ti->file().open(true, capacity), "open time index");
  size_t ocap = capacity / 8, tcap = capacity / 12;
  CHECK(oi->file().capacity_entries() == ocap && ti->file().capacity_entries() == tcap, "capacities");
  bool writable = true;
  int64_t next_off = m.base;
  uint32_t next_pos = 0;
  int64_t next_ts = 1000;
  size_t ops = 30 + r.below(200);
  for (size_t op = 0; op < ops; ++op) {
    switch (r.below(12)) {
      case 0: case 1: case 2: case 3: {  // OffsetIndex::append
        int64_t offset;
        uint32_t position;
        if (r.one_in(4)) {
          // (Index offsets come from batches, below 2^53; append subtracts the base.)
          offset = r.one_in(4) ? std::clamp<int64_t>(interesting(r), -(1LL << 60), 1LL << 60)
                               : r.range(m.base - 5, next_off + 5);
          position = r.one_in(4) ? static_cast<uint32_t>(interesting(r)) : static_cast<uint32_t>(r.below(next_pos + 10));
        } else {
          offset = next_off + static_cast<int64_t>(r.below(r.one_in(20) ? (1ull << 33) : 50));
          position = next_pos + static_cast<uint32_t>(r.below(r.one_in(20) ? (1u << 31) : 4000));
        }
        int64_t rel = offset - m.base;
        bool want = writable && m.off.size() < oi->file().capacity_entries() && rel >= 0 && rel <= INT32_MAX &&
                    (m.off.empty() || (offset > m.off.back().offset && position > m.off.back().position));
        bool got = oi->append(offset, position);
        CHECK(got == want, "OffsetIndex::append(%" PRId64 ", %u) = %d, want %d (entries %zu, writable %d)", offset,
              position, got ? 1 : 0, want ? 1 : 0, m.off.size(), writable ? 1 : 0);
        if (got) {
          m.off.push_back(OEntry{offset, position});
          next_off = offset + 1;
          next_pos = position + 1;
        }
        break;
      }
      case 4: case 5: {  // TimeIndex::maybe_append
        int64_t ts = r.one_in(5) ? r.range(next_ts - 50, next_ts + 5) : next_ts + static_cast<int64_t>(r.below(100));
        if (r.one_in(20)) ts = interesting(r);
        int64_t offset = r.one_in(5) ? r.range(m.base - 3, next_off + 3) : next_off + static_cast<int64_t>(r.below(20));
        if (r.one_in(20)) offset = std::clamp<int64_t>(interesting(r), -(1LL << 60), 1LL << 60);
        if (r.one_in(30)) offset = m.base + INT32_MAX + static_cast<int64_t>(r.below(3));
        bool on_roll = r.one_in(4);
        int64_t rel = offset - m.base;
        size_t cap = ti->file().capacity_entries();
        bool want = writable && rel >= 0 && rel <= INT32_MAX &&
                    (m.time.empty() || (ts > m.time.back().timestamp && offset >= m.time.back().offset)) &&
                    (on_roll ? m.time.size() < cap : m.time.size() + 1 < cap);
        bool got = ti->maybe_append(ts, offset, on_roll);
        CHECK(got == want, "TimeIndex::maybe_append(%" PRId64 ", %" PRId64 ", %d) = %d, want %d", ts, offset,
              on_roll ? 1 : 0, got ? 1 : 0, want ? 1 : 0);
        if (got) {
          m.time.push_back(TEntry{ts, offset});
          next_ts = after(ts);
        }
        CHECK(ti->full() == (ti->entries() + 1 >= cap), "TimeIndex::full");
        break;
      }
      case 6: case 7:
        check_lookups(r, *oi, *ti, m);
        break;
      case 8: {  // truncate_to
        int64_t cut = m.off.empty() || r.one_in(4) ? r.range(m.base - 2, next_off + 2)
                                                   : m.off[r.below(m.off.size())].offset + r.range(-1, 1);
        oi->truncate_to(cut);
        while (!m.off.empty() && m.off.back().offset >= cut) m.off.pop_back();
        int64_t tcut = m.time.empty() || r.one_in(4) ? r.range(m.base - 2, next_off + 2)
                                                     : m.time[r.below(m.time.size())].offset + r.range(-1, 1);
        ti->truncate_to(tcut);
        while (!m.time.empty() && m.time.back().offset >= tcut) m.time.pop_back();
        break;
      }
      case 9:  // trim: file shrinks to its entries and becomes read-only
        CHECK_OK(oi->file().trim(), "trim offset index");
        CHECK_OK(ti->file().trim(), "trim time index");
        CHECK(file_size(opath) == static_cast<off_t>(m.off.size() * 8), "trimmed offset index size %lld",
              static_cast<long long>(file_size(opath)));
        CHECK(file_size(tpath) == static_cast<off_t>(m.time.size() * 12), "trimmed time index size");
        writable = false;
        break;
      case 10: {  // make_writable, maybe with another capacity
        if (r.one_in(3)) capacity = r.pick(std::vector<size_t>{0, 8, 12, 24, 48, 96, 480, 4096});
        CHECK_OK(oi->file().make_writable(capacity), "make_writable offset index");
        CHECK_OK(ti->file().make_writable(capacity), "make_writable time index");
        writable = true;
        break;
      }
      default: {  // close and reopen: clean (trimmed) or after a "crash"
        if (r.coin()) CHECK_OK(oi->file().flush(), "flush");
        bool clean = r.coin();
        if (clean) {
          CHECK_OK(oi->file().trim(), "trim offset index");
          CHECK_OK(ti->file().trim(), "trim time index");
        }
        oi = std::make_unique<gregor::OffsetIndex>(opath, m.base);  // old object unmaps
        ti = std::make_unique<gregor::TimeIndex>(tpath, m.base);
        Bytes of = read_file(opath), tf = read_file(tpath);
        writable = r.coin();
        CHECK_OK(oi->file().open(writable, capacity), "reopen offset index");
        CHECK_OK(ti->file().open(writable, capacity), "reopen time index");
        auto oentries = parse_offset_file(of, m.base);
        auto tentries = parse_time_file(tf, m.base);
        if (clean) {
          CHECK(oentries.size() == m.off.size() && tentries.size() == m.time.size(), "trimmed files hold the entries");
        }
        uint64_t log_bytes = UINT32_MAX + 1ull;
        bool osane = offset_entries_sane(oentries, log_bytes);
        bool tsane = time_entries_sane(tentries, m.base + INT32_MAX + 1LL);
        CHECK(oi->sanity_error(log_bytes).empty() == osane, "offset sanity after reopen: '%s'",
              oi->sanity_error(log_bytes).c_str());
        CHECK(ti->sanity_error(m.base + INT32_MAX + 1LL).empty() == tsane, "time sanity after reopen");
        if (clean) CHECK(osane && tsane, "a trimmed index must be sane");
        if (osane && tsane) {
          m.off = oentries;
          m.time = tentries;
        } else {  // what Segment does: rebuild from scratch
          CHECK_OK(oi->file().reset(true, capacity), "reset");
          CHECK_OK(ti->file().reset(true, capacity), "reset");
          m.off.clear();
          m.time.clear();
          writable = true;
        }
        next_off = m.off.empty() ? m.base : m.off.back().offset + 1;
        next_pos = m.off.empty() ? 0 : m.off.back().position + 1;
        if (!m.time.empty()) next_ts = after(m.time.back().timestamp);
        break;
      }
    }
    compare_index(*oi, *ti, m);
  }
  check_lookups(r, *oi, *ti, m);
  CHECK_OK(oi->file().remove(), "remove offset index");
  CHECK_OK(ti->file().remove(), "remove time index");
  CHECK(file_size(opath) < 0 && file_size(tpath) < 0, "index files left after remove");
}

// ---------------------------------------------------------------------------
// Log case: PartitionLog against a model of its stored batches.

struct MBatch {
  int64_t base = 0, last = 0;
  int64_t max_ts = 0;
  bool compressed = false;
  int32_t records = 0;
  Bytes bytes;  // exactly as stored
  std::vector<RecordStamp> stamps;
};

std::map<std::string, double> g_op_seconds;  // per log operation, for --verbose

struct LogStats {
  uint64_t ops = 0, appends = 0, rejected = 0, reads = 0, crashes = 0, reopens = 0, truncated_bytes = 0;
  uint64_t retention_passes = 0, retention_segments = 0;
  uint64_t cleanings = 0, cleaned_segments = 0, interrupted_swaps = 0;
} g_log_stats;

class LogFuzz {
 public:
  LogFuzz(Rng& r, std::string dir) : r_(r), dir_(std::move(dir)) {}

  void run() {
    remove_tree(dir_);
    big_ = r_.one_in(16);  // batches past the 1 MiB window of Segment::recover
    cfg_.segment_bytes = big_ ? r_.range(1500000, 3000000) : r_.one_in(4) ? r_.range(2000, 20000) : r_.range(200, 3000);
    cfg_.segment_index_bytes = pick_index_bytes();
    cfg_.index_interval_bytes = r_.pick(std::vector<int64_t>{0, 1, 60, 100, 200, 500, 4096});
    cfg_.segment_ms = r_.one_in(5) ? r_.range(1000, 100000) : 604800000;
    cfg_.flush_messages = r_.one_in(3) ? r_.range(1, 50) : INT64_MAX;
    cfg_.max_message_bytes = big_ ? 4 << 20 : r_.one_in(5) ? r_.range(61, 1500) : 1048588;
    cfg_.log_append_time = r_.one_in(6);
    cfg_.file_delete_delay_ms = r_.pick(std::vector<int64_t>{0, 0, 500, 60000});
    now_ = 1700000000000LL + static_cast<int64_t>(r_.below(1000000));
    int64_t start = r_.one_in(5) ? static_cast<int64_t>(r_.below(1000)) : 0;
    if (g_trace) {
      std::printf("  config: segment.bytes %" PRId64 ", segment.index.bytes %" PRId64 ", index.interval.bytes %" PRId64
                  ", segment.ms %" PRId64 ", flush.messages %" PRId64 ", max.message.bytes %" PRId64
                  ", LogAppendTime %d, log start %" PRId64 "\n",
                  cfg_.segment_bytes, cfg_.segment_index_bytes, cfg_.index_interval_bytes, cfg_.segment_ms,
                  cfg_.flush_messages, cfg_.max_message_bytes, cfg_.log_append_time ? 1 : 0, start);
    }
    open_log(0, start, true);
    m_start_ = start;
    m_end_ = start;
    check_state("open");

    size_t ops = 60 + r_.below(200);
    for (size_t op = 0; op < ops; ++op) {
      std::snprintf(g_op_banner, sizeof g_op_banner, "storage_fuzz: ... at log op %zu\n", op);
      g_op_desc = "at op " + std::to_string(op);
      now_ += static_cast<int64_t>(r_.below(2000));
      ++g_log_stats.ops;
      auto op_started = std::chrono::steady_clock::now();
      step();
      g_op_seconds[last_op_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - op_started).count();
      if (g_trace) {
        auto segs = segments();
        std::printf("  op %zu %s: start %" PRId64 " end %" PRId64 ", %zu segments, last [%" PRId64 ", %" PRId64
                    ") %" PRIu64 " bytes max ts %" PRId64 "\n",
                    op, last_op_.c_str(), log_->log_start_offset(), log_->log_end_offset(), segs.size(),
                    segs.back().base_offset, segs.back().next_offset, segs.back().size_bytes, segs.back().max_timestamp);
      }
      check_state(last_op_);
      if (r_.one_in(25)) verify_all();
    }
    verify_all();
    held_.clear();
    if (log_) CHECK_OK(log_->close(r_.coin()), "final close");
    log_.reset();
    remove_tree(dir_);
  }

  ~LogFuzz() {
    held_.clear();
    log_.reset();
    disarm_all();
  }

 private:
  // --- helpers ---------------------------------------------------------------

  int64_t pick_index_bytes() {
    int64_t v = r_.pick(std::vector<int64_t>{4, 8, 10, 12, 16, 24, 30, 36, 48, 64, 100, 256, 4096});
    return v;
  }

  void open_log(int64_t recovery_point, int64_t start, bool clean) {
    log_ = std::make_unique<gregor::PartitionLog>(dir_, cfg_);
    CHECK_OK(log_->open(recovery_point, start, clean, now_), "PartitionLog::open");
  }

  int64_t total_bytes() const {
    int64_t t = 0;
    for (auto& b : model_) t += static_cast<int64_t>(b.bytes.size());
    return t;
  }

  // Cheap invariants after every operation.
  void check_state(const std::string& after) {
    CHECK(log_->log_end_offset() == m_end_, "after %s: log end %" PRId64 ", model %" PRId64, after.c_str(),
          log_->log_end_offset(), m_end_);
    CHECK(log_->log_start_offset() == m_start_, "after %s: log start %" PRId64 ", model %" PRId64, after.c_str(),
          log_->log_start_offset(), m_start_);
    CHECK(log_->log_start_offset() <= log_->log_end_offset(), "after %s: start > end", after.c_str());
    CHECK(log_->recovery_point() <= log_->log_end_offset(), "after %s: recovery point %" PRId64 " > end %" PRId64,
          after.c_str(), log_->recovery_point(), log_->log_end_offset());
    CHECK(static_cast<int64_t>(log_->size_bytes()) == total_bytes(), "after %s: size %" PRIu64 ", model %" PRId64,
          after.c_str(), log_->size_bytes(), total_bytes());
  }

  std::vector<gregor::SegmentInfo> segments() const { return log_->segments(); }

  // Index of the segment holding a batch with this base offset.
  static size_t segment_of(const std::vector<gregor::SegmentInfo>& segs, int64_t base) {
    size_t i = 0;
    while (i + 1 < segs.size() && segs[i + 1].base_offset <= base) ++i;
    return i;
  }

  // Regions handed out earlier still read the bytes they covered (their
  // segments were only appended to, deleted, or closed since).
  void check_held() {
    for (const Held& h : held_) {
      Bytes now(h.bytes.size());
      ssize_t n = ::pread(h.region.file->fd, now.data(), now.size(), static_cast<off_t>(h.region.position));
      CHECK(n == static_cast<ssize_t>(now.size()) && now == h.bytes, "a held region of %s changed (read %zd of %zu)",
            h.region.file->path.c_str(), n, now.size());
    }
  }

  // Called before an operation that may rewrite a segment file in place.
  void drop_held() {
    check_held();
    held_.clear();
  }

  // Full consistency: segments vs model, file sizes, and every byte readable.
  void verify_all() {
    check_held();
    auto segs = segments();
    CHECK(!segs.empty(), "no segments");
    std::vector<uint64_t> bytes(segs.size(), 0);
    std::vector<int64_t> next(segs.size()), max_ts(segs.size(), -1);
    for (size_t i = 0; i < segs.size(); ++i) {
      next[i] = segs[i].base_offset;
      if (i > 0) CHECK(segs[i].base_offset > segs[i - 1].base_offset, "segment bases not increasing");
    }
    for (auto& b : model_) {
      CHECK(b.base >= segs[0].base_offset, "model batch %" PRId64 " below the first segment %" PRId64, b.base,
            segs[0].base_offset);
      size_t s = segment_of(segs, b.base);
      bytes[s] += b.bytes.size();
      next[s] = b.last + 1;
      max_ts[s] = std::max(max_ts[s], b.max_ts);
    }
    for (size_t i = 0; i < segs.size(); ++i) {
      CHECK(segs[i].size_bytes == bytes[i], "segment %" PRId64 " holds %" PRIu64 " bytes, model %" PRIu64,
            segs[i].base_offset, segs[i].size_bytes, bytes[i]);
      CHECK(segs[i].next_offset == next[i], "segment %" PRId64 " next offset %" PRId64 ", model %" PRId64,
            segs[i].base_offset, segs[i].next_offset, next[i]);
      CHECK(segs[i].max_timestamp == max_ts[i], "segment %" PRId64 " max timestamp %" PRId64 ", model %" PRId64,
            segs[i].base_offset, segs[i].max_timestamp, max_ts[i]);
      std::string path = dir_ + "/" + gregor::segment_file_name(segs[i].base_offset, ".log");
      CHECK(file_size(path) == static_cast<off_t>(segs[i].size_bytes), "%s is %lld bytes, segment says %" PRIu64,
            path.c_str(), static_cast<long long>(file_size(path)), segs[i].size_bytes);
    }
    CHECK(segs.back().next_offset == m_end_, "last segment ends at %" PRId64 ", log at %" PRId64,
          segs.back().next_offset, m_end_);
    // Read everything from the log start.
    int64_t offset = m_start_;
    size_t guard = 0;
    while (offset <= m_end_ && guard++ < model_.size() + 2) {
      uint64_t max_bytes = r_.coin() ? 1 << 20 : r_.below(3000);
      size_t got = check_read(offset, max_bytes);
      if (got == SIZE_MAX) break;
      offset = model_[got].last + 1;
    }
  }

  // First model batch holding an offset >= `offset`, or SIZE_MAX.
  size_t first_batch_from(int64_t offset) const {
    for (size_t i = 0; i < model_.size(); ++i) {
      if (model_[i].last >= offset) return i;
    }
    return SIZE_MAX;
  }

  // read and read_bytes at `offset`; returns the index of the last batch read
  // (SIZE_MAX for an empty answer).
  size_t check_read(int64_t offset, uint64_t max_bytes) {
    ++g_log_stats.reads;
    gregor::FileRegion region;
    Status s = log_->read(offset, max_bytes, &region);
    std::unique_ptr<uint8_t[]> copy;
    size_t copy_bytes = 0;
    int64_t copy_first = -1;
    Status s2 = log_->read_bytes(offset, max_bytes, &copy, &copy_bytes, &copy_first);
    if (offset < m_start_ || offset > m_end_) {
      CHECK(s.code == KafkaError::kOffsetOutOfRange, "read(%" PRId64 ") outside [%" PRId64 ", %" PRId64 "]: %s",
            offset, m_start_, m_end_, status_text(s).c_str());
      CHECK(s2.code == KafkaError::kOffsetOutOfRange, "read_bytes outside the log: %s", status_text(s2).c_str());
      return SIZE_MAX;
    }
    CHECK_OK(s, "read(" + std::to_string(offset) + ")");
    CHECK_OK(s2, "read_bytes(" + std::to_string(offset) + ")");
    size_t first = first_batch_from(offset);
    if (first == SIZE_MAX) {
      CHECK(region.length == 0 && copy_bytes == 0, "read(%" PRId64 ") past the last batch returned %" PRIu64 " bytes",
            offset, region.length);
      return SIZE_MAX;
    }
    // Expected: whole batches of the first one's segment, up to max_bytes
    // (the first one whole regardless).
    auto segs = segments();
    size_t seg = segment_of(segs, model_[first].base);
    Bytes want = model_[first].bytes;
    size_t last = first;
    for (size_t i = first + 1; i < model_.size(); ++i) {
      if (segment_of(segs, model_[i].base) != seg) break;
      if (want.size() + model_[i].bytes.size() > max_bytes) break;
      want.insert(want.end(), model_[i].bytes.begin(), model_[i].bytes.end());
      last = i;
    }
    CHECK(region.first_offset == model_[first].base && copy_first == model_[first].base,
          "read(%" PRId64 ") starts at %" PRId64 " / %" PRId64 ", model batch %" PRId64 "..%" PRId64, offset,
          region.first_offset, copy_first, model_[first].base, model_[first].last);
    CHECK(region.length == want.size(), "read(%" PRId64 ", %" PRIu64 ") gave %" PRIu64 " bytes, model %zu", offset,
          max_bytes, region.length, want.size());
    CHECK(copy_bytes == want.size(), "read_bytes(%" PRId64 ", %" PRIu64 ") gave %zu bytes, model %zu", offset, max_bytes,
          copy_bytes, want.size());
    Bytes file(region.length);
    ssize_t n = ::pread(region.file->fd, file.data(), file.size(), static_cast<off_t>(region.position));
    CHECK(n == static_cast<ssize_t>(file.size()), "pread of the region");
    CHECK(file == want, "read(%" PRId64 ") region bytes differ from what was appended", offset);
    CHECK(std::memcmp(copy.get(), want.data(), want.size()) == 0, "read_bytes(%" PRId64 ") bytes differ", offset);
    // The bytes parse as whole valid batches and the first holds the offset
    // (or is the first after it, across a gap).
    size_t at = 0, count = 0;
    while (at < file.size()) {
      BatchHeader h;
      bool truncated = false;
      Status c = gregor::check_stored_batch(file.data() + at, file.size() - at, &h, &truncated);
      CHECK(c.ok(), "read returned a bad batch at +%zu: %s", at, status_text(c).c_str());
      if (count == 0) CHECK(h.last_offset() >= offset, "first batch ends before the offset");
      at += h.size_bytes();
      ++count;
    }
    return last;
  }

  // The bytes the log stores for an appended batch: the leader assigns the
  // offset and, for LogAppendTime topics, stamps the time; a follower keeps
  // the leader's bytes.
  Bytes stored_form(const Bytes& input, int64_t base, OffsetMode mode) const {
    Bytes b = input;
    put_u64(b, bl::kBaseOffset, static_cast<uint64_t>(base));
    if (cfg_.log_append_time && mode == OffsetMode::kAssign) {
      uint16_t a = gregor::load_u16_be(b.data() + bl::kAttributes) | bl::kTimestampTypeLogAppendTime;
      put_u16(b, bl::kAttributes, a);
      put_u64(b, bl::kMaxTimestamp, static_cast<uint64_t>(now_));
      fix_crc(b);
    } else if (mode == OffsetMode::kAssign && (gregor::load_u16_be(b.data() + bl::kAttributes) & 15) == 0) {
      // The leader corrects a maxTimestamp that its records do not carry.
      std::vector<RecordStamp> stamps = ref_stamps(b);
      if (!stamps.empty()) {
        int64_t records_max = stamps[0].timestamp;
        for (const RecordStamp& r : stamps) records_max = std::max(records_max, r.timestamp);
        if (records_max != gregor::load_i64_be(b.data() + bl::kMaxTimestamp)) {
          put_u64(b, bl::kMaxTimestamp, static_cast<uint64_t>(records_max));
          fix_crc(b);
        }
      }
    }
    return b;
  }

  MBatch model_batch(const Bytes& stored) const {
    MBatch m;
    RefHeader h = ref_header(stored.data());
    m.base = h.base_offset;
    m.last = h.base_offset + h.lod;
    m.max_ts = h.max_ts;
    m.compressed = (h.attributes & 7) != 0;
    m.records = h.count;
    m.bytes = stored;
    if (!m.compressed) m.stamps = ref_stamps(stored);
    return m;
  }

  // Timestamps the log can search: non-negative and far from overflow.
  BatchSpec log_spec(bool both_modes) {
    BatchSpec s = random_valid_spec(r_, both_modes, false, r_.one_in(10) ? 300 : 40);
    if (big_ && !s.records.empty() && r_.one_in(3)) {
      s.records[r_.below(s.records.size())].value = r_.bytes(r_.one_in(3) ? 900000 + r_.below(400000) : r_.below(300000));
    }
    // Sane timestamps around a moving clock (some going backwards).
    int64_t base_ts = std::max<int64_t>(0, ts_clock_ + r_.range(-3000, 3000));
    ts_clock_ += static_cast<int64_t>(r_.below(500));
    int64_t max_ts = base_ts;
    for (size_t i = 0; i < s.records.size(); ++i) {
      s.records[i].timestamp_delta = i == 0 ? 0 : r_.range(-std::min<int64_t>(base_ts, 2000), 2000);
      s.records[i].pad = std::min(s.records[i].pad, 10 - varint_size(s.records[i].timestamp_delta));
      max_ts = std::max(max_ts, base_ts + s.records[i].timestamp_delta);
    }
    // A header maximum above every record: compressed batches here, and now
    // and then a producer's (or a compacted leader's empty batch's) claim.
    if (s.codec() != 0 || r_.one_in(20)) max_ts += static_cast<int64_t>(r_.below(100));
    s.base_timestamp = base_ts;
    s.max_timestamp = max_ts;
    return s;
  }

  // One append of `batches` (input bytes) in `mode`, checked against the model.
  void append_and_check(const std::vector<Bytes>& batches, OffsetMode mode, const char* what) {
    Bytes all;
    for (auto& b : batches) all.insert(all.end(), b.begin(), b.end());
    // Expected outcome, by the documented rules.
    KafkaError expect = KafkaError::kNone;
    std::vector<MBatch> added;
    int64_t next = m_end_;
    if (all.empty()) {
      expect = KafkaError::kInvalidRecord;
    } else if (static_cast<int64_t>(all.size()) > cfg_.segment_bytes) {
      expect = KafkaError::kRecordListTooLarge;
    } else {
      BatchCheckOptions o;
      o.offset_mode = mode;
      // max.message.bytes binds producers; a follower stores what its leader took.
      o.batch_bytes_max = mode == OffsetMode::kAssign ? cfg_.max_message_bytes : INT32_MAX;
      // The log parses the concatenation: a batch's length field decides
      // where the next one starts, whatever this fuzzer meant.
      for (size_t pos = 0; pos < all.size();) {
        if (!ref_check_batch(all.data() + pos, all.size() - pos, o)) {
          BatchHeader ignored;
          expect = gregor::check_batch(all.data() + pos, all.size() - pos, o, &ignored).code;
          CHECK(expect != KafkaError::kNone, "reference rejects a batch that check_batch accepts");
          break;
        }
        RefHeader h = ref_header(all.data() + pos);
        Bytes b(all.begin() + static_cast<ptrdiff_t>(pos), all.begin() + static_cast<ptrdiff_t>(pos + 12 + h.batch_length));
        pos += b.size();
        int64_t base = mode == OffsetMode::kAssign ? next : h.base_offset;
        if (mode == OffsetMode::kKeep && base < next) {
          expect = KafkaError::kOffsetOutOfRange;
          break;
        }
        // Offsets past 2^53 are refused (compared without overflowing).
        if (base > kOffsetMax - 1 - h.lod) {
          expect = KafkaError::kInvalidRecord;
          break;
        }
        added.push_back(model_batch(stored_form(b, base, mode)));
        next = base + h.lod + 1;
      }
    }
    auto before = dir_sizes(dir_);
    auto segs_before = segments();
    int64_t end_before = log_->log_end_offset();
    uint64_t size_before = log_->size_bytes();
    gregor::AppendResult result;
    auto input = exact_copy(all.data(), all.size());  // ASan sees reads past the end
    Status s = log_->append(input.get(), all.size(), mode, now_, &result);
    ++g_log_stats.appends;
    CHECK(all.empty() || std::memcmp(input.get(), all.data(), all.size()) == 0, "append wrote into its input buffer");
    if (expect != KafkaError::kNone) {
      ++g_log_stats.rejected;
      CHECK(s.code == expect, "%s append of %zu bytes in %zu batches: got %s, expected %s", what, all.size(),
            batches.size(), status_text(s).c_str(), gregor::kafka_error_name(expect));
      CHECK(log_->log_end_offset() == end_before && log_->size_bytes() == size_before,
            "rejected append changed the log");
      CHECK(dir_sizes(dir_) == before, "rejected append changed the files");
      return;
    }
    CHECK_OK(s, std::string(what) + " append of " + std::to_string(batches.size()) + " batches");
    int64_t records = 0;
    for (auto& b : added) records += b.records;
    CHECK(result.base_offset == added.front().base && result.last_offset == added.back().last,
          "append result offsets %" PRId64 "..%" PRId64 ", model %" PRId64 "..%" PRId64, result.base_offset,
          result.last_offset, added.front().base, added.back().last);
    CHECK(result.record_count == records && result.batch_count == static_cast<int64_t>(added.size()),
          "append result counts");
    CHECK(result.log_append_time_ms == (cfg_.log_append_time && mode == OffsetMode::kAssign ? now_ : -1),
          "log append time %" PRId64, result.log_append_time_ms);
    unflushed_ += records;
    CHECK(result.needs_flush == (unflushed_ >= cfg_.flush_messages), "needs_flush %d, unflushed %" PRId64,
          result.needs_flush ? 1 : 0, unflushed_);
    auto segs = segments();
    if (segs_before.size() == 1 && segs_before[0].size_bytes == 0 && segs.front().base_offset != segs_before[0].base_offset) {
      // The only, empty segment was replaced: the log now starts with the new one.
      CHECK(segs.front().base_offset == added.front().base, "replacement segment at %" PRId64 ", first batch at %" PRId64,
            segs.front().base_offset, added.front().base);
      m_start_ = std::max(m_start_, segs.front().base_offset);
    }
    for (auto& b : added) model_.push_back(std::move(b));
    m_end_ = next;
  }

  std::vector<Bytes> valid_batches(OffsetMode mode, int64_t& next_keep) {
    std::vector<Bytes> out;
    size_t n = r_.one_in(4) ? 1 + r_.below(4) : 1;
    for (size_t i = 0; i < n; ++i) {
      bool both = mode == OffsetMode::kAssign || r_.coin();
      BatchSpec s = log_spec(both);
      if (mode == OffsetMode::kKeep) {
        uint64_t gap = r_.one_in(2)    ? 0
                       : r_.one_in(3)  ? r_.below(5)
                       : r_.one_in(20) ? r_.below(1ull << 33)
                                       : r_.below(100);
        s.base_offset = wrap_add(next_keep, static_cast<int64_t>(gap));  // may pass INT64_MAX: refused
        next_keep = wrap_add(s.base_offset, static_cast<int64_t>(s.last_offset_delta) + 1);
      } else {
        s.base_offset = r_.coin() ? 0 : static_cast<int64_t>(r_.below(1u << 20));  // overwritten by the log
      }
      out.push_back(encode(s).bytes);
      BatchCheckOptions o;
      o.offset_mode = both ? OffsetMode::kAssign : OffsetMode::kKeep;
      Bytes at_zero = out.back();  // offsets aside (some are meant to be refused)
      put_u64(at_zero, bl::kBaseOffset, 0);
      CHECK(ref_check_batch(at_zero.data(), at_zero.size(), o), "the generator made an invalid batch");
    }
    return out;
  }

  void corrupt_and_crash();

  // --- one random operation --------------------------------------------------

  void step() {
    uint64_t pick = r_.below(104);
    if (total_bytes() > (big_ ? 6000000 : 400000) && pick < 40) pick = 96;  // bounded memory: delete/truncate
    if (pick < 30) {
      last_op_ = "append(assign)";
      int64_t ignored = 0;
      append_and_check(valid_batches(OffsetMode::kAssign, ignored), OffsetMode::kAssign, "valid");
    } else if (pick < 40) {
      last_op_ = "append(keep)";
      int64_t next = m_end_;
      if (r_.one_in(10)) next -= static_cast<int64_t>(1 + r_.below(5));  // below the log end: refused
      if (r_.one_in(15)) next = kOffsetMax - static_cast<int64_t>(r_.below(40));  // near 2^53: refused
      if (r_.one_in(40)) next = INT64_MAX - static_cast<int64_t>(r_.below(40));  // refused too
      auto batches = valid_batches(OffsetMode::kKeep, next);
      append_and_check(batches, OffsetMode::kKeep, "follower");
    } else if (pick < 50) {
      last_op_ = "append(invalid)";
      append_invalid();
    } else if (pick < 62) {
      last_op_ = "read";
      int64_t offset = random_offset();
      check_read(offset, r_.coin() ? r_.below(400) : r_.below(1 << 16));
      if (held_.size() < 4 && offset >= m_start_ && offset <= m_end_ && r_.one_in(3)) {
        // Keep a region: its bytes must stay readable after its segment is deleted.
        Held h;
        if (log_->read(offset, r_.below(2000), &h.region).ok() && h.region.length > 0) {
          h.bytes.resize(h.region.length);
          CHECK(::pread(h.region.file->fd, h.bytes.data(), h.bytes.size(), static_cast<off_t>(h.region.position)) ==
                    static_cast<ssize_t>(h.bytes.size()),
                "pread of a held region");
          held_.push_back(std::move(h));
        }
      }
    } else if (pick < 70) {
      last_op_ = "offset_for_timestamp";
      check_offset_for_timestamp();
    } else if (pick < 72) {
      last_op_ = "offset_of_max_timestamp";
      check_offset_of_max_timestamp();
    } else if (pick < 76) {
      last_op_ = "truncate_to";
      do_truncate();
    } else if (pick < 80) {
      last_op_ = "delete_records_before";
      do_delete_records();
    } else if (pick < 84) {
      last_op_ = "roll";
      auto segs_before = segments();
      CHECK_OK(log_->roll(now_), "roll");
      auto segs = segments();
      if (segs_before.back().size_bytes > 0) {
        CHECK(segs.size() == segs_before.size() + 1 && segs.back().base_offset == m_end_ && segs.back().size_bytes == 0,
              "roll did not start a segment at the log end");
      } else {
        CHECK(segs.size() == segs_before.size(), "roll of an empty segment changed the segments");
      }
    } else if (pick < 88) {
      last_op_ = "flush";
      CHECK_OK(log_->flush(), "flush");
      CHECK(log_->recovery_point() == m_end_, "recovery point after flush");
      CHECK(log_->unflushed_messages() == 0, "unflushed after flush");
      unflushed_ = 0;
      flushed_end_ = m_end_;
    } else if (pick < 90) {
      last_op_ = "reopen(clean)";
      ++g_log_stats.reopens;
      auto segs_before = segments();
      CHECK_OK(log_->close(true), "close(flush)");
      CHECK(log_->closed(), "closed flag");
      gregor::FileRegion region;
      CHECK(log_->read(m_start_, 100, &region).code == KafkaError::kLogClosed, "read after close");
      if (r_.one_in(4)) {  // topic config changed while the log was closed
        if (!big_) cfg_.segment_bytes = r_.range(200, 5000);
        cfg_.segment_index_bytes = pick_index_bytes();
        cfg_.index_interval_bytes = r_.pick(std::vector<int64_t>{0, 1, 60, 100, 200, 500, 4096});
        cfg_.log_append_time = r_.one_in(6);
      }
      open_log(m_end_, m_start_, true);
      CHECK(log_->recovered_truncated_bytes() == 0, "clean reopen truncated bytes");
      // open() starts the log at the first segment if that is later (an empty
      // segment replaced by a follower batch far ahead leaves such a gap).
      m_start_ = std::min(std::max(m_start_, segs_before.front().base_offset), m_end_);
      unflushed_ = 0;
      flushed_end_ = m_end_;
      check_state("reopen");
      verify_all();
    } else if (pick < 94) {
      last_op_ = "crash";
      corrupt_and_crash();
    } else if (pick < 96) {
      last_op_ = "fault";
      fault_op();
    } else if (pick < 97) {
      last_op_ = "delete_oldest_segments";
      auto segs = segments();
      size_t count = r_.below(segs.size() + 1);
      size_t deleted = 0;
      CHECK_OK(log_->delete_oldest_segments(count, now_, &deleted), "delete_oldest_segments");
      CHECK(deleted == std::min(count, segs.size() - 1), "deleted %zu of %zu segments", deleted, count);
      if (deleted > 0) {
        int64_t front = segs[deleted].base_offset;
        while (!model_.empty() && model_.front().base < front) model_.erase(model_.begin());
        m_start_ = std::min(std::max(m_start_, front), m_end_);
      }
      check_held();
    } else if (pick < 98) {
      last_op_ = "bounded delete";
      // Keeps the model small: drop old data (or all of it) now and then.
      if (m_end_ > m_start_ && r_.coin()) {
        int64_t to = m_start_ + (m_end_ - m_start_) / 2;
        auto segs = segments();
        CHECK_OK(log_->delete_records_before(to, now_), "delete_records_before");
        after_delete(segs, to);
      } else {
        do_truncate();
      }
    } else if (pick < 100) {
      last_op_ = "verify";
      verify_all();
    } else if (pick < 103) {
      last_op_ = "delete_old_segments";
      do_retention();
    } else {
      last_op_ = "delete_expired_files";
      do_expire_files();
    }
  }

  // --- retention ---------------------------------------------------------------

  // A retention pass with random settings (a topic's can change at any time),
  // against the segments as the model knows them: Kafka's rules computed here
  // independently.
  void do_retention() {
    cfg_.delete_policy = !r_.one_in(6);
    cfg_.retention_bytes = r_.one_in(3) ? -1 : static_cast<int64_t>(r_.below(static_cast<uint64_t>(total_bytes()) + 300));
    cfg_.retention_ms = r_.one_in(3) ? -1 : static_cast<int64_t>(r_.below(30000));
    cfg_.file_delete_delay_ms = r_.pick(std::vector<int64_t>{0, 500, 60000});
    log_->set_config(cfg_);
    auto segs = segments();
    const size_t n = segs.size();
    auto deletable = [&](size_t i) { return i + 1 < n || segs[i].size_bytes > 0; };
    size_t count = 0;
    while (count + 1 < n && segs[count + 1].base_offset <= m_start_) ++count;
    if (cfg_.delete_policy && cfg_.retention_bytes >= 0) {
      uint64_t size = 0;
      for (size_t i = count; i < n; ++i) size += segs[i].size_bytes;
      if (size >= static_cast<uint64_t>(cfg_.retention_bytes)) {
        uint64_t excess = size - static_cast<uint64_t>(cfg_.retention_bytes);
        while (count < n && deletable(count) && segs[count].size_bytes <= excess) excess -= segs[count++].size_bytes;
      }
    }
    if (cfg_.delete_policy && cfg_.retention_ms >= 0) {
      // A segment without timestamps ages by its file's mtime: the real clock,
      // far ahead of this test's, so it never counts as old here.
      while (count < n && deletable(count) && segs[count].max_timestamp >= 0 && segs[count].max_timestamp < now_ &&
             now_ - segs[count].max_timestamp > cfg_.retention_ms) {
        ++count;
      }
    }
    gregor::RetentionResult result;
    CHECK_OK(log_->delete_old_segments(now_, &result), "delete_old_segments");
    ++g_log_stats.retention_passes;
    g_log_stats.retention_segments += result.segments;
    CHECK(result.segments == count, "retention deleted %zu segments, expected %zu", result.segments, count);
    CHECK(result.rolled == (count == n && count > 0), "retention rolled: %d", result.rolled ? 1 : 0);
    CHECK(result.below_log_start + result.by_size + result.by_time == result.segments, "retention reasons do not add up");
    uint64_t bytes = 0;
    for (size_t i = 0; i < count; ++i) bytes += segs[i].size_bytes;
    CHECK(result.bytes == bytes, "retention deleted %" PRIu64 " bytes, expected %" PRIu64, result.bytes, bytes);
    auto after = segments();
    if (count == n && count > 0) {
      CHECK(after.size() == 1 && after[0].base_offset == m_end_ && after[0].size_bytes == 0,
            "retention of everything did not leave one empty segment at the log end");
      model_.clear();
      m_start_ = m_end_;
    } else if (count > 0) {
      int64_t front = segs[count].base_offset;
      CHECK(after.front().base_offset == front, "after retention the log starts at segment %" PRId64 ", expected %" PRId64,
            after.front().base_offset, front);
      while (!model_.empty() && model_.front().base < front) model_.erase(model_.begin());
      m_start_ = std::min(std::max(m_start_, front), m_end_);
    }
    for (size_t i = 0; i < count; ++i) {
      std::string log_path = dir_ + "/" + gregor::segment_file_name(segs[i].base_offset, ".log");
      CHECK(file_size(log_path) < 0, "%s is still there after retention", log_path.c_str());
      if (cfg_.file_delete_delay_ms > 0) {
        CHECK(file_size(log_path + ".deleted") >= 0, "%s.deleted is missing", log_path.c_str());
      }
    }
    check_held();
  }

  // Time passes; the .deleted files whose delay is over go.
  void do_expire_files() {
    now_ += static_cast<int64_t>(r_.below(70000));
    CHECK_OK(log_->delete_expired_files(now_), "delete_expired_files");
    int64_t next = log_->next_file_deletion_ms();
    CHECK(next < 0 || next > now_, "a file deletion due at %" PRId64 " is still waiting at %" PRId64, next, now_);
    if (log_->pending_file_deletions() == 0) {
      for (const auto& entry : dir_sizes(dir_)) {
        CHECK(entry.first.size() < 8 || entry.first.compare(entry.first.size() - 8, 8, ".deleted") != 0,
              "%s is left with no deletion pending", entry.first.c_str());
      }
    }
    check_held();
  }

  int64_t random_offset() {
    if (!model_.empty() && r_.coin()) {
      const MBatch& b = model_[r_.below(model_.size())];
      return r_.range(b.base - 1, b.last + 1);
    }
    int64_t span = std::max<int64_t>(1, m_end_ - m_start_);
    if (span > 1000000) return r_.coin() ? m_end_ - static_cast<int64_t>(r_.below(5)) : m_start_ + static_cast<int64_t>(r_.below(5));
    return m_start_ + r_.range(-2, span + 2);
  }

  void append_invalid() {
    int64_t ignored = 0;
    std::vector<Bytes> batches = valid_batches(OffsetMode::kAssign, ignored);
    OffsetMode mode = r_.one_in(4) ? OffsetMode::kKeep : OffsetMode::kAssign;
    switch (r_.below(4)) {
      case 0: {  // a batch mutated until check_batch refuses it, anywhere in the list
        size_t which = r_.below(batches.size());
        BatchSpec s = log_spec(true);
        Encoded e = encode(s);
        BatchCheckOptions o;
        o.offset_mode = mode;
        o.batch_bytes_max = mode == OffsetMode::kAssign ? cfg_.max_message_bytes : INT32_MAX;
        for (int tries = 0; tries < 20; ++tries) {
          Encoded m = e;
          mutate(r_, m);
          if (!m.bytes.empty() && !ref_check_batch(m.bytes.data(), m.bytes.size(), o)) {
            batches[which] = m.bytes;
            append_and_check(batches, mode, "mutated");
            return;
          }
        }
        break;
      }
      case 1: {  // a torn batch at the end
        Bytes b = encode(log_spec(true)).bytes;
        b.resize(1 + r_.below(b.size() - 1));
        batches.push_back(b);
        append_and_check(batches, OffsetMode::kAssign, "torn");
        return;
      }
      case 2:  // nothing at all
        append_and_check({}, OffsetMode::kAssign, "empty");
        return;
      default: {  // a follower batch in assign mode (gaps / control) or a huge one
        if (r_.coin()) {
          int64_t next = m_end_;
          auto keep = valid_batches(OffsetMode::kKeep, next);
          append_and_check(keep, OffsetMode::kAssign, "follower-in-assign");
        } else {
          BatchSpec s = log_spec(true);
          if (s.records.empty()) {
            s.blob = r_.bytes(static_cast<size_t>(cfg_.segment_bytes));
          } else {
            s.records[0].value = r_.bytes(static_cast<size_t>(cfg_.segment_bytes));
          }
          append_and_check({encode(s).bytes}, OffsetMode::kAssign, "oversized");
        }
        return;
      }
    }
  }

  void check_offset_for_timestamp() {
    int64_t target;
    if (!model_.empty() && !r_.one_in(4)) {
      const MBatch& b = model_[r_.below(model_.size())];
      target = b.stamps.empty() ? b.max_ts : b.stamps[r_.below(b.stamps.size())].timestamp;
      target += r_.range(-1, 1);
    } else {
      target = r_.one_in(5) ? interesting(r_) : r_.range(-10, ts_clock_ + 10000);
    }
    bool found = false;
    int64_t offset = -1, ts = -1;
    CHECK_OK(log_->offset_for_timestamp(target, &found, &offset, &ts), "offset_for_timestamp");
    // Model: the first record (in offset order) at or after the log start
    // whose timestamp >= target; a compressed batch answers as a whole.
    bool want_found = false;
    int64_t want_offset = -1, want_ts = -1;
    for (const MBatch& b : model_) {
      if (b.last < m_start_) continue;
      if (b.compressed) {
        if (b.max_ts >= target) {
          want_found = true;
          want_offset = std::max(b.base, m_start_);
          want_ts = b.max_ts;
        }
      } else {
        for (const RecordStamp& s : b.stamps) {
          if (s.offset >= m_start_ && s.timestamp >= target) {
            want_found = true;
            want_offset = s.offset;
            want_ts = s.timestamp;
            break;
          }
        }
      }
      if (want_found) break;
    }
    CHECK(found == want_found && (!found || (offset == want_offset && ts == want_ts)),
          "offset_for_timestamp(%" PRId64 ") = %d (%" PRId64 ", %" PRId64 "), model %d (%" PRId64 ", %" PRId64 ")",
          target, found ? 1 : 0, offset, ts, want_found ? 1 : 0, want_offset, want_ts);
  }

  void check_offset_of_max_timestamp() {
    bool found = false;
    int64_t offset = -1, ts = -1;
    CHECK_OK(log_->offset_of_max_timestamp(&found, &offset, &ts), "offset_of_max_timestamp");
    // Model: the largest timestamp among records at or after the log start,
    // at its first record; a compressed batch counts as one record at its
    // first readable offset.
    bool want_found = false;
    int64_t want_offset = -1, want_ts = -1;
    const MBatch* want_batch = nullptr;
    for (const MBatch& b : model_) {
      if (b.last < m_start_) continue;
      auto consider = [&](int64_t o, int64_t t) {
        if (o >= m_start_ && (!want_found || t > want_ts)) {
          want_found = true;
          want_offset = o;
          want_ts = t;
          want_batch = &b;
        }
      };
      if (b.compressed) {
        consider(std::max(b.base, m_start_), b.max_ts);
      } else {
        for (const RecordStamp& st : b.stamps) consider(st.offset, st.timestamp);
      }
    }
    // Records of a LogAppendTime batch all carry its maxTimestamp; the log
    // may answer with the batch's first readable offset instead of the first
    // record's (they differ when the log start falls in an offset gap).
    bool lat = want_batch != nullptr && (gregor::load_u16_be(want_batch->bytes.data() + bl::kAttributes) &
                                         bl::kTimestampTypeLogAppendTime) != 0;
    if (g_trace) {
      for (const MBatch& b : model_) {
        std::printf("    batch %" PRId64 "..%" PRId64 " max_ts %" PRId64 " compressed %d attrs %x:", b.base, b.last, b.max_ts,
                    b.compressed ? 1 : 0, gregor::load_u16_be(b.bytes.data() + bl::kAttributes));
        for (auto& st : b.stamps) std::printf(" (%" PRId64 ",%" PRId64 ")", st.offset, st.timestamp);
        std::printf("\n");
      }
    }
    if (g_avoid_known_bugs) {  // known bug 1: only check that the answer is a real record
      if (!found) return;
      bool exists = false;
      for (const MBatch& b : model_) {
        bool whole = b.compressed || (gregor::load_u16_be(b.bytes.data() + bl::kAttributes) &
                                      bl::kTimestampTypeLogAppendTime) != 0;  // answered as a whole batch
        if (whole && offset >= std::max(b.base, m_start_) && offset <= b.last && ts == b.max_ts) exists = true;
        for (const RecordStamp& st : b.stamps) exists = exists || (st.offset == offset && st.timestamp == ts);
      }
      CHECK(exists && offset >= m_start_, "offset_of_max_timestamp gave (%" PRId64 ", %" PRId64 "): no such record",
            offset, ts);
      return;
    }
    bool offset_ok = offset == want_offset ||
                     (lat && offset >= std::max(want_batch->base, m_start_) && offset <= want_offset);
    CHECK(found == want_found && (!found || (ts == want_ts && offset_ok)),
          "offset_of_max_timestamp = %d (%" PRId64 ", %" PRId64 "), model %d (%" PRId64 ", %" PRId64 ")", found ? 1 : 0,
          offset, ts, want_found ? 1 : 0, want_offset, want_ts);
  }

  void do_truncate() {
    drop_held();
    int64_t offset;
    if (!model_.empty() && r_.coin()) {
      const MBatch& b = model_[r_.below(model_.size())];
      offset = r_.range(b.base, b.last + 1);
    } else {
      offset = r_.one_in(8) ? m_start_ - static_cast<int64_t>(r_.below(10)) : random_offset();
      if (offset < 0) offset = r_.coin() ? 0 : -1;
    }
    auto segs = segments();
    Status s = log_->truncate_to(offset, now_);
    if (offset < 0) {
      CHECK(s.code == KafkaError::kInvalidArgument, "truncate_to(-1): %s", status_text(s).c_str());
      return;
    }
    CHECK_OK(s, "truncate_to(" + std::to_string(offset) + ")");
    if (offset >= m_end_) return;
    if (offset <= segs.front().base_offset || offset < m_start_) {
      model_.clear();
      m_start_ = m_end_ = offset;
    } else {
      // The kept segment is cut at the batch holding `offset`.
      size_t keep = 0;
      while (keep + 1 < segs.size() && segs[keep + 1].base_offset <= offset) ++keep;
      while (!model_.empty() && model_.back().last >= offset) model_.pop_back();
      int64_t kept_base = segs[keep].base_offset;
      m_end_ = !model_.empty() && model_.back().base >= kept_base ? model_.back().last + 1 : kept_base;
      m_start_ = std::min(m_start_, m_end_);
    }
    flushed_end_ = std::min(flushed_end_, m_end_);
  }

  void do_delete_records() {
    int64_t offset = r_.one_in(8) ? m_end_ + 1 : r_.one_in(10) ? -1 : random_offset();
    auto segs = segments();
    Status s = log_->delete_records_before(offset, now_);
    if (offset > m_end_ || offset < 0) {
      CHECK(s.code == KafkaError::kOffsetOutOfRange, "delete_records_before(%" PRId64 "): %s", offset,
            status_text(s).c_str());
      return;
    }
    CHECK_OK(s, "delete_records_before(" + std::to_string(offset) + ")");
    after_delete(segs, offset);
    check_held();
  }

  void after_delete(const std::vector<gregor::SegmentInfo>& before, int64_t offset) {
    if (offset <= m_start_) return;
    m_start_ = offset;
    size_t removable = 0;
    while (removable + 1 < before.size() && before[removable + 1].base_offset <= offset) ++removable;
    int64_t front = before[removable].base_offset;
    auto segs = segments();
    CHECK(segs.front().base_offset == front, "first segment after delete_records_before(%" PRId64 ") is %" PRId64
          ", expected %" PRId64, offset, segs.front().base_offset, front);
    while (!model_.empty() && model_.front().base < front) {
      CHECK(model_.front().last < offset, "delete_records_before(%" PRId64 ") removed batch %" PRId64 "..%" PRId64,
            offset, model_.front().base, model_.front().last);
      model_.erase(model_.begin());
    }
  }

  void fault_op() {
    using gregor::FaultProbe;
    switch (r_.below(4)) {
      case 3: {  // deleting a segment fails: nothing changes
        auto segs = segments();
        auto files_before = dir_sizes(dir_);
        int64_t start_before = log_->log_start_offset();
        arm(FaultProbe::kDelete);
        size_t deleted = 0;
        Status s = log_->delete_oldest_segments(1 + r_.below(3), now_, &deleted);
        bool fired = gregor::g_fault_probe_remaining[static_cast<int>(FaultProbe::kDelete)].load() == 0;
        disarm_all();
        if (fired) {
          CHECK(s.code == KafkaError::kKafkaStorageError, "a failing delete: %s", status_text(s).c_str());
          CHECK(deleted == 0 && segments().size() == segs.size() && log_->log_start_offset() == start_before,
                "a failed delete changed the log");
          CHECK(dir_sizes(dir_) == files_before, "a failed delete changed the files");
        } else {
          CHECK(segs.size() == 1 && deleted == 0, "delete probe not reached with %zu segments", segs.size());
        }
        break;
      }
      case 0: {  // the write of an append fails: nothing changes
        int64_t ignored = 0;
        auto batches = valid_batches(OffsetMode::kAssign, ignored);
        Bytes all;
        for (auto& b : batches) all.insert(all.end(), b.begin(), b.end());
        if (static_cast<int64_t>(all.size()) > cfg_.segment_bytes || m_end_ > kOffsetMax - 100000) return;
        for (auto& b : batches) {
          if (static_cast<int64_t>(b.size()) > cfg_.max_message_bytes) return;
        }
        int64_t end_before = m_end_;
        uint64_t size_before = log_->size_bytes();
        arm(FaultProbe::kAppend);
        gregor::AppendResult result;
        Status s = log_->append(all.data(), all.size(), OffsetMode::kAssign, now_, &result);
        disarm_all();
        CHECK(s.code == KafkaError::kKafkaStorageError, "append with a failing write: %s", status_text(s).c_str());
        CHECK(log_->log_end_offset() == end_before && log_->size_bytes() == size_before, "failed append changed the log");
        break;
      }
      case 1: {  // creating the next segment, or trimming the old one's indexes, fails
        int64_t ignored = 0;
        auto batches = valid_batches(OffsetMode::kAssign, ignored);
        FaultProbe probe = r_.coin() ? FaultProbe::kRoll : FaultProbe::kIndexTrim;
        arm(probe);
        Bytes all;
        for (auto& b : batches) all.insert(all.end(), b.begin(), b.end());
        bool fits = static_cast<int64_t>(all.size()) <= cfg_.segment_bytes && m_end_ <= kOffsetMax - 100000;
        for (auto& b : batches) fits = fits && static_cast<int64_t>(b.size()) <= cfg_.max_message_bytes;
        if (!fits) {
          disarm_all();
          return;
        }
        int64_t end_before = m_end_;
        uint64_t size_before = log_->size_bytes();
        auto files_before = dir_sizes(dir_);
        gregor::AppendResult result;
        Status s = log_->append(all.data(), all.size(), OffsetMode::kAssign, now_, &result);
        bool fired = gregor::g_fault_probe_remaining[static_cast<int>(probe)].load() == 0;
        disarm_all();
        if (fired) {
          // Nothing appended. A failed trim leaves the new (empty) segment in
          // place; a failed create leaves no file behind.
          CHECK(s.code == KafkaError::kKafkaStorageError, "append with a failing roll: %s", status_text(s).c_str());
          CHECK(log_->log_end_offset() == end_before && log_->size_bytes() == size_before, "failed roll changed the log");
          if (probe == FaultProbe::kRoll) CHECK(dir_sizes(dir_) == files_before, "failed roll left files behind");
        } else {
          CHECK_OK(s, "append (roll probe not reached)");
          int64_t next = m_end_;
          for (auto& b : batches) {
            model_.push_back(model_batch(stored_form(b, next, OffsetMode::kAssign)));
            next = model_.back().last + 1;
            unflushed_ += model_.back().records;
          }
          m_end_ = next;
        }
        break;
      }
      default: {  // an fsync fails: the recovery point stays, a retry works
        int64_t rp = log_->recovery_point();
        arm(FaultProbe::kFsync);
        Status s = log_->flush();
        bool fired = gregor::g_fault_probe_remaining[static_cast<int>(FaultProbe::kFsync)].load() == 0;
        disarm_all();
        if (fired) {
          CHECK(s.code == KafkaError::kKafkaStorageError, "flush with a failing fsync: %s", status_text(s).c_str());
          CHECK(log_->recovery_point() == rp, "failed flush moved the recovery point");
        } else {
          CHECK_OK(s, "flush with nothing to sync");
        }
        CHECK_OK(log_->flush(), "flush retry");
        CHECK(log_->recovery_point() == m_end_, "recovery point after flush retry");
        unflushed_ = 0;
        flushed_end_ = m_end_;
        break;
      }
    }
  }

  void arm(gregor::FaultProbe p) { gregor::g_fault_probe_remaining[static_cast<int>(p)].store(1); }
  void disarm_all() {
    for (int i = 0; i < static_cast<int>(gregor::FaultProbe::kCount); ++i) gregor::g_fault_probe_remaining[i].store(0);
  }

  Rng& r_;
  std::string dir_;
  gregor::LogConfig cfg_;
  std::unique_ptr<gregor::PartitionLog> log_;
  std::vector<MBatch> model_;
  int64_t m_start_ = 0, m_end_ = 0, flushed_end_ = 0, unflushed_ = 0;
  int64_t now_ = 0;
  int64_t ts_clock_ = 1000000;
  std::string last_op_ = "open";
  bool big_ = false;
  struct Held {
    gregor::FileRegion region;
    Bytes bytes;
  };
  std::vector<Held> held_;
};

// Stops the process without flushing (or closes without flushing), damages
// the tail of a .log, reopens with recovery, and checks what survived.
void LogFuzz::corrupt_and_crash() {
  ++g_log_stats.crashes;
  drop_held();
  auto segs = segments();
  // Batches per segment, with their positions in the file.
  std::vector<std::vector<size_t>> in_seg(segs.size());
  for (size_t i = 0; i < model_.size(); ++i) in_seg[segment_of(segs, model_[i].base)].push_back(i);

  if (r_.coin()) {
    CHECK_OK(log_->close(false), "close(no flush)");
  }
  log_.reset();  // a crash: nothing trimmed or synced beyond what was done

  enum Kind { kNone, kFlip, kCut, kGarbage, kOffsetField } kind = static_cast<Kind>(r_.below(5));
  size_t t = r_.one_in(4) ? r_.below(segs.size()) : segs.size() - 1;
  std::string path = dir_ + "/" + gregor::segment_file_name(segs[t].base_offset, ".log");
  Bytes file = read_file(path);
  CHECK(file.size() == segs[t].size_bytes, "%s is %zu bytes before the crash, segment said %" PRIu64, path.c_str(),
        file.size(), segs[t].size_bytes);
  std::vector<uint64_t> starts;  // file positions of segment t's batches
  {
    uint64_t at = 0;
    for (size_t i : in_seg[t]) {
      starts.push_back(at);
      at += model_[i].bytes.size();
    }
  }
  uint64_t damage = file.size();  // first damaged byte; file.size() = none
  if (kind == kFlip || kind == kOffsetField) {
    if (file.empty()) kind = kGarbage;
  }
  switch (kind) {
    case kNone:
      break;
    case kFlip: {
      // Bytes covered by the CRC, the length, the magic or the CRC itself:
      // never baseOffset or partitionLeaderEpoch, which no check covers.
      uint64_t tail = std::min<uint64_t>(file.size(), 1 + r_.below(r_.coin() ? 200 : file.size()));
      size_t flips = 1 + r_.below(4);
      for (size_t k = 0; k < flips; ++k) {
        uint64_t pos = file.size() - 1 - r_.below(tail);
        size_t b = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin()) - 1;
        uint64_t rel = pos - starts[b];
        if (rel < 8 || (rel >= 12 && rel < 16)) continue;
        file[pos] ^= static_cast<uint8_t>(1 + r_.below(255));
        damage = std::min(damage, pos);
      }
      break;
    }
    case kCut:
      damage = r_.below(file.size() + 1);
      file.resize(damage);
      break;
    case kGarbage: {
      Bytes g;
      switch (r_.below(3)) {
        case 0: g = r_.bytes(1 + r_.below(200)); break;
        case 1: {  // a torn copy of a batch that would have been next
          Bytes b = encode(log_spec(true)).bytes;
          put_u64(b, 0, static_cast<uint64_t>(m_end_));
          g.assign(b.begin(), b.begin() + static_cast<ptrdiff_t>(1 + r_.below(b.size() - 1)));
          break;
        }
        default: {  // a plausible header claiming more than the file holds
          g = r_.bytes(bl::kHeaderBytes + r_.below(50));
          put_u64(g, 0, static_cast<uint64_t>(m_end_));
          g[bl::kMagic] = 2;
          put_u32(g, bl::kBatchLength, static_cast<uint32_t>(g.size() + r_.below(1000)));
          break;
        }
      }
      file.insert(file.end(), g.begin(), g.end());
      break;
    }
    case kOffsetField: {
      // baseOffset is outside the CRC: values recovery must still refuse.
      size_t b = starts.size() - 1 - r_.below(std::min<size_t>(starts.size(), 3));
      const MBatch& mb = model_[in_seg[t][b]];
      int64_t expected_min = b == 0 ? segs[t].base_offset : model_[in_seg[t][b - 1]].last + 1;
      int64_t v;
      switch (r_.below(4)) {
        case 0: v = expected_min - 1 - static_cast<int64_t>(r_.below(5)); break;
        case 1: v = INT64_MIN + static_cast<int64_t>(r_.below(3)); break;
        case 2:  // the batch's last offset just past the segment's 32-bit reach
          v = segs[t].base_offset + INT32_MAX + 1 - (mb.last - mb.base) + static_cast<int64_t>(r_.below(3));
          break;
        default: v = INT64_MAX - static_cast<int64_t>(r_.below(static_cast<uint64_t>(mb.last - mb.base) + 1)); break;
      }
      put_u64(file, starts[b], static_cast<uint64_t>(v));
      damage = starts[b];
      break;
    }
  }
  if (kind != kNone) write_file(path, file);
  // Leftovers of interrupted deletes and orphan indexes: open removes them.
  std::vector<std::string> strays;
  if (r_.one_in(6)) {
    int64_t orphan = segs.back().base_offset + 1 + static_cast<int64_t>(r_.below(1000));
    strays.push_back(gregor::segment_file_name(orphan, ".index"));
    strays.push_back(gregor::segment_file_name(orphan, ".timeindex"));
    strays.push_back(gregor::segment_file_name(segs.front().base_offset, ".log.deleted"));
    strays.push_back(gregor::segment_file_name(segs.back().base_offset, ".index.swap"));
    for (const std::string& name : strays) write_file(dir_ + "/" + name, r_.bytes(r_.below(40)));
  }
  // Sometimes damage the indexes too: unclean recovery rebuilds them.
  if (r_.one_in(5)) {
    const auto& s = segs[r_.below(segs.size())];
    std::string ipath = dir_ + "/" + gregor::segment_file_name(s.base_offset, r_.coin() ? ".index" : ".timeindex");
    if (r_.coin()) {
      write_file(ipath, r_.bytes(r_.below(100)));
    } else {
      ::unlink(ipath.c_str());
    }
  }

  // Expected survivors: segments before t whole; in t the batches that end
  // at or before the damage; later segments only if recovery cut nothing
  // from t (a cut exactly at a batch boundary leaves nothing to detect).
  uint64_t keep_bytes = 0;
  size_t survivors_in_t = 0;
  for (size_t b = 0; b < starts.size(); ++b) {
    uint64_t end = starts[b] + model_[in_seg[t][b]].bytes.size();
    if (end > damage) break;
    keep_bytes = end;
    ++survivors_in_t;
  }
  bool truncates = file.size() > keep_bytes;
  uint64_t expect_truncated = truncates ? file.size() - keep_bytes : 0;
  std::vector<MBatch> survivors;
  for (size_t s = 0; s < segs.size(); ++s) {
    if (s < t || (s > t && !truncates)) {
      for (size_t i : in_seg[s]) survivors.push_back(model_[i]);
    } else if (s == t) {
      for (size_t b = 0; b < survivors_in_t; ++b) survivors.push_back(model_[in_seg[t][b]]);
    } else {
      expect_truncated += segs[s].size_bytes;
    }
  }
  int64_t expect_end;
  if (truncates || t + 1 == segs.size()) {
    expect_end = survivors_in_t > 0 ? model_[in_seg[t][survivors_in_t - 1]].last + 1 : segs[t].base_offset;
  } else {
    expect_end = m_end_;
  }

  // Recovery from the start if anything was damaged; otherwise also from the
  // last flushed point, as the broker would.
  int64_t rp = kind != kNone || r_.coin() ? 0 : flushed_end_;
  int64_t end_before = m_end_;
  if (g_trace) {
    std::printf("  crash: kind %d in segment %zu of %zu (base %" PRId64 ", %zu batches), file %zu bytes, damage at %" PRIu64
                ", expect %zu survivors there, cut %" PRIu64 ", end %" PRId64 ", recovery point %" PRId64 "\n",
                static_cast<int>(kind), t, segs.size(), segs[t].base_offset, starts.size(), file.size(), damage,
                survivors_in_t, expect_truncated, expect_end, rp);
  }
  open_log(rp, m_start_, false);
  for (const std::string& name : strays) {
    CHECK(file_size(dir_ + "/" + name) < 0, "open left %s behind", name.c_str());
  }
  CHECK(log_->recovered_truncated_bytes() == expect_truncated,
        "crash kind %d in segment %zu/%zu: recovery cut %" PRIu64 " bytes, expected %" PRIu64, static_cast<int>(kind),
        t, segs.size(), log_->recovered_truncated_bytes(), expect_truncated);
  g_log_stats.truncated_bytes += log_->recovered_truncated_bytes();
  model_ = std::move(survivors);
  m_end_ = expect_end;
  CHECK(m_end_ <= end_before, "log end grew in recovery");
  m_start_ = std::min(std::max(m_start_, segs.front().base_offset), m_end_);
  flushed_end_ = m_end_;
  unflushed_ = 0;
  check_state("crash recovery");
  verify_all();
}


// ---------------------------------------------------------------------------
// Compaction (run after each log case, in its own directory): keyed records
// appended in rounds, rolls, and cleanings (plan_clean, clean_segments,
// swap_cleaned) with random settings, some interrupted by the clean-swap
// fault and followed by a crash reopen. After each, everything is read back
// and checked against what was appended: every record is one that was
// appended, at its offset, with its bytes; offsets increase; nothing at or
// past the first uncleanable offset changed; the newest record of every key
// is still there unless it was a tombstone, and then the key has no record
// left; records without a key are gone from the cleaned range.

struct AppendedRecord {
  bool has_key;
  Bytes key;
  bool has_value;
  Bytes value;
};

// (offset, record) of every record in the log, read back through read_bytes.
std::vector<std::pair<int64_t, AppendedRecord>> read_back(gregor::PartitionLog& log) {
  std::vector<std::pair<int64_t, AppendedRecord>> out;
  int64_t offset = log.log_start_offset();
  while (offset < log.log_end_offset()) {
    std::unique_ptr<uint8_t[]> bytes;
    size_t size = 0;
    int64_t first = -1;
    CHECK_OK(log.read_bytes(offset, 1 << 20, &bytes, &size, &first), "read_bytes");
    if (size == 0) break;
    size_t at = 0;
    int64_t next = offset;
    while (at < size) {
      gregor::BatchHeader h;
      bool torn = false;
      CHECK_OK(gregor::check_stored_batch(bytes.get() + at, size - at, &h, &torn), "stored batch after cleaning");
      const uint8_t* p = bytes.get() + at + bl::kRecords;
      const uint8_t* end = bytes.get() + at + h.size_bytes();
      for (int32_t i = 0; i < h.records_count; ++i) {
        int64_t length = 0, ts = 0, delta = 0, klen = 0, vlen = 0;
        size_t n = gregor::read_zigzag_varint(p, end, 5, &length);
        CHECK(n > 0 && length > 0 && length <= end - p - static_cast<ptrdiff_t>(n), "record framing after cleaning");
        const uint8_t* q = p + n + 1;
        const uint8_t* rend = p + n + length;
        q += gregor::read_zigzag_varint(q, rend, 10, &ts);
        q += gregor::read_zigzag_varint(q, rend, 5, &delta);
        q += gregor::read_zigzag_varint(q, rend, 5, &klen);
        AppendedRecord rec;
        rec.has_key = klen >= 0;
        if (rec.has_key) {
          rec.key.assign(q, q + klen);
          q += klen;
        }
        q += gregor::read_zigzag_varint(q, rend, 5, &vlen);
        rec.has_value = vlen >= 0;
        if (rec.has_value) rec.value.assign(q, q + vlen);
        out.emplace_back(h.base_offset + delta, std::move(rec));
        p = rend;
      }
      next = h.last_offset() + 1;
      at += h.size_bytes();
    }
    CHECK(next > offset, "read made no progress at %" PRId64, offset);
    offset = next;
  }
  return out;
}

void compaction_case(Rng& r, const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  gregor::LogConfig cfg;
  cfg.segment_bytes = 2000 + static_cast<int64_t>(r.below(20000));  // above any batch made here
  cfg.index_interval_bytes = static_cast<int64_t>(r.below(1500));
  cfg.segment_index_bytes = 64 + static_cast<int64_t>(r.below(4096));
  cfg.file_delete_delay_ms = r.coin() ? 0 : 60000;
  int64_t now = 1'700'000'000'000;
  auto log = std::make_unique<gregor::PartitionLog>(dir, cfg);
  CHECK_OK(log->open(0, 0, true, now), "open");
  std::map<int64_t, AppendedRecord> appended;
  std::map<Bytes, int64_t> newest;  // key -> offset of its newest record
  int64_t cleaned_below = 0;        // the highest first uncleanable offset of any cleaning
  size_t keys = 1 + r.below(24);
  size_t rounds = 2 + r.below(10);
  for (size_t round = 0; round < rounds; ++round) {
    size_t batches = 1 + r.below(8);
    for (size_t b = 0; b < batches; ++b) {
      BatchSpec spec;
      size_t n = 1 + r.below(8);
      spec.records_count = static_cast<int32_t>(n);
      spec.last_offset_delta = static_cast<int32_t>(n - 1);
      spec.base_timestamp = now;
      spec.max_timestamp = now;
      std::vector<AppendedRecord> recs;
      for (size_t i = 0; i < n; ++i) {
        RecordSpec rs;
        rs.offset_delta = static_cast<int64_t>(i);
        rs.has_key = !r.one_in(25);
        if (rs.has_key) rs.key = Bytes{'k', static_cast<uint8_t>(r.below(keys))};
        rs.has_value = !r.one_in(6);
        if (rs.has_value) rs.value = r.bytes(r.below(40));
        if (r.one_in(4)) rs.headers.push_back(HeaderSpec{r.bytes(3), true, r.bytes(4)});
        recs.push_back(AppendedRecord{rs.has_key, rs.key, rs.has_value, rs.value});
        spec.records.push_back(std::move(rs));
      }
      Bytes bytes = encode(spec).bytes;
      gregor::AppendResult result;
      CHECK_OK(log->append(bytes.data(), bytes.size(), gregor::OffsetMode::kAssign, now, &result), "append");
      for (size_t i = 0; i < n; ++i) {
        int64_t offset = result.base_offset + static_cast<int64_t>(i);
        if (recs[i].has_key) newest[recs[i].key] = offset;
        appended[offset] = std::move(recs[i]);
      }
    }
    if (r.coin()) CHECK_OK(log->roll(now), "roll");
    if (!r.one_in(3)) continue;
    // A cleaning.
    now += static_cast<int64_t>(r.below(5000));
    gregor::CleanOptions o;
    o.first_dirty_offset = r.one_in(4) ? static_cast<int64_t>(r.below(static_cast<uint64_t>(log->log_end_offset()) + 2)) : cleaned_below;
    o.now_ms = r.one_in(4) ? now + 10'000'000'000 : now;  // sometimes far ahead: tombstones old enough to go
    o.min_cleanable_ratio = r.coin() ? 0.5 : static_cast<double>(r.below(100)) / 100.0;
    o.delete_retention_ms = r.pick(std::vector<int64_t>{0, 1000, 86400000});
    o.force = r.coin();
    gregor::CleanPlan plan;
    CHECK_OK(log->plan_clean(o, &plan), "plan_clean");
    int64_t end_before = log->log_end_offset();
    if (!plan.clean) continue;
    std::vector<gregor::CleanedFile> files;
    gregor::CleanStats stats;
    CHECK_OK(gregor::clean_segments(plan, o, &files, &stats), "clean_segments");
    bool crash = r.one_in(4);
    if (crash) gregor::g_fault_probe_remaining[static_cast<int>(gregor::FaultProbe::kCleanSwap)].store(1);
    Status swapped = log->swap_cleaned(plan, files, now, &stats);
    gregor::g_fault_probe_remaining[static_cast<int>(gregor::FaultProbe::kCleanSwap)].store(0);
    if (crash && !files.empty()) {
      CHECK(!swapped.ok(), "the clean-swap fault did not fire");
      log->close(false);
      log = std::make_unique<gregor::PartitionLog>(dir, cfg);
      CHECK_OK(log->open(0, 0, false, now), "reopen after a failed swap");
    } else {
      CHECK_OK(swapped, "swap_cleaned");
    }
    CHECK(log->log_end_offset() == end_before, "cleaning moved the log end");
    ++g_log_stats.cleanings;
    g_log_stats.cleaned_segments += stats.segments_swapped;
    if (crash && !files.empty()) ++g_log_stats.interrupted_swaps;
    // A failed swap completes at the reopen for its group only (the groups
    // after it were dropped), and the checkpoint would not move.
    bool partial = crash && !files.empty();
    if (!partial) cleaned_below = std::max(cleaned_below, plan.first_uncleanable_offset);
    // Check what is left.
    auto left = read_back(*log);
    std::map<Bytes, int64_t> last_left;
    int64_t previous = -1;
    for (auto& [offset, rec] : left) {
      CHECK(offset > previous, "offsets do not increase after cleaning: %" PRId64 " after %" PRId64, offset, previous);
      previous = offset;
      auto it = appended.find(offset);
      CHECK(it != appended.end(), "offset %" PRId64 " was never appended", offset);
      const AppendedRecord& a = it->second;
      CHECK(a.has_key == rec.has_key && a.key == rec.key && a.has_value == rec.has_value && a.value == rec.value,
            "record at %" PRId64 " changed", offset);
      if (rec.has_key) last_left[rec.key] = offset;
    }
    // Unchanged from the first uncleanable offset on.
    size_t tail = 0;
    for (auto it = appended.lower_bound(plan.first_uncleanable_offset); it != appended.end(); ++it) ++tail;
    size_t tail_left = 0;
    for (auto& [offset, rec] : left) tail_left += offset >= plan.first_uncleanable_offset ? 1 : 0;
    CHECK(tail == tail_left, "records at or after %" PRId64 " changed: %zu of %zu left", plan.first_uncleanable_offset,
          tail_left, tail);
    for (auto& [key, offset] : newest) {
      auto it = last_left.find(key);
      if (it != last_left.end()) {
        CHECK(it->second == offset, "key %u: newest left is %" PRId64 ", newest appended %" PRId64, key.back(), it->second, offset);
      } else {
        CHECK(!appended[offset].has_value, "key %u lost its newest record at %" PRId64 " (not a tombstone)", key.back(), offset);
      }
    }
    // Everything appended from the log start on is accounted for: a record
    // below the cleaned range's end may be gone only if superseded, a
    // tombstone, or without a key.
    for (auto& [offset, rec] : left) {
      if (!rec.has_key && !partial) {
        CHECK(offset >= plan.first_uncleanable_offset, "a record without a key survived cleaning at %" PRId64, offset);
      }
    }
  }
  log->close(true);
  remove_tree(dir);
}

// ---------------------------------------------------------------------------
// Driver

enum class Kind { kBatch, kIndex, kLog };
const char* kind_name(Kind k) { return k == Kind::kBatch ? "batch" : k == Kind::kIndex ? "index" : "log"; }

uint64_t case_seed(uint64_t seed, Kind k, uint64_t index) {
  return splitmix64(splitmix64(seed ^ (static_cast<uint64_t>(k) + 1) * 0x9E3779B97F4A7C15ull) + index);
}

struct Totals {
  uint64_t passed = 0, failed = 0;
  uint64_t by_kind[3] = {0, 0, 0};
  double seconds[3] = {0, 0, 0};
};

bool g_verbose = false;

void run_case(Kind k, uint64_t index, uint64_t seed, Totals& totals) {
  set_case_banner(kind_name(k), index, seed);
  Rng r(case_seed(seed, k, index));
  auto started = std::chrono::steady_clock::now();
  try {
    switch (k) {
      case Kind::kBatch: batch_case(r); break;
      case Kind::kIndex: index_case(r, index); break;
      case Kind::kLog: {
        LogFuzz f(r, g_root + "/log" + std::to_string(index));
        try {
          f.run();
        } catch (...) {
          remove_tree(g_root + "/log" + std::to_string(index));
          throw;
        }
        g_op_desc = "(compaction)";
        try {
          compaction_case(r, g_root + "/compact" + std::to_string(index));
        } catch (...) {
          remove_tree(g_root + "/compact" + std::to_string(index));
          throw;
        }
        break;
      }
    }
    ++totals.passed;
  } catch (const CaseFailure& f) {
    ++totals.failed;
    if (totals.failed <= 20) {
      std::printf("FAIL %s case %" PRIu64 " (seed %" PRIu64 ")%s%s: %s\n  replay: storage_fuzz --seed %" PRIu64
                  " --only %s:%" PRIu64 "\n",
                  kind_name(k), index, seed, g_op_desc.empty() ? "" : " ", g_op_desc.c_str(), f.message.c_str(),
                  seed, kind_name(k), index);
      std::fflush(stdout);
    }
  }
  ++totals.by_kind[static_cast<int>(k)];
  totals.seconds[static_cast<int>(k)] +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (g_verbose && k == Kind::kLog) {
    std::printf("  log case %" PRIu64 ": %.2f s\n", index,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  g_op_banner[0] = '\0';
  g_op_desc.clear();
}

std::string g_dir_option;

// Under --dir, else $TMPDIR, else /dev/shm (the engine fsyncs a lot; a
// tmpfs keeps that cheap), else /tmp.
void make_root() {
  std::string parent = g_dir_option;
  const char* tmp = std::getenv("TMPDIR");
  if (parent.empty() && tmp != nullptr && *tmp != '\0') parent = tmp;
  if (parent.empty() && ::access("/dev/shm", W_OK) == 0) parent = "/dev/shm";
  if (parent.empty()) parent = "/tmp";
  std::string templ = parent + "/storage_fuzz.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::perror("storage_fuzz: mkdtemp");
    std::exit(2);
  }
  g_root = buf.data();
}

#ifndef GREGOR_STORAGE_FUZZ_LIBFUZZER
int usage() {
  std::fprintf(stderr,
               "usage: storage_fuzz [--seconds N] [--seed S] [--only KIND:CASE] [--dir PATH] [--avoid-known-bugs] [--verbose]\n"
               "  --seconds N      run for about N seconds (default 20)\n"
               "  --seed S         seed of the case sequence (default 1; 'random' picks one)\n"
               "  --only KIND:CASE replay one case (KIND is batch, index or log)\n"
               "  --dir PATH       where to make the temporary directory (default $TMPDIR, /dev/shm, /tmp)\n"
               "  --avoid-known-bugs  steer around the engine bugs listed in the source\n");
  return 2;
}
#endif

}  // namespace

// Sanitizer reports with stack traces unless the environment says otherwise.
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1"; }

#ifdef GREGOR_STORAGE_FUZZ_LIBFUZZER
// libFuzzer entry: the input is checked as a batch, and its hash seeds one
// case of each kind.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool initialized = false;
  if (!initialized) {
    install_crash_banners();
    make_root();
    initialized = true;
  }
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  Rng r(h);
  Totals totals;
  try {
    check_any_buffer(r, data, size);
  } catch (const CaseFailure& f) {
    std::fprintf(stderr, "FAIL batch input: %s\n", f.message.c_str());
    std::abort();
  }
  run_case(Kind::kBatch, h, 0, totals);
  run_case(Kind::kIndex, h, 0, totals);
  if ((h & 15) == 0) run_case(Kind::kLog, h, 0, totals);
  if (totals.failed != 0) std::abort();
  return 0;
}
#else
int main(int argc, char** argv) {
  double seconds = 20;
  uint64_t seed = 1;
  bool only = false;
  Kind only_kind = Kind::kBatch;
  uint64_t only_index = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    if (a == "--seconds") {
      seconds = std::atof(value().c_str());
    } else if (a == "--seed") {
      std::string v = value();
      seed = v == "random" ? static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                                 static_cast<uint64_t>(::getpid())
                           : std::strtoull(v.c_str(), nullptr, 0);
    } else if (a == "--only") {
      std::string v = value();
      size_t colon = v.find(':');
      if (colon == std::string::npos) return usage();
      std::string k = v.substr(0, colon);
      if (k == "batch") only_kind = Kind::kBatch;
      else if (k == "index") only_kind = Kind::kIndex;
      else if (k == "log") only_kind = Kind::kLog;
      else return usage();
      only_index = std::strtoull(v.c_str() + colon + 1, nullptr, 10);
      only = true;
    } else if (a == "--dir") {
      g_dir_option = value();
    } else if (a == "--avoid-known-bugs") {
      g_avoid_known_bugs = true;
    } else if (a == "--verbose") {
      g_verbose = true;
    } else {
      return usage();
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  install_crash_banners();
  make_root();
  std::printf("storage_fuzz: seed %" PRIu64 ", %g s, crc32c %s, temp dir %s\n", seed, seconds,
              gregor::crc32c_implementation(), g_root.c_str());
  Totals totals;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (only) {
    g_trace = g_verbose;
    run_case(only_kind, only_index, seed, totals);
  } else {
    // A fixed interleaving, so the sequence of cases depends on the seed alone;
    // the clock only decides where it stops.
    uint64_t next[3] = {0, 0, 0};
    double last_report = 0;
    while (elapsed() < seconds && totals.failed < 20) {
      for (int i = 0; i < 150 && totals.failed < 20; ++i) run_case(Kind::kBatch, next[0]++, seed, totals);
      for (int i = 0; i < 6 && totals.failed < 20; ++i) run_case(Kind::kIndex, next[1]++, seed, totals);
      run_case(Kind::kLog, next[2]++, seed, totals);
      if (g_verbose && elapsed() - last_report > 5) {
        last_report = elapsed();
        std::printf("storage_fuzz: %.0f s: %" PRIu64 " batch, %" PRIu64 " index, %" PRIu64 " log cases\n", last_report,
                    next[0], next[1], next[2]);
      }
    }
  }
  remove_tree(g_root);
  std::printf("storage_fuzz: time in batch / index / log cases: %.1f / %.1f / %.1f s\n", totals.seconds[0],
              totals.seconds[1], totals.seconds[2]);
  if (g_verbose) {
    for (auto& [op, t] : g_op_seconds) std::printf("  %-24s %.2f s\n", op.c_str(), t);
  }
  std::printf("storage_fuzz: %" PRIu64 " batch cases (%" PRIu64 " accepted / %" PRIu64 " rejected checks, %" PRIu64
              " record walks), %" PRIu64 " index cases, %" PRIu64 " log cases (%" PRIu64 " ops, %" PRIu64
              " appends of which %" PRIu64 " refused, %" PRIu64 " reads, %" PRIu64 " clean reopens, %" PRIu64
              " crashes, %" PRIu64 " bytes cut by recovery, %" PRIu64 " retention passes deleting %" PRIu64
              " segments, %" PRIu64 " cleanings swapping %" PRIu64 " segments, %" PRIu64 " swaps interrupted) in %.1f s\n",
              totals.by_kind[0], g_batch_stats.accepted, g_batch_stats.rejected, g_batch_stats.walked,
              totals.by_kind[1], totals.by_kind[2], g_log_stats.ops, g_log_stats.appends, g_log_stats.rejected,
              g_log_stats.reads, g_log_stats.reopens, g_log_stats.crashes, g_log_stats.truncated_bytes,
              g_log_stats.retention_passes, g_log_stats.retention_segments, g_log_stats.cleanings,
              g_log_stats.cleaned_segments, g_log_stats.interrupted_swaps, elapsed());
  std::printf("storage_fuzz: %" PRIu64 " passed, %" PRIu64 " failed\n", totals.passed, totals.failed);
  return totals.failed == 0 && totals.passed > 0 ? 0 : 1;
}
#endif
