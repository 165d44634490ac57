#include "engine/output_processor.h"

#include <algorithm>

#include "base/check.h"

namespace kiln {

FinishReason process_token(Sequence& seq, int position, int32_t token_id, std::optional<TokenLogprob> logprob,
                           int max_model_len) {
  KILN_CHECK(!seq.finished);
  KILN_CHECK_LE(seq.num_prompt_tokens, position);
  if (position == seq.num_tokens()) {
    seq.token_ids.push_back(token_id);
  } else {
    KILN_CHECK_LT(position, seq.num_tokens());
    KILN_CHECK_EQ(seq.token_ids[static_cast<size_t>(position)], kPendingToken);
    seq.token_ids[static_cast<size_t>(position)] = token_id;
  }
  const ResolvedSampling& s = seq.sampling;
  const int n = ++seq.num_output_tokens_collected;
  KILN_CHECK_EQ(n, position - seq.num_prompt_tokens + 1) << "tokens collected out of order";
  seq.changed = true;
  seq.pending.new_token_ids.push_back(token_id);
  if (logprob) seq.pending.logprobs.push_back(std::move(*logprob));
  seq.pending.num_output_tokens = n;

  const bool past_min_tokens = n >= s.min_tokens;
  bool is_stop_token = false;
  if (past_min_tokens) {
    if (!s.ignore_eos && std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), token_id) != s.eos_token_ids.end()) {
      is_stop_token = true;
    } else if (std::find(s.stop_token_ids.begin(), s.stop_token_ids.end(), token_id) != s.stop_token_ids.end()) {
      is_stop_token = true;
      seq.pending.stop_reason = token_id;
    }
  }
  FinishReason reason = FinishReason::kNone;
  if (is_stop_token) {
    reason = FinishReason::kStop;
  } else if (n >= s.max_tokens || seq.num_prompt_tokens + n >= max_model_len) {
    reason = FinishReason::kLength;
  }
  // A stop token's own text is left out unless include_stop_str_in_output (as vLLM).
  const bool include_stop_str = seq.request != nullptr && seq.request->params.include_stop_str_in_output;
  if (seq.detokenizer && (!is_stop_token || include_stop_str)) {
    seq.pending.text_delta += seq.stopper.append(seq.detokenizer->add(token_id), past_min_tokens);
  }
  if (seq.stopper.matched()) {
    seq.pending.stop_reason = *seq.stopper.matched();
    reason = FinishReason::kStop;
  }
  return reason;
}

void finish_sequence(Sequence& seq, FinishReason reason) {
  KILN_CHECK(!seq.finished);
  seq.finished = true;
  seq.changed = true;
  seq.pending.finish_reason = reason;
  // Ending on a stop token or the length limit releases what the detokenizer and the stop-string
  // check still hold; an abort or a failure sends nothing more.
  if ((reason == FinishReason::kStop || reason == FinishReason::kLength) && !seq.stopper.matched()) {
    if (seq.detokenizer) seq.pending.text_delta += seq.stopper.append(seq.detokenizer->flush(), false);
    seq.pending.text_delta += seq.stopper.flush();
  }
  RequestState* req = seq.request;
  if (req != nullptr) {
    req->finished = std::all_of(req->choices.begin(), req->choices.end(),
                                [](const std::unique_ptr<Sequence>& c) { return c->finished; });
  }
}

std::optional<RequestOutput> take_request_output(RequestState& req) {
  RequestOutput out;
  out.request_id = req.request_id;
  out.num_prompt_tokens = static_cast<int>(req.prompt.size());
  for (auto& choice : req.choices) {
    Sequence& seq = *choice;
    if (!seq.changed) continue;
    out.outputs.push_back(std::move(seq.pending));
    seq.pending = CompletionOutput();
    seq.pending.index = seq.choice_index;
    seq.pending.num_output_tokens = seq.num_output_tokens_collected;
    seq.changed = false;
  }
  if (out.outputs.empty() && !req.finished) return std::nullopt;
  out.num_cached_tokens = req.num_cached_tokens;
  if (req.prompt_logprobs && !req.prompt_logprobs_sent && !out.outputs.empty()) {
    out.prompt_logprobs = *req.prompt_logprobs;
    req.prompt_logprobs_sent = true;
  }
  if (req.queue_time_s && !req.queue_time_sent) {
    out.queue_time_seconds = req.queue_time_s;
    req.queue_time_sent = true;
  }
  out.finished = req.finished;
  out.error = req.error;
  return out;
}

}  // namespace kiln
