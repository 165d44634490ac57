// Where a step's GPU time goes, operator by operator: every Nth step runs eagerly with a CUDA
// event after each operator, and one log line sums the spans by operator name. For finding what
// to optimize (`kiln bench latency --profile-steps N`); off by default, and then free.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <utility>
#include <vector>

namespace kiln::cuda {

class StepProfiler {
 public:
  StepProfiler() = default;
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;

  void enable(int every_n_steps) { every_n_steps_ = every_n_steps; }
  // Names whose steps the log lines are (a tensor-parallel rank: "rank 1"); empty: none.
  void set_label(std::string label) { label_ = std::move(label); }
  // Counts a step; true when this one is profiled (the caller then runs it eagerly).
  bool begin(cudaStream_t stream);
  // The operator that ends here was `name` (a string literal); no-op unless a step is profiled.
  void mark(const char* name);
  // Waits for the step and logs its breakdown.
  void end(int num_tokens, int num_seqs);
  bool active() const { return active_; }

 private:
  cudaEvent_t next_event();

  int every_n_steps_ = 0;
  std::string label_;
  long long steps_ = 0;
  bool active_ = false;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> events_;
  std::vector<const char*> names_;  // names_[i] ends at events_[i + 1]
  size_t used_ = 0;
};

}  // namespace kiln::cuda
