// Counters, gauges and histograms: the value holders of the metrics registry. Updates are
// lock-free (atomics), so the engine's stats path and HTTP threads never wait on a scrape.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace kiln::metrics {

class Counter {
 public:
  void inc(double amount = 1.0);  // amount >= 0; negative amounts are ignored (counters only grow)
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void inc(double amount = 1.0);
  void dec(double amount = 1.0) { inc(-amount); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `upper_bounds` ascending, without +Inf (always added).
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;       // [num_buckets], the last is +Inf
    std::vector<uint64_t> cumulative;       // [num_buckets], counts of values <= bound
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> upper_bounds_;  // includes +Inf
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // [upper_bounds_.size()], per bucket
  std::atomic<double> sum_{0.0};
};

}  // namespace kiln::metrics
