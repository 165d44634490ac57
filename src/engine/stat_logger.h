// vLLM's periodic engine line, logged every interval while the engine has work (and once more
// for the interval in which it went idle):
//   Avg prompt throughput: ... tokens/s, Avg generation throughput: ... tokens/s, Running: N reqs,
//   Waiting: M reqs, KV cache usage: Z%, Prefix cache hit rate: W%
// and, with speculative decoding, vLLM's SpecDecoding line (engine/spec/spec_decode_log.h).
#pragma once

#include <cstdint>
#include <optional>

#include "engine/engine_client.h"
#include "engine/spec/spec_decode_counters.h"

namespace kiln {

class StatLogger {
 public:
  explicit StatLogger(double interval_s);  // 0 = never log

  // A step ran since the last line.
  void note_busy() { busy_since_log_ = true; }
  // Logs when the interval has passed and there was work in it.
  void maybe_log(const EngineStats& stats, bool has_work);
  // When an idle engine must wake to log the interval that saw its last work; unset when no
  // line is owed.
  std::optional<double> next_deadline_s() const;

 private:
  double interval_s_;
  double last_log_s_;
  int64_t logged_prompt_tokens_ = 0;
  int64_t logged_generation_tokens_ = 0;
  SpecDecodeCounters logged_spec_;  // speculative decoding's counters at the last line
  bool busy_since_log_ = false;
};

}  // namespace kiln
