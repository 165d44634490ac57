// vLLM's periodic speculative decoding line, logged with the engine's throughput line:
//   SpecDecoding metrics: Mean acceptance length: 2.71, Accepted throughput: 41.20 tokens/s,
//   Drafted throughput: 96.00 tokens/s, Accepted: 206 tokens, Drafted: 480 tokens,
//   Per-position acceptance rate: 0.800, 0.560, 0.350, Avg Draft acceptance rate: 42.9%
#pragma once

#include <optional>
#include <string>

#include "engine/spec/spec_decode_counters.h"

namespace kiln {

// The line for what the counters gained over `elapsed_s` (from `before` to `now`); unset when
// nothing was drafted in between.
std::optional<std::string> format_spec_decode_line(const SpecDecodeCounters& now, const SpecDecodeCounters& before,
                                                   double elapsed_s);

}  // namespace kiln
