#include "fault_probe.h"

#include <cstring>

namespace gregor {

std::atomic<int32_t> g_fault_probe_remaining[static_cast<int>(FaultProbe::kCount)];

FaultProbe fault_probe_by_name(const char* name) {
  static const char* const kNames[] = {"append", "fsync", "roll", "truncate", "index-trim", "delete", "clean-swap"};
  for (int i = 0; i < static_cast<int>(FaultProbe::kCount); ++i) {
    if (std::strcmp(name, kNames[i]) == 0) return static_cast<FaultProbe>(i);
  }
  return FaultProbe::kCount;
}

}  // namespace gregor
