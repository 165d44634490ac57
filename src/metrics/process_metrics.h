// The process_* metrics prometheus_client's ProcessCollector exports, read from /proc on Linux:
// process_virtual_memory_bytes, process_resident_memory_bytes, process_start_time_seconds,
// process_cpu_seconds_total, process_open_fds, process_max_fds.
#pragma once

#include <optional>
#include <string>

#include "metrics/registry.h"

namespace kiln::metrics {

struct ProcessStats {
  double virtual_memory_bytes = 0;
  double resident_memory_bytes = 0;
  double start_time_seconds = 0;  // unix time
  double cpu_seconds = 0;         // user + system
  double open_fds = 0;
  double max_fds = 0;             // soft limit
};

// Reads /proc/self; nullopt where /proc is not there.
std::optional<ProcessStats> read_process_stats(const std::string& proc_root = "/proc");

// Declares the families in `registry` and refreshes them on every exposition.
void register_process_metrics(Registry* registry);

}  // namespace kiln::metrics
