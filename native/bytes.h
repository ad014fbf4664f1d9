// Big-endian field access for Kafka's on-disk and wire formats. memcpy keeps
// unaligned access well-defined; compilers turn it into a load plus bswap.
#pragma once

#include <cstdint>
#include <cstring>

namespace gregor {

inline uint16_t load_u16_be(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap16(v);
}
inline uint32_t load_u32_be(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap32(v);
}
inline uint64_t load_u64_be(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap64(v);
}
inline int16_t load_i16_be(const uint8_t* p) { return static_cast<int16_t>(load_u16_be(p)); }
inline int32_t load_i32_be(const uint8_t* p) { return static_cast<int32_t>(load_u32_be(p)); }
inline int64_t load_i64_be(const uint8_t* p) { return static_cast<int64_t>(load_u64_be(p)); }

inline void store_u16_be(uint8_t* p, uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, sizeof v);
}
inline void store_u32_be(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, sizeof v);
}
inline void store_u64_be(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof v);
}
inline void store_i64_be(uint8_t* p, int64_t v) { store_u64_be(p, static_cast<uint64_t>(v)); }

}  // namespace gregor
