// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and
// final xor 0xFFFFFFFF, as used by Kafka record batches (and iSCSI, RFC 3720).
//
// Dispatch: the first call checks the CPU once (thread-safe function-local
// static). SSE4.2 and PCLMULQDQ -> "sse4.2+pclmul"; SSE4.2 alone -> "sse4.2"
// (one crc32 instruction stream); otherwise, or on non-x86-64 builds,
// "portable" (slicing-by-8 tables built at compile time). Hardware functions
// carry __attribute__((target(...))), so this file builds without -msse4.2 and
// the addon still loads on CPUs that lack it.
//
// Algorithm: the crc32 instruction has a 3-cycle latency but a throughput of
// one per cycle, so a single dependent chain uses a third of the unit.
// Buffers of 96 bytes or more are therefore cut into blocks of three adjacent
// L-byte streams (L = 4 KiB, plus one shorter block for the remainder) whose
// CRCs run as three independent chains, B and C starting from zero. CRC is
// linear, so the block's CRC is crc(A)*x^(16L) + crc(B)*x^(8L) + crc(C) mod P;
// each multiply-by-constant is one PCLMULQDQ whose 64-bit product is xored
// into the last word of C, so the final crc32 instruction does the reduction.
// The constants x^k mod P are computed by constexpr code below.

#include "crc32c.h"

#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GREGOR_CRC32C_X86_64 1
#include <emmintrin.h>  // _mm_cvtsi32_si128, _mm_cvtsi128_si64
#include <nmmintrin.h>  // _mm_crc32_u8/u16/u32/u64
#include <wmmintrin.h>  // _mm_clmulepi64_si128
#else
#define GREGOR_CRC32C_X86_64 0
#endif

namespace gregor {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

// In the reflected representation bit 31 holds the coefficient of x^0 and
// bit 0 that of x^31.
constexpr uint32_t kPolyOne = 0x80000000u;
constexpr uint32_t kPolyX = 0x40000000u;

// a(x) * b(x) mod P, bit-serially; only used to build constants.
constexpr uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (int degree = 0; degree < 32; ++degree) {
    if (a & (kPolyOne >> degree)) product ^= b;
    b = (b >> 1) ^ ((b & 1) ? kPolyReflected : 0);  // b *= x
  }
  return product;
}

constexpr uint32_t x_pow_mod_p(uint64_t exponent) {
  uint32_t result = kPolyOne;
  uint32_t square = kPolyX;
  for (; exponent != 0; exponent >>= 1) {
    if (exponent & 1) result = multiply_mod_p(result, square);
    square = multiply_mod_p(square, square);
  }
  return result;
}

// ---------------------------------------------------------------------------
// Portable: slicing-by-8. table[k][b] is the CRC contribution of byte value b
// followed by k zero bytes, so eight bytes are absorbed with eight lookups.

struct SliceTables {
  uint32_t table[8][256];
};

constexpr SliceTables make_slice_tables() {
  SliceTables tables{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPolyReflected : 0);
    tables.table[0][byte] = crc;
  }
  for (int k = 1; k < 8; ++k) {
    for (int byte = 0; byte < 256; ++byte) {
      uint32_t previous = tables.table[k - 1][byte];
      tables.table[k][byte] = (previous >> 8) ^ tables.table[0][previous & 0xFF];
    }
  }
  return tables;
}

constexpr SliceTables kSlice = make_slice_tables();

// Byte-wise assembly keeps the portable path endian-independent; compilers
// turn it into one load on little-endian targets.
inline uint32_t load_u32_le(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// `state` is the raw register (pre-inverted), as in all *_raw helpers.
uint32_t extend_portable_raw(uint32_t state, const uint8_t* p, size_t n) {
  const auto& t = kSlice.table;
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t low = state ^ load_u32_le(p);
    uint32_t high = load_u32_le(p + 4);
    state = t[7][low & 0xFF] ^ t[6][(low >> 8) & 0xFF] ^ t[5][(low >> 16) & 0xFF] ^ t[4][low >> 24] ^
            t[3][high & 0xFF] ^ t[2][(high >> 8) & 0xFF] ^ t[1][(high >> 16) & 0xFF] ^ t[0][high >> 24];
  }
  for (; n > 0; ++p, --n) state = (state >> 8) ^ t[0][(state ^ *p) & 0xFF];
  return state;
}

// ---------------------------------------------------------------------------
// Hardware: SSE4.2 crc32 instruction, PCLMULQDQ to merge parallel streams.

#if GREGOR_CRC32C_X86_64

#define GREGOR_TARGET_SSE42 __attribute__((target("sse4.2")))
#define GREGOR_TARGET_SSE42_PCLMUL __attribute__((target("sse4.2,pclmul")))

// The x86 crc32 instruction consumes little-endian words, matching memory order.
inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Fewer than 8 bytes: at most three instructions instead of up to seven.
GREGOR_TARGET_SSE42 inline uint32_t short_sse42_raw(uint32_t state, const uint8_t* p, size_t n) {
  if (n & 4) {
    state = _mm_crc32_u32(state, load_u32(p));
    p += 4;
  }
  if (n & 2) {
    state = _mm_crc32_u16(state, load_u16(p));
    p += 2;
  }
  if (n & 1) state = _mm_crc32_u8(state, *p);
  return state;
}

GREGOR_TARGET_SSE42 inline uint32_t stream_sse42_raw(uint32_t state, const uint8_t* p, size_t n) {
  uint64_t state64 = state;
  for (; n >= 8; p += 8, n -= 8) state64 = _mm_crc32_u64(state64, load_u64(p));
  return short_sse42_raw(static_cast<uint32_t>(state64), p, n);
}

// Aligning the start to 8 bytes avoids cache-line-splitting loads but puts up
// to three more instructions on the critical path; below this size that
// latency costs more than the splits do.
constexpr size_t kAlignMinBytes = 256;

GREGOR_TARGET_SSE42 inline uint32_t align_start_sse42_raw(uint32_t state, const uint8_t*& p, size_t& n) {
  if (n < kAlignMinBytes) return state;
  size_t leadBytes = -reinterpret_cast<uintptr_t>(p) & 7;
  state = short_sse42_raw(state, p, leadBytes);
  p += leadBytes;
  n -= leadBytes;
  return state;
}

GREGOR_TARGET_SSE42 uint32_t extend_single_stream_raw(uint32_t state, const uint8_t* p, size_t n) {
  state = align_start_sse42_raw(state, p, n);
  return stream_sse42_raw(state, p, n);
}

// Length of each of the three streams in a full block; a block is 12 KiB, so
// the merge (~15 cycles) is amortised over ~1500 cycles of crc32.
constexpr size_t kMaxStreamBytes = 4096;
// Shortest stream worth a merge; shorter remainders go through one stream.
constexpr size_t kMinStreamBytes = 32;
constexpr size_t kStreamSteps = kMaxStreamBytes / 8;

// Multipliers that move a stream's CRC past the streams after it. The
// reflected carry-less product of two 32-bit values is a(x)b(x)/x as a 64-bit
// word and crc32 multiplies its input word by x^32, so shifting a CRC by
// `bytes` needs b = x^(8*bytes - 33).
struct MergeConstants {
  uint32_t pastOneStream;   // x^(8L - 33) mod P
  uint32_t pastTwoStreams;  // x^(16L - 33) mod P
};

struct MergeTable {
  MergeConstants forSteps[kStreamSteps + 1];  // index: stream length L / 8
};

constexpr MergeTable make_merge_table() {
  MergeTable merge{};
  // L = 8 bytes: x^31 and x^95; each further 8 bytes multiplies by x^64 / x^128.
  uint32_t pastOne = x_pow_mod_p(8 * 8 - 33);
  uint32_t pastTwo = x_pow_mod_p(16 * 8 - 33);
  const uint32_t x64 = x_pow_mod_p(64);
  const uint32_t x128 = x_pow_mod_p(128);
  for (size_t steps = 1; steps <= kStreamSteps; ++steps) {
    merge.forSteps[steps] = MergeConstants{pastOne, pastTwo};
    pastOne = multiply_mod_p(pastOne, x64);
    pastTwo = multiply_mod_p(pastTwo, x128);
  }
  return merge;
}

constexpr MergeTable kMerge = make_merge_table();

GREGOR_TARGET_SSE42_PCLMUL inline uint64_t clmul_32x32(uint32_t a, uint32_t b) {
  __m128i product = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)),
                                         _mm_cvtsi32_si128(static_cast<int>(b)), 0x00);
  return static_cast<uint64_t>(_mm_cvtsi128_si64(product));
}

// CRCs 3 * streamBytes bytes (streamBytes a multiple of 8, >= 8) as three
// interleaved chains, then merges them into one.
GREGOR_TARGET_SSE42_PCLMUL inline uint32_t three_streams_raw(uint32_t state, const uint8_t* a,
                                                              size_t streamBytes) {
  const uint8_t* b = a + streamBytes;
  const uint8_t* c = b + streamBytes;
  uint64_t crcA = state;
  uint64_t crcB = 0;
  uint64_t crcC = 0;
  const size_t lastWord = streamBytes - 8;
  for (size_t offset = 0; offset < lastWord; offset += 8) {
    crcA = _mm_crc32_u64(crcA, load_u64(a + offset));
    crcB = _mm_crc32_u64(crcB, load_u64(b + offset));
    crcC = _mm_crc32_u64(crcC, load_u64(c + offset));
  }
  crcA = _mm_crc32_u64(crcA, load_u64(a + lastWord));
  crcB = _mm_crc32_u64(crcB, load_u64(b + lastWord));
  const MergeConstants& k = kMerge.forSteps[streamBytes / 8];
  uint64_t folded = load_u64(c + lastWord) ^ clmul_32x32(static_cast<uint32_t>(crcA), k.pastTwoStreams) ^
                    clmul_32x32(static_cast<uint32_t>(crcB), k.pastOneStream);
  return static_cast<uint32_t>(_mm_crc32_u64(crcC, folded));
}

GREGOR_TARGET_SSE42_PCLMUL uint32_t extend_three_stream_raw(uint32_t state, const uint8_t* p, size_t n) {
  if (n < 3 * kMinStreamBytes) return stream_sse42_raw(state, p, n);
  state = align_start_sse42_raw(state, p, n);
  for (; n >= 3 * kMaxStreamBytes; p += 3 * kMaxStreamBytes, n -= 3 * kMaxStreamBytes) {
    state = three_streams_raw(state, p, kMaxStreamBytes);
  }
  // One shorter block for the rest, so mid-sized buffers also run 3-wide.
  size_t streamBytes = n / 24 * 8;
  if (streamBytes >= kMinStreamBytes) {
    state = three_streams_raw(state, p, streamBytes);
    p += 3 * streamBytes;
    n -= 3 * streamBytes;
  }
  return stream_sse42_raw(state, p, n);
}

#endif  // GREGOR_CRC32C_X86_64

// ---------------------------------------------------------------------------
// Dispatch.

struct CpuFeatures {
  bool sse42 = false;
  bool pclmul = false;
};

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures detected;
#if GREGOR_CRC32C_X86_64
    __builtin_cpu_init();  // harmless if already done; required before constructors run
    detected.sse42 = __builtin_cpu_supports("sse4.2") != 0;
    detected.pclmul = detected.sse42 && __builtin_cpu_supports("pclmul") != 0;
#endif
    return detected;
  }();
  return features;
}

using ExtendRawFn = uint32_t (*)(uint32_t state, const uint8_t* p, size_t n);

struct Implementation {
  ExtendRawFn extendRaw;
  const char* name;
};

const Implementation& chosen_implementation() {
  static const Implementation implementation = [] {
#if GREGOR_CRC32C_X86_64
    const CpuFeatures& features = cpu_features();
    if (features.pclmul) return Implementation{extend_three_stream_raw, "sse4.2+pclmul"};
    if (features.sse42) return Implementation{extend_single_stream_raw, "sse4.2"};
#endif
    return Implementation{extend_portable_raw, "portable"};
  }();
  return implementation;
}

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t n) {
  return ~chosen_implementation().extendRaw(~crc, data, n);
}

const char* crc32c_implementation() { return chosen_implementation().name; }

uint32_t crc32c_extend_portable(uint32_t crc, const uint8_t* data, size_t n) {
  return ~extend_portable_raw(~crc, data, n);
}

bool crc32c_hardware_supported() { return cpu_features().sse42; }

uint32_t crc32c_extend_hardware(uint32_t crc, const uint8_t* data, size_t n) {
#if GREGOR_CRC32C_X86_64
  if (cpu_features().pclmul) return ~extend_three_stream_raw(~crc, data, n);
  if (cpu_features().sse42) return ~extend_single_stream_raw(~crc, data, n);
#endif
  return crc32c_extend_portable(crc, data, n);  // misuse on unsupported CPUs stays correct
}

uint32_t crc32c_extend_single_stream(uint32_t crc, const uint8_t* data, size_t n) {
#if GREGOR_CRC32C_X86_64
  if (cpu_features().sse42) return ~extend_single_stream_raw(~crc, data, n);
#endif
  return crc32c_extend_portable(crc, data, n);
}

}  // namespace gregor
