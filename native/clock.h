// The monotonic clock in nanoseconds, for the shim's deadlines and spins (inline: the vCPU runner reads
// it on its run path).
#pragma once
#include <time.h>

#include <cstdint>

namespace kvmxen {

inline uint64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace kvmxen
