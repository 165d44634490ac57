// Monotonic time for latencies and rates; wall time only for "created" stamps and logs.
#pragma once

#include <chrono>
#include <cstdint>

namespace kiln {

using SteadyClock = std::chrono::steady_clock;

inline double monotonic_seconds() {
  return std::chrono::duration<double>(SteadyClock::now().time_since_epoch()).count();
}

// Wall time with sub-second precision (the dashboard's timestamps).
inline double unix_time_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kiln
