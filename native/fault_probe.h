// Named fault-injection points. Storage operations consult a probe before the
// step that can fail in production (a write, an fsync, a roll, ...); tests arm
// a probe to make the next N passes fail with KAFKA_STORAGE_ERROR, and assert
// that the log's records are left unchanged and the log stays usable (a roll
// that completed before a failed write remains, as in Kafka). Disarmed probes cost one relaxed
// atomic load.
#pragma once

#include <atomic>
#include <cstdint>

namespace gregor {

enum class FaultProbe : int {
  kAppend = 0,   // the write of an append, after validation
  kFsync,        // fsync/fdatasync of a segment
  kRoll,         // creating the next segment
  kTruncate,     // truncating a segment file
  kIndexTrim,    // trimming an index when its segment rolls or closes
  kDelete,       // renaming or unlinking a segment that retention or DeleteRecords removes
  kCleanSwap,    // a compaction swap, after `<base>.log.swap` exists and before the old segments go
  kCount,
};

extern std::atomic<int32_t> g_fault_probe_remaining[static_cast<int>(FaultProbe::kCount)];

// Returns the probe for a name ("append", "fsync", ...) or kCount if unknown.
FaultProbe fault_probe_by_name(const char* name);

inline bool fault_probe_fires(FaultProbe probe) {
  std::atomic<int32_t>& remaining = g_fault_probe_remaining[static_cast<int>(probe)];
  int32_t n = remaining.load(std::memory_order_relaxed);
  while (n > 0) {
    if (remaining.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace gregor

#define GREGOR_FAULT(probe) (::gregor::fault_probe_fires(::gregor::FaultProbe::probe))
