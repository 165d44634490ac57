#include "metrics/process_metrics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace kiln::metrics {

std::optional<ProcessStats> read_process_stats(const std::string& proc_root) {
  std::ifstream stat_file(proc_root + "/self/stat");
  std::string stat;
  if (!stat_file || !std::getline(stat_file, stat)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> values;
  for (std::string field; fields >> field;) values.push_back(field);
  // values[0] is field 3 (state): utime = field 14, stime = 15, starttime = 22, vsize = 23, rss = 24.
  if (values.size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcessStats stats;
  stats.cpu_seconds = (std::stod(values[11]) + std::stod(values[12])) / ticks;
  stats.virtual_memory_bytes = std::stod(values[20]);
  stats.resident_memory_bytes = std::stod(values[21]) * page_size;

  double boot_time = 0;
  std::ifstream proc_stat(proc_root + "/stat");
  for (std::string line; std::getline(proc_stat, line);) {
    if (line.rfind("btime ", 0) == 0) boot_time = std::stod(line.substr(6));
  }
  stats.start_time_seconds = boot_time + std::stod(values[19]) / ticks;

  std::error_code error;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator(proc_root + "/self/fd", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++fds;
  }
  stats.open_fds = fds;
  std::ifstream limits(proc_root + "/self/limits");
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream parts(line.substr(14));
      std::string soft;
      parts >> soft;
      stats.max_fds = soft == "unlimited" ? -1 : std::stod(soft);
    }
  }
  return stats;
}

void register_process_metrics(Registry* registry) {
  registry->add_gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {});
  registry->add_gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {});
  registry->add_gauge("process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.", {});
  registry->add_counter("process_cpu_seconds", "Total user and system CPU time spent in seconds.", {});
  registry->add_gauge("process_open_fds", "Number of open file descriptors.", {});
  registry->add_gauge("process_max_fds", "Maximum number of open file descriptors.", {});
  Gauge* virt = registry->gauge("process_virtual_memory_bytes", {});
  Gauge* rss = registry->gauge("process_resident_memory_bytes", {});
  Gauge* start = registry->gauge("process_start_time_seconds", {});
  Counter* cpu = registry->counter("process_cpu_seconds", {});
  Gauge* open_fds = registry->gauge("process_open_fds", {});
  Gauge* max_fds = registry->gauge("process_max_fds", {});
  registry->add_collect_hook([=] {
    const std::optional<ProcessStats> stats = read_process_stats();
    if (!stats) return;
    virt->set(stats->virtual_memory_bytes);
    rss->set(stats->resident_memory_bytes);
    start->set(stats->start_time_seconds);
    cpu->inc(stats->cpu_seconds - cpu->value());  // a counter that follows the kernel's total
    open_fds->set(stats->open_fds);
    max_fds->set(stats->max_fds);
  });
}

}  // namespace kiln::metrics
