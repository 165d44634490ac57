// One request inside the engine: its settings, its choices (the sequences the scheduler runs)
// and what it owes its consumer. Owned by the engine thread; the scheduler points into it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine_client.h"
#include "engine/sequence.h"

namespace kiln {

struct RequestState {
  std::string request_id;
  OutputCallback on_output;
  SamplingParams params;
  std::vector<int32_t> prompt;
  std::vector<std::unique_ptr<Sequence>> choices;  // by choice index; pointers stay put
  // [prompt length]; entry 0 stays empty. Set when prompt logprobs were asked for.
  std::optional<std::vector<std::optional<TokenLogprob>>> prompt_logprobs;
  int num_prompt_logprobs_filled = 0;
  bool prompt_logprobs_sent = false;
  std::string error;
  int num_cached_tokens = 0;
  bool finished = false;
  double queued_s = 0;                 // monotonic_seconds() when the engine took it in
  std::optional<double> queue_time_s;  // set at its first scheduling
  bool queue_time_sent = false;
};

}  // namespace kiln
