// A registry of metric families, each a name, help text, type and children keyed by label
// values, exposed in the Prometheus text format 0.0.4 exactly as Python's prometheus_client
// writes it (what vLLM's /metrics serves): counters get "_total" in HELP, TYPE and samples,
// histograms write _bucket (cumulative, le last), _count, _sum; numbers as Go formats them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/metric_types.h"

namespace kiln::metrics {

using LabelValues = std::vector<std::string>;

enum class MetricType { kCounter, kGauge, kHistogram };

class Registry {
 public:
  // Declares a family; label_names fixed for its children. A counter's name is given without
  // "_total" (prometheus_client adds it).
  void add_counter(const std::string& name, const std::string& help, std::vector<std::string> label_names);
  void add_gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names);
  void add_histogram(const std::string& name, const std::string& help,
                     std::vector<std::string> label_names, std::vector<double> upper_bounds);

  // The child for these label values, made on first use. Pointers stay valid for the registry's
  // lifetime. The family must exist with that type and label count (KILN_CHECK).
  Counter* counter(const std::string& name, const LabelValues& labels);
  Gauge* gauge(const std::string& name, const LabelValues& labels);
  Histogram* histogram(const std::string& name, const LabelValues& labels);

  // Runs before each exposition (e.g. to refresh gauges from engine stats or /proc).
  void add_collect_hook(std::function<void()> hook);

  std::string expose() const;

 private:
  struct Family {
    std::string name;
    std::string help;
    MetricType type;
    std::vector<std::string> label_names;
    std::vector<double> upper_bounds;
    // Insertion order of label values, for a stable exposition.
    std::vector<LabelValues> order;
    std::map<LabelValues, std::unique_ptr<Counter>> counters;
    std::map<LabelValues, std::unique_ptr<Gauge>> gauges;
    std::map<LabelValues, std::unique_ptr<Histogram>> histograms;
  };
  Family* find(const std::string& name, MetricType type, size_t num_labels);
  void add_family(Family family);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
  std::vector<std::function<void()>> hooks_;
};

// Go's float text as prometheus_client writes it: "1.0", "0.25", "+Inf", "1.234567e+06".
std::string format_prometheus_value(double value);
std::string escape_label_value(const std::string& value);

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace kiln::metrics
