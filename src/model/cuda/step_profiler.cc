#include "model/cuda/step_profiler.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "base/log.h"
#include "kernels/cuda/cuda_check.h"

namespace kiln::cuda {

StepProfiler::~StepProfiler() {
  for (cudaEvent_t event : events_) cudaEventDestroy(event);
}

cudaEvent_t StepProfiler::next_event() {
  if (used_ == events_.size()) {
    cudaEvent_t event = nullptr;
    KILN_CUDA_CHECK(cudaEventCreate(&event));
    events_.push_back(event);
  }
  return events_[used_++];
}

bool StepProfiler::begin(cudaStream_t stream) {
  if (every_n_steps_ <= 0 || ++steps_ % every_n_steps_ != 0) return false;
  active_ = true;
  stream_ = stream;
  used_ = 0;
  names_.clear();
  KILN_CUDA_CHECK(cudaEventRecord(next_event(), stream_));
  return true;
}

void StepProfiler::mark(const char* name) {
  if (!active_) return;
  KILN_CUDA_CHECK(cudaEventRecord(next_event(), stream_));
  names_.push_back(name);
}

void StepProfiler::end(int num_tokens, int num_seqs) {
  if (!active_) return;
  active_ = false;
  KILN_CUDA_CHECK(cudaEventSynchronize(events_[used_ - 1]));
  std::map<std::string, double> by_name;
  double total = 0;
  for (size_t i = 0; i + 1 < used_; ++i) {
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]));
    by_name[names_[i]] += ms;
    total += ms;
  }
  std::vector<std::pair<double, std::string>> ordered;
  for (const auto& [name, ms] : by_name) ordered.emplace_back(ms, name);
  std::sort(ordered.rbegin(), ordered.rend());
  std::string line;
  char part[96];
  for (const auto& [ms, name] : ordered) {
    std::snprintf(part, sizeof(part), "%s%s %.3f ms (%.0f%%)", line.empty() ? "" : ", ", name.c_str(), ms,
                  total > 0 ? 100 * ms / total : 0.0);
    line += part;
  }
  KILN_LOG(Info) << "Step profile" << (label_.empty() ? "" : " (" + label_ + ")") << ", " << num_tokens << " tokens of " << num_seqs << " sequences, "
                 << total << " ms: " << line;
}

}  // namespace kiln::cuda
