// CRC-32C (Castagnoli), the checksum Kafka stores in every record batch
// header. Reflected polynomial 0x82F63B78, initial value and final xor
// 0xFFFFFFFF; crc32c("123456789") == 0xE3069283. The fastest implementation
// the CPU supports is picked once at first use (see crc32c.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gregor {

// Extends a finished CRC-32C value `crc` (0 for an empty prefix) with `n` more
// bytes; crc32c_extend(crc32c(a), b) == crc32c(a||b).
uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t n);
inline uint32_t crc32c(const uint8_t* data, size_t n) { return crc32c_extend(0, data, n); }

// Which implementation runtime dispatch chose: "sse4.2+pclmul", "sse4.2", or
// "portable".
const char* crc32c_implementation();

// Test hooks: the portable (table) implementation and the hardware one,
// callable directly. The hardware one is the best variant the CPU supports
// (three interleaved streams with PCLMULQDQ, else a single SSE4.2 stream).
uint32_t crc32c_extend_portable(uint32_t crc, const uint8_t* data, size_t n);
uint32_t crc32c_extend_hardware(uint32_t crc, const uint8_t* data, size_t n);  // only call when supported
bool crc32c_hardware_supported();

// Test/benchmark hook: the single-stream SSE4.2 variant, which dispatch uses
// when PCLMULQDQ is missing. Only call when crc32c_hardware_supported().
uint32_t crc32c_extend_single_stream(uint32_t crc, const uint8_t* data, size_t n);

}  // namespace gregor
