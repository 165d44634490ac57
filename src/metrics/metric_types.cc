#include "metrics/metric_types.h"

#include <algorithm>
#include <limits>

namespace kiln::metrics {
namespace {

void atomic_add(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

}  // namespace

void Counter::inc(double amount) {
  if (!(amount > 0)) return;
  atomic_add(value_, amount);
}

void Gauge::inc(double amount) { atomic_add(value_, amount); }

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  std::sort(upper_bounds_.begin(), upper_bounds_.end());
  upper_bounds_.erase(std::unique(upper_bounds_.begin(), upper_bounds_.end()), upper_bounds_.end());
  if (upper_bounds_.empty() || upper_bounds_.back() != std::numeric_limits<double>::infinity()) {
    upper_bounds_.push_back(std::numeric_limits<double>::infinity());
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size());
  for (size_t i = 0; i < upper_bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double value) {
  // The first bucket whose bound is >= value (Prometheus buckets are "less than or equal").
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  counts_[std::min(bucket, upper_bounds_.size() - 1)].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, value);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snap;
  snap.upper_bounds = upper_bounds_;
  uint64_t total = 0;
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    snap.cumulative.push_back(total);
  }
  snap.count = total;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

}  // namespace kiln::metrics
