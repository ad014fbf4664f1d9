// What the append path's validation costs on the io thread, per batch size
// and record size: gregor::check_batch (CRC-32C + header checks + the walk of
// every record's framing) against the CRC alone and against memcpy of the
// same bytes. Links the engine's own native/record_batch.cc and crc32c.cc.
//
// Build and run (bench/run.mjs builds it twice into bench/.build/):
//   g++ -O3 -std=c++17 -fPIC native/errors.cc native/crc32c.cc native/record_batch.cc bench/native/validate_bench.cc -o bench/.build/validate_bench_pic
//   (-fPIC is how node-gyp compiles the addon; a second build adds
//    -fno-semantic-interposition to show what inlining the varint reader gives)
//
// Prints GB/s (1e9 bytes/s) and ns per record, the median of kRuns runs, and
// one line "JSON: {...}" for the runner.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../../native/crc32c.h"
#include "../../native/record_batch.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRuns = 7;
constexpr size_t kPoolBytes = size_t{64} << 20;  // distinct batches, larger than the caches

void put_be(std::vector<uint8_t>& out, size_t at, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

void put_varint(std::vector<uint8_t>& out, int64_t value) {
  uint64_t u = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  while (u >= 0x80) {
    out.push_back(static_cast<uint8_t>(u | 0x80));
    u >>= 7;
  }
  out.push_back(static_cast<uint8_t>(u));
}

// One RecordBatch v2 of `records` records with `value_bytes`-byte values and
// null keys, as a Kafka producer writes it (uncompressed, CreateTime).
std::vector<uint8_t> encode_batch(int records, size_t value_bytes, std::mt19937_64& rng) {
  std::vector<uint8_t> out(61, 0);
  std::vector<uint8_t> body;
  for (int i = 0; i < records; ++i) {
    body.clear();
    body.push_back(0);     // attributes
    put_varint(body, 0);   // timestamp delta
    put_varint(body, i);   // offset delta
    put_varint(body, -1);  // null key
    put_varint(body, static_cast<int64_t>(value_bytes));
    for (size_t b = 0; b < value_bytes; ++b) body.push_back(static_cast<uint8_t>(rng()));
    put_varint(body, 0);  // no headers
    put_varint(out, static_cast<int64_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  }
  put_be(out, 0, 0, 8);                      // base offset
  put_be(out, 8, out.size() - 12, 4);        // batch length
  put_be(out, 12, 0xffffffffu, 4);           // partition leader epoch
  out[16] = 2;                               // magic
  put_be(out, 21, 0, 2);                     // attributes
  put_be(out, 23, static_cast<uint64_t>(records - 1), 4);
  put_be(out, 27, 1700000000000ull, 8);      // base timestamp
  put_be(out, 35, 1700000000000ull, 8);      // max timestamp
  put_be(out, 43, ~0ull, 8);                 // producer id -1
  put_be(out, 51, 0xffff, 2);                // producer epoch -1
  put_be(out, 53, 0xffffffffu, 4);           // base sequence -1
  put_be(out, 57, static_cast<uint64_t>(records), 4);
  put_be(out, 17, gregor::crc32c(out.data() + 21, out.size() - 21), 4);
  return out;
}

// Most records whose batch stays within `batch_bytes`.
int records_for(size_t batch_bytes, size_t value_bytes) {
  std::mt19937_64 rng(1);
  int lo = 1, hi = static_cast<int>(batch_bytes / (value_bytes + 4)) + 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (encode_batch(mid, value_bytes, rng).size() <= batch_bytes) lo = mid; else hi = mid - 1;
  }
  return lo;
}

volatile uint64_t g_sink;

template <typename Body>
double median_seconds(Body&& body) {
  body();  // warm
  std::vector<double> s;
  for (int r = 0; r < kRuns; ++r) {
    auto start = Clock::now();
    body();
    s.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(s.begin(), s.end());
  return s[kRuns / 2];
}

}  // namespace

int main() {
  struct Row {
    size_t value_bytes;
    size_t batch_bytes;
  };
  const Row rows[] = {{100, 16 << 10}, {100, 1 << 20}, {1024, 16 << 10}, {1024, 1 << 20}};
  std::printf("check_batch (CRC + header + record framing walk) vs CRC alone vs memcpy, over %zu MiB of distinct "
              "batches; GB/s and ns/record, median of %d runs\n\n",
              kPoolBytes >> 20, kRuns);
  std::printf("| record | batch | records/batch | check_batch GB/s | ns/record | CRC only GB/s | record walk share | memcpy GB/s |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  std::string json = "[";
  for (const Row& row : rows) {
    int records = records_for(row.batch_bytes, row.value_bytes);
    std::mt19937_64 rng(7);
    std::vector<std::vector<uint8_t>> pool;
    size_t pool_bytes = 0;
    while (pool_bytes < kPoolBytes) {
      pool.push_back(encode_batch(records, row.value_bytes, rng));
      pool_bytes += pool.back().size();
    }
    std::vector<uint8_t> destination(pool.front().size());
    gregor::BatchCheckOptions options;
    options.batch_bytes_max = INT32_MAX;
    double check = median_seconds([&] {
      uint64_t sum = 0;
      for (const auto& b : pool) {
        gregor::BatchHeader h;
        gregor::Status s = gregor::check_batch(b.data(), b.size(), options, &h);
        if (!s.ok()) {
          std::fprintf(stderr, "check_batch failed: %s\n", s.message.c_str());
          std::exit(1);
        }
        sum += static_cast<uint64_t>(h.records_count);
      }
      g_sink = sum;
    });
    double crc = median_seconds([&] {
      uint32_t c = 0;
      for (const auto& b : pool) c ^= gregor::crc32c(b.data() + 21, b.size() - 21);
      g_sink = c;
    });
    double copy = median_seconds([&] {
      for (const auto& b : pool) {
        std::memcpy(destination.data(), b.data(), b.size());
        asm volatile("" : : "r"(destination.data()) : "memory");
      }
    });
    double total_records = static_cast<double>(records) * static_cast<double>(pool.size());
    double walk_share = (check - crc) / check;
    std::printf("| %zu B | %zu KiB (%zu B) | %d | %.2f | %.2f | %.2f | %.0f%% | %.2f |\n", row.value_bytes,
                row.batch_bytes >> 10, pool.front().size(), records, pool_bytes / check / 1e9,
                check / total_records * 1e9, pool_bytes / crc / 1e9, walk_share * 100, pool_bytes / copy / 1e9);
    char cell[512];
    std::snprintf(cell, sizeof cell,
                  "%s{\"recordBytes\":%zu,\"batchBytes\":%zu,\"records\":%d,\"checkGBs\":%.3f,\"nsPerRecord\":%.3f,"
                  "\"crcGBs\":%.3f,\"memcpyGBs\":%.3f}",
                  json.size() > 1 ? "," : "", row.value_bytes, row.batch_bytes, records, pool_bytes / check / 1e9,
                  check / total_records * 1e9, pool_bytes / crc / 1e9, pool_bytes / copy / 1e9);
    json += cell;
  }
  json += "]";
  std::printf("\nJSON: %s\n", json.c_str());
  return 0;
}
