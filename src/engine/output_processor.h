// What happens to a generated token once its id is on the host, as vLLM v1's output processor:
// the token joins its sequence and the next output, stop tokens and the length limit end the
// sequence, the detokenizer makes its text, stop strings are matched on that text, and a
// request's changes become one RequestOutput. Pure bookkeeping on the request's records: the
// engine frees a finished sequence's blocks and calls the request's callback.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/request_state.h"
#include "engine/sequence.h"

namespace kiln {

// Takes `token_id` as the sequence's token at `position` (appended, or replacing the
// kPendingToken a launch left there), with its logprob when asked for, and makes its text.
// Returns why the sequence finished (kStop: EOS, a stop token id or a stop string; kLength:
// max_tokens or max_model_len), or kNone. A stop string wins over a stop token or the length
// limit ending the sequence at the same token, as in vLLM.
FinishReason process_token(Sequence& seq, int position, int32_t token_id, std::optional<TokenLogprob> logprob,
                           int max_model_len);

// Marks the sequence finished with `reason` (its next output says so; on a stop token or the
// length limit the text held back for stop strings is released) and the request finished when
// all its choices are. The caller frees the sequence's blocks.
void finish_sequence(Sequence& seq, FinishReason reason);

// The request's output for what changed since the last one; unset when nothing did and the
// request is not finished. Prompt logprobs and the queue time ride on the first output.
std::optional<RequestOutput> take_request_output(RequestState& req);

}  // namespace kiln
