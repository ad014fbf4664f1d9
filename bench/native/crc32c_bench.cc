// Throughput benchmark for native/crc32c.cc. Build and run:
//   g++ -O3 -std=c++17 -Wall -Wextra -Werror native/crc32c.cc bench/native/crc32c_bench.cc -o /tmp/crc32c_bench
//   /tmp/crc32c_bench
// Prints GB/s (1e9 bytes/s), the median of kRuns timed runs per cell. Each
// call's result seeds the next, so small sizes measure back-to-back latency
// rather than overlapped independent calls. memcpy over the same 1 MiB buffer
// is printed as the machine's reference bandwidth.

#include "../../native/crc32c.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr int kRuns = 9;
constexpr double kRunSeconds = 0.02;

using Clock = std::chrono::steady_clock;
using ExtendFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

volatile uint32_t gSink;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Picks an iteration count that makes one run last about kRunSeconds.
template <typename Body>
size_t calibrate_iterations(Body&& body) {
  size_t iterations = 1;
  for (;;) {
    auto start = Clock::now();
    body(iterations);
    double elapsedSeconds = seconds_since(start);
    if (elapsedSeconds >= kRunSeconds / 4 || iterations >= (size_t{1} << 34)) {
      return std::max<size_t>(1, static_cast<size_t>(iterations * kRunSeconds / std::max(elapsedSeconds, 1e-9)));
    }
    iterations *= 4;
  }
}

template <typename Body>
double median_gbps(size_t bytesPerIteration, Body&& body) {
  size_t iterations = calibrate_iterations(body);
  std::vector<double> gbps;
  for (int run = 0; run < kRuns; ++run) {
    auto start = Clock::now();
    body(iterations);
    double elapsedSeconds = seconds_since(start);
    gbps.push_back(static_cast<double>(bytesPerIteration) * iterations / elapsedSeconds / 1e9);
  }
  std::sort(gbps.begin(), gbps.end());
  return gbps[kRuns / 2];
}

double crc_gbps(ExtendFn extend, const uint8_t* data, size_t n) {
  return median_gbps(n, [&](size_t iterations) {
    uint32_t crc = 0;
    for (size_t i = 0; i < iterations; ++i) crc = extend(crc, data, n);
    gSink = crc;
  });
}

}  // namespace

int main() {
  constexpr size_t kBufferBytes = size_t{1} << 20;
  std::vector<uint8_t> storage(kBufferBytes + 128);
  uint8_t* buffer = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64);
  for (size_t i = 0; i < kBufferBytes + 32; ++i) buffer[i] = static_cast<uint8_t>(i * 131 + (i >> 9));

  struct Column {
    const char* name;
    ExtendFn extend;
  };
  std::vector<Column> columns = {{"dispatched", gregor::crc32c_extend}};
  if (gregor::crc32c_hardware_supported()) {
    columns.push_back({"single-stream", gregor::crc32c_extend_single_stream});
  }
  columns.push_back({"portable", gregor::crc32c_extend_portable});

  struct Row {
    const char* label;
    size_t offsetBytes;
    size_t sizeBytes;
  };
  const Row rows[] = {
      {"61 B (+1)", 1, 61},  // a record batch header at an odd address
      {"64 B", 0, 64},
      {"1 KiB", 0, 1024},
      {"16 KiB", 0, 16 * 1024},
      {"1 MiB", 0, kBufferBytes},
  };

  std::printf("crc32c: dispatched implementation = %s; GB/s, median of %d runs\n", gregor::crc32c_implementation(),
              kRuns);
  std::printf("%-10s", "size");
  for (const auto& column : columns) std::printf(" %14s", column.name);
  std::printf("\n");
  for (const auto& row : rows) {
    std::printf("%-10s", row.label);
    for (const auto& column : columns) {
      std::printf(" %14.2f", crc_gbps(column.extend, buffer + row.offsetBytes, row.sizeBytes));
      std::fflush(stdout);
    }
    std::printf("\n");
  }

  std::vector<uint8_t> destination(kBufferBytes);
  double memcpyGbps = median_gbps(kBufferBytes, [&](size_t iterations) {
    for (size_t i = 0; i < iterations; ++i) {
      std::memcpy(destination.data(), buffer, kBufferBytes);
      asm volatile("" : : "r"(destination.data()) : "memory");  // keep every copy
    }
  });
  std::printf("memcpy 1 MiB (bytes copied): %.2f GB/s\n", memcpyGbps);
  return 0;
}
