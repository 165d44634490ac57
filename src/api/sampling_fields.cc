#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "api/openai_request.h"

namespace kiln::api {
namespace {

std::string text(double value) { return format_number(value); }

}  // namespace

void read_sampling_fields(FieldReader& reader, const ParseLimits& limits, SamplingParams* sampling) {
  if (auto n = reader.integer("n")) {
    if (*n < 1) reader.fail("n must be at least 1, got " + std::to_string(*n) + ".", "n");
    else if (*n > limits.max_n)
      reader.fail("n must be at most " + std::to_string(limits.max_n) + ", got " + std::to_string(*n) + ".", "n");
    else sampling->n = static_cast<int>(*n);
  }
  if (auto t = reader.number("temperature")) {
    if (*t < 0) reader.fail("temperature must be non-negative, got " + text(*t) + ".", "temperature");
    else sampling->temperature = static_cast<float>(*t);
  }
  if (auto p = reader.number("top_p")) {
    if (*p <= 0 || *p > 1) reader.fail("top_p must be in (0, 1], got " + text(*p) + ".", "top_p");
    else sampling->top_p = static_cast<float>(*p);
  }
  if (auto k = reader.integer("top_k")) {
    if (*k < -1 || *k > INT32_MAX)
      reader.fail("top_k must be 0 (disable), or at least 1, got " + std::to_string(*k) + ".", "top_k");
    else sampling->top_k = static_cast<int>(*k);
  }
  if (auto p = reader.number("min_p")) {
    if (*p < 0 || *p > 1) reader.fail("min_p must be in [0, 1], got " + text(*p) + ".", "min_p");
    else sampling->min_p = static_cast<float>(*p);
  }
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    if (auto v = reader.number(name)) {
      if (*v < -2 || *v > 2) {
        reader.fail(std::string(name) + " must be in [-2, 2], got " + text(*v) + ".", name);
      } else if (name[0] == 'p') {
        sampling->presence_penalty = static_cast<float>(*v);
      } else {
        sampling->frequency_penalty = static_cast<float>(*v);
      }
    }
  }
  if (auto v = reader.number("repetition_penalty")) {
    if (*v <= 0)
      reader.fail("repetition_penalty must be greater than zero, got " + text(*v) + ".", "repetition_penalty");
    else sampling->repetition_penalty = static_cast<float>(*v);
  }
  if (auto seed = reader.integer("seed")) sampling->seed = static_cast<uint64_t>(*seed);
  if (auto v = reader.integer("min_tokens")) {
    if (*v < 0 || *v > INT32_MAX)
      reader.fail("min_tokens must be greater than or equal to 0, got " + std::to_string(*v) + ".", "min_tokens");
    else sampling->min_tokens = static_cast<int>(*v);
  }
  if (auto v = reader.boolean("ignore_eos")) sampling->ignore_eos = *v;
  if (auto v = reader.boolean("skip_special_tokens")) sampling->skip_special_tokens = *v;
  if (auto v = reader.boolean("include_stop_str_in_output")) sampling->include_stop_str_in_output = *v;
  if (auto stop = reader.string_or_list("stop")) {
    for (const std::string& s : *stop) {
      if (s.empty()) {
        reader.fail("'stop' must not contain empty strings", "stop");
        break;
      }
    }
    sampling->stop = std::move(*stop);
  }
  if (auto ids = reader.int_list("stop_token_ids", 0, limits.vocab_size - 1)) {
    sampling->stop_token_ids = std::move(*ids);
  }
  if (auto bias = reader.object("logit_bias")) {
    for (const auto& [key, value] : bias->items()) {
      char* end = nullptr;
      const long long id = std::strtoll(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id >= limits.vocab_size) {
        reader.fail("'logit_bias' key '" + key + "' is not a token id in [0, " +
                        std::to_string(limits.vocab_size) + ")",
                    "logit_bias");
        break;
      }
      if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < -100 ||
          value.get<double>() > 100) {
        reader.fail("'logit_bias' values must be numbers in [-100, 100] (token " + key + ")", "logit_bias");
        break;
      }
      sampling->logit_bias[static_cast<int32_t>(id)] = value.get<float>();
    }
  }
  // Only the sign here (vLLM's request validator); read_common() checks it against `stream` and
  // the limit and resolves -1.
  if (auto v = reader.integer("prompt_logprobs")) {
    if (*v < 0 && *v != -1) {
      reader.fail("`prompt_logprobs` must be a positive value or -1.", "prompt_logprobs");
    } else {
      sampling->prompt_logprobs = static_cast<int>(std::min<int64_t>(*v, INT32_MAX));
    }
  }
}

}  // namespace kiln::api
