// What flows back to a request's consumer: one RequestOutput per engine step in which the
// request produced tokens, the last one with finished set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln {

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // best first; size = requested top logprobs
  // vLLM's rank of token_id: how many vocabulary entries have a logprob >= its own (1 = the
  // most likely; ties count against it, as vLLM's batched_count_greater_than).
  // Last, so that brace initializers written before it existed still compile.
  int rank = 0;
};

enum class FinishReason { kNone, kStop, kLength, kAbort, kError };

const char* finish_reason_name(FinishReason reason);  // "stop", "length", "abort", "error"

struct CompletionOutput {
  int index = 0;  // choice index for n > 1
  std::vector<int32_t> new_token_ids;
  std::string text_delta;  // complete UTF-8 only; held-back partial stop-string matches excluded
  std::vector<TokenLogprob> logprobs;  // one per new token when logprobs were asked for
  FinishReason finish_reason = FinishReason::kNone;
  // The stop string or stop token id that ended the sequence (vLLM's stop_reason); unset when
  // it ended on EOS or length.
  std::variant<std::monostate, std::string, int32_t> stop_reason;
  int num_output_tokens = 0;  // total so far
};

struct RequestOutput {
  std::string request_id;
  std::vector<CompletionOutput> outputs;  // the choices that changed in this step
  // Prompt logprobs, sent once with the first output when asked for: entry 0 is empty (no
  // logprob for the first token).
  std::optional<std::vector<std::optional<TokenLogprob>>> prompt_logprobs;
  int num_prompt_tokens = 0;
  int num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  // Seconds between the engine queueing the request and first scheduling it (vLLM's queued
  // time), sent once with the first output after that; unset on outputs of a request that was
  // never scheduled (aborted while waiting).
  std::optional<double> queue_time_seconds;
  bool finished = false;      // every choice finished
  std::string error;          // set when the request failed inside the engine
};

}  // namespace kiln
