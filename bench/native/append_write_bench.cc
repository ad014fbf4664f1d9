// The append path's write, in isolation: pwrite/pwritev of 16 KiB and 1 MiB
// chunks (what native/partition_log.cc does) against memcpy into an mmap'd,
// fallocate'd file region that grows by a fixed step (fallocate + mremap).
// Page cache only: nothing is fsynced; every file is unlinked after its run,
// which drops its dirty pages unwritten.
//
// Build and run (bench/run.mjs does this into bench/.build/):
//   g++ -O3 -std=c++17 -Wall -Wextra bench/native/append_write_bench.cc -o bench/.build/append_write_bench
//   bench/.build/append_write_bench <dir> [total MiB = 1024] [runs = 5] [mmap growth step MiB = 64]
//
// Prints a markdown table of MB/s (1e6 bytes/s), the median (min-max) of the
// runs, and one line "JSON: {...}" for the runner. Runs are interleaved (run r
// does every method once) so that the machine's drift spreads over all of them.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "append_write_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

struct Source {
  std::vector<uint8_t> bytes;
  size_t next = 0;
  // Cycles through a buffer larger than the caches, like distinct batches would.
  const uint8_t* take(size_t n) {
    if (next + n > bytes.size()) next = 0;
    const uint8_t* p = bytes.data() + next;
    next += n;
    return p;
  }
};

enum class Method { kPwrite, kPwritev, kMmap, kMmapPopulate };

const char* method_name(Method m) {
  switch (m) {
    case Method::kPwrite: return "pwrite";
    case Method::kPwritev: return "pwritev (61-byte header + body, as the engine)";
    case Method::kMmap: return "mmap + memcpy (fallocate + mremap growth)";
    case Method::kMmapPopulate: return "mmap + memcpy, MADV_POPULATE_WRITE per growth";
  }
  return "?";
}

void write_all_pwrite(int fd, const uint8_t* p, size_t n, uint64_t position) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(position));
    if (w < 0) {
      if (errno == EINTR) continue;
      die("pwrite");
    }
    p += w;
    n -= static_cast<size_t>(w);
    position += static_cast<uint64_t>(w);
  }
}

void write_all_pwritev(int fd, const uint8_t* p, size_t n, uint64_t position) {
  // The engine writes each batch as a rewritten 61-byte header from a scratch
  // buffer plus the body straight from the caller's buffer.
  static uint8_t header[61];
  std::memcpy(header, p, std::min<size_t>(61, n));
  iovec iov[2] = {{header, std::min<size_t>(61, n)}, {const_cast<uint8_t*>(p) + 61, n > 61 ? n - 61 : 0}};
  int count = n > 61 ? 2 : 1;
  size_t left = n;
  while (left > 0) {
    ssize_t w = ::pwritev(fd, iov, count, static_cast<off_t>(position));
    if (w < 0) {
      if (errno == EINTR) continue;
      die("pwritev");
    }
    if (static_cast<size_t>(w) == left) break;
    // Short write: finish the rest with pwrite.
    size_t done = static_cast<size_t>(w);
    if (done < iov[0].iov_len) {
      write_all_pwrite(fd, header + done, iov[0].iov_len - done, position + done);
      done = iov[0].iov_len;
    }
    write_all_pwrite(fd, p + done, n - done, position + done);
    break;
  }
}

// Writes `total` bytes in `chunk`-byte appends; returns MB/s.
double run_once(const std::string& dir, Method method, size_t chunk, uint64_t total, uint64_t step, Source& src) {
  std::string path = dir + "/append_write_bench." + std::to_string(::getpid()) + ".dat";
  ::unlink(path.c_str());
  ::sync();
  auto start = Clock::now();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + path);
  uint64_t position = 0;
  if (method == Method::kPwrite || method == Method::kPwritev) {
    while (position < total) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, total - position));
      if (method == Method::kPwrite) write_all_pwrite(fd, src.take(n), n, position);
      else write_all_pwritev(fd, src.take(n), n, position);
      position += n;
    }
  } else {
    uint64_t capacity = 0;
    uint8_t* map = nullptr;
    while (position < total) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, total - position));
      if (position + n > capacity) {
        uint64_t grown = capacity + std::max<uint64_t>(step, n);
        int rc = ::posix_fallocate(fd, static_cast<off_t>(capacity), static_cast<off_t>(grown - capacity));
        if (rc != 0) {
          errno = rc;
          die("fallocate");
        }
        void* p = capacity == 0 ? ::mmap(nullptr, grown, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                                : ::mremap(map, capacity, grown, MREMAP_MAYMOVE);
        if (p == MAP_FAILED) die("mmap/mremap");
        map = static_cast<uint8_t*>(p);
        if (method == Method::kMmapPopulate &&
            ::madvise(map + capacity, grown - capacity, MADV_POPULATE_WRITE) != 0) {
          die("madvise(MADV_POPULATE_WRITE)");
        }
        capacity = grown;
      }
      std::memcpy(map + position, src.take(n), n);
      position += n;
    }
    if (map != nullptr && ::munmap(map, capacity) != 0) die("munmap");
    // The file ends at the data, as a segment would when it is closed.
    if (::ftruncate(fd, static_cast<off_t>(position)) != 0) die("ftruncate");
  }
  ::close(fd);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::unlink(path.c_str());
  return static_cast<double>(total) / seconds / 1e6;
}

struct Cell {
  Method method;
  size_t chunk;
  std::vector<double> mbs;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <dir> [total MiB] [runs] [mmap growth step MiB]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  uint64_t total = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024) << 20;
  int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  uint64_t step = (argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 64) << 20;
  if (total == 0 || runs < 1 || step == 0) {
    std::fprintf(stderr, "append_write_bench: bad arguments\n");
    return 2;
  }

  Source src;
  src.bytes.resize(64 << 20);
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= src.bytes.size(); i += 8) {
    uint64_t x = rng();
    std::memcpy(src.bytes.data() + i, &x, 8);
  }

  std::vector<Cell> cells;
  for (size_t chunk : {size_t{16} << 10, size_t{1} << 20}) {
    for (Method m : {Method::kPwrite, Method::kPwritev, Method::kMmap, Method::kMmapPopulate}) {
      cells.push_back({m, chunk, {}});
    }
  }
  // One untimed pass: the first touch of fresh guest memory is slower.
  run_once(dir, Method::kPwrite, size_t{1} << 20, std::min<uint64_t>(total, uint64_t{256} << 20), step, src);
  for (int r = 0; r < runs; ++r) {
    for (auto& cell : cells) cell.mbs.push_back(run_once(dir, cell.method, cell.chunk, total, step, src));
  }

  std::printf("Writing %llu MiB per run into a new file, page cache only; mmap grows by %llu MiB "
              "(posix_fallocate + mremap); MB/s, median (min-max) of %d interleaved runs.\n\n",
              static_cast<unsigned long long>(total >> 20), static_cast<unsigned long long>(step >> 20), runs);
  std::printf("| method | chunk | MB/s |\n| --- | --- | --- |\n");
  for (const auto& cell : cells) {
    std::printf("| %s | %s | %.0f (%.0f-%.0f) |\n", method_name(cell.method), cell.chunk >= (1u << 20) ? "1 MiB" : "16 KiB",
                median(cell.mbs), *std::min_element(cell.mbs.begin(), cell.mbs.end()),
                *std::max_element(cell.mbs.begin(), cell.mbs.end()));
  }
  std::printf("\nJSON: {\"totalMiB\":%llu,\"runs\":%d,\"stepMiB\":%llu,\"cells\":[",
              static_cast<unsigned long long>(total >> 20), runs, static_cast<unsigned long long>(step >> 20));
  for (size_t i = 0; i < cells.size(); ++i) {
    const auto& c = cells[i];
    std::printf("%s{\"method\":\"%s\",\"chunk\":%zu,\"mbs\":[", i ? "," : "",
                c.method == Method::kPwrite ? "pwrite" : c.method == Method::kPwritev ? "pwritev"
                : c.method == Method::kMmap ? "mmap" : "mmap-populate",
                c.chunk);
    for (size_t j = 0; j < c.mbs.size(); ++j) std::printf("%s%.1f", j ? "," : "", c.mbs[j]);
    std::printf("]}");
  }
  std::printf("]}\n");
  return 0;
}
