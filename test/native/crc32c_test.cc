// Standalone test for native/crc32c.cc. Build and run:
//   g++ -O2 -std=c++17 -Wall -Wextra -Werror native/crc32c.cc test/native/crc32c_test.cc -o /tmp/crc32c_test
//   /tmp/crc32c_test
// Exits non-zero if any check fails.

#include "../../native/crc32c.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

int passed = 0;
int failed = 0;

void check_equal(uint32_t actual, uint32_t expected, const std::string& what) {
  if (actual == expected) {
    ++passed;
    return;
  }
  ++failed;
  if (failed <= 20) std::printf("FAIL %s: got 0x%08X, want 0x%08X\n", what.c_str(), actual, expected);
}

void check_true(bool condition, const std::string& what) {
  if (condition) {
    ++passed;
  } else {
    ++failed;
    if (failed <= 20) std::printf("FAIL %s\n", what.c_str());
  }
}

// Bit-at-a-time definition of CRC-32C, independent of every table and
// instruction the library uses.
uint32_t crc32c_reference(const uint8_t* data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

using ExtendFn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

struct NamedImpl {
  const char* name;
  ExtendFn extend;
};

std::vector<NamedImpl> implementations() {
  std::vector<NamedImpl> impls = {{"dispatched", gregor::crc32c_extend},
                                  {"portable", gregor::crc32c_extend_portable}};
  if (gregor::crc32c_hardware_supported()) {
    impls.push_back({"hardware", gregor::crc32c_extend_hardware});
    impls.push_back({"single-stream", gregor::crc32c_extend_single_stream});
  }
  return impls;
}

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

void test_known_vectors() {
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  struct Vector {
    const char* name;
    const uint8_t* data;
    size_t n;
    uint32_t expected;
  };
  const Vector vectors[] = {
      {"32 x 0x00", zeros.data(), 32, 0x8A9136AAu},
      {"32 x 0xFF", ones.data(), 32, 0x62A8AB43u},
      {"0..31 ascending", ascending.data(), 32, 0x46DD794Eu},
      {"31..0 descending", descending.data(), 32, 0x113FDB5Cu},
      {"\"123456789\"", digits, 9, 0xE3069283u},
      {"empty", nullptr, 0, 0x00000000u},
  };
  for (const auto& impl : implementations()) {
    for (const auto& v : vectors) {
      check_equal(impl.extend(0, v.data, v.n), v.expected, std::string(impl.name) + " " + v.name);
    }
  }
  for (const auto& v : vectors) {
    check_equal(gregor::crc32c(v.data, v.n), v.expected, std::string("crc32c() ") + v.name);
    check_equal(crc32c_reference(v.data, v.n), v.expected, std::string("reference ") + v.name);
  }
}

void test_implementation_name() {
  std::string name = gregor::crc32c_implementation();
  check_true(name == "sse4.2+pclmul" || name == "sse4.2" || name == "portable", "implementation name " + name);
  check_true((name == "portable") != gregor::crc32c_hardware_supported(),
             "implementation name matches hardware support");
  std::printf("crc32c: implementation %s\n", name.c_str());
}

void test_portable_against_reference(std::mt19937_64& rng) {
  std::vector<uint8_t> buffer = random_bytes(rng, 1100);
  for (size_t n = 0; n <= 1024; ++n) {
    for (size_t start : {0, 1, 3, 7}) {
      check_equal(gregor::crc32c_extend_portable(0, buffer.data() + start, n),
                  crc32c_reference(buffer.data() + start, n),
                  "portable vs reference n=" + std::to_string(n) + " start=" + std::to_string(start));
    }
  }
}

// Every length 0..4096 at every alignment 0..15, plus a random starting CRC,
// so all lead/tail paths and the short merge blocks are exercised.
void test_all_lengths_and_alignments(std::mt19937_64& rng) {
  constexpr size_t kMaxBytes = 4096;
  constexpr size_t kMaxStart = 15;
  // 64-byte-aligned backing store so `start` is the true address alignment.
  std::vector<uint8_t> storage = random_bytes(rng, kMaxBytes + kMaxStart + 64);
  uint8_t* base = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64);
  const auto impls = implementations();
  for (size_t start = 0; start <= kMaxStart; ++start) {
    for (size_t n = 0; n <= kMaxBytes; ++n) {
      const uint8_t* p = base + start;
      uint32_t seed = static_cast<uint32_t>(rng());
      uint32_t expectedFresh = gregor::crc32c_extend_portable(0, p, n);
      uint32_t expectedSeeded = gregor::crc32c_extend_portable(seed, p, n);
      for (const auto& impl : impls) {
        if (impl.extend == gregor::crc32c_extend_portable) continue;
        uint32_t fresh = impl.extend(0, p, n);
        uint32_t seeded = impl.extend(seed, p, n);
        // Messages are built only on failure; this loop runs ~400k checks.
        for (auto [actual, expected] : {std::pair{fresh, expectedFresh}, std::pair{seeded, expectedSeeded}}) {
          if (actual == expected) {
            ++passed;
          } else {
            check_equal(actual, expected, std::string(impl.name) + " vs portable n=" + std::to_string(n) +
                                              " start=" + std::to_string(start));
          }
        }
      }
    }
  }
}

void test_large_sizes(std::mt19937_64& rng) {
  const size_t sizes[] = {
      (1u << 20) + 1, (1u << 20) + 7, (1u << 20) + 13, (1u << 20) - 3, 3 * 4096 - 1, 3 * 4096, 3 * 4096 + 1,
      2 * 3 * 4096 + 23, 2 * 3 * 4096 + 24, 3 * 4096 + 95, 3 * 4096 + 96, 3 * 4096 + 97, (3u << 20) + 5,
  };
  std::vector<uint8_t> buffer = random_bytes(rng, (3u << 20) + 64);
  for (size_t n : sizes) {
    for (size_t start : {0, 5}) {
      const uint8_t* p = buffer.data() + start;
      uint32_t expected = gregor::crc32c_extend_portable(0, p, n);
      for (const auto& impl : implementations()) {
        check_equal(impl.extend(0, p, n), expected,
                    std::string(impl.name) + " large n=" + std::to_string(n) + " start=" + std::to_string(start));
      }
    }
  }
}

// crc32c_extend(crc32c(a), b) == crc32c(a||b), splitting buffers into
// random pieces (including empty ones).
void test_extend_property(std::mt19937_64& rng) {
  std::vector<uint8_t> buffer = random_bytes(rng, 200000);
  for (const auto& impl : implementations()) {
    for (int trial = 0; trial < 300; ++trial) {
      size_t n = trial < 200 ? rng() % 2048 : rng() % buffer.size();
      size_t start = rng() % 16;
      if (start + n > buffer.size()) n = buffer.size() - start;
      const uint8_t* p = buffer.data() + start;
      uint32_t whole = impl.extend(0, p, n);
      // Two pieces.
      size_t split = n == 0 ? 0 : rng() % (n + 1);
      uint32_t joined = impl.extend(impl.extend(0, p, split), p + split, n - split);
      check_equal(joined, whole, std::string(impl.name) + " extend split n=" + std::to_string(n) +
                                     " at=" + std::to_string(split));
      // Several pieces.
      uint32_t running = 0;
      size_t offset = 0;
      while (offset < n) {
        size_t piece = 1 + rng() % std::min<size_t>(n - offset, 5000);
        if (rng() % 8 == 0) running = impl.extend(running, p + offset, 0);
        running = impl.extend(running, p + offset, piece);
        offset += piece;
      }
      check_equal(running, whole, std::string(impl.name) + " extend pieces n=" + std::to_string(n));
    }
  }
  // Across implementations: a prefix from one, suffix from another.
  const uint8_t* p = buffer.data() + 3;
  size_t n = 150000;
  uint32_t expected = gregor::crc32c_extend_portable(0, p, n);
  check_equal(gregor::crc32c_extend(gregor::crc32c_extend_portable(0, p, 777), p + 777, n - 777), expected,
              "portable prefix + dispatched suffix");
}

// Kafka-shaped input: a 61-byte header followed by a body, CRC'd as one
// call and as header-then-body.
void test_record_batch_shapes(std::mt19937_64& rng) {
  for (size_t bodyBytes : {0, 1, 1024, 4095, 65536, 1 << 20}) {
    std::vector<uint8_t> batch = random_bytes(rng, 61 + bodyBytes);
    uint32_t expected = gregor::crc32c_extend_portable(0, batch.data(), batch.size());
    check_equal(gregor::crc32c(batch.data(), batch.size()), expected, "batch " + std::to_string(bodyBytes));
    check_equal(gregor::crc32c_extend(gregor::crc32c(batch.data(), 61), batch.data() + 61, bodyBytes), expected,
                "batch header+body " + std::to_string(bodyBytes));
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(0xC0FFEE);
  test_implementation_name();
  test_known_vectors();
  test_portable_against_reference(rng);
  test_all_lengths_and_alignments(rng);
  test_large_sizes(rng);
  test_extend_property(rng);
  test_record_batch_shapes(rng);
  std::printf("crc32c: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
