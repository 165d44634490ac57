#include "api/logprobs_format.h"

#include <cmath>

namespace kiln::api {

double clamp_logprob(float logprob) {
  if (std::isnan(logprob)) return -9999.0;
  return std::max<double>(logprob, -9999.0);
}

int count_code_points(const std::string& text) {
  int count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

namespace {

Json utf8_bytes(const std::string& text) {
  Json bytes = Json::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

}  // namespace

Json chat_logprob_entries(const std::vector<TokenLogprob>& logprobs, int top_logprobs,
                          const TextCodec& codec) {
  Json entries = Json::array();
  for (const TokenLogprob& lp : logprobs) {
    Json entry;
    const std::string token = codec.token_text(lp.token_id);
    entry["token"] = token;
    entry["logprob"] = clamp_logprob(lp.logprob);
    entry["bytes"] = utf8_bytes(token);
    Json top = Json::array();
    for (size_t i = 0; i < lp.top.size() && static_cast<int>(i) < top_logprobs; ++i) {
      const std::string text = codec.token_text(lp.top[i].first);
      Json item;
      item["token"] = text;
      item["logprob"] = clamp_logprob(lp.top[i].second);
      item["bytes"] = utf8_bytes(text);
      top.push_back(std::move(item));
    }
    entry["top_logprobs"] = std::move(top);
    entries.push_back(std::move(entry));
  }
  return entries;
}

Json prompt_logprobs_json(const std::optional<std::vector<std::optional<TokenLogprob>>>& prompt_logprobs,
                          const TextCodec& codec) {
  if (!prompt_logprobs) return nullptr;
  Json list = Json::array();
  for (size_t i = 0; i < prompt_logprobs->size(); ++i) {
    const std::optional<TokenLogprob>& lp = (*prompt_logprobs)[i];
    if (i == 0 || !lp) {
      list.push_back(nullptr);
      continue;
    }
    Json entries = Json::object();
    auto put = [&](int32_t token_id, float logprob, int rank) {
      Json entry;
      entry["logprob"] = clamp_logprob(logprob);
      entry["rank"] = rank;
      entry["decoded_token"] = codec.token_text(token_id);
      entries[std::to_string(token_id)] = std::move(entry);
    };
    put(lp->token_id, lp->logprob, lp->rank);
    for (size_t k = 0; k < lp->top.size(); ++k) {
      put(lp->top[k].first, lp->top[k].second, static_cast<int>(k) + 1);
    }
    list.push_back(std::move(entries));
  }
  return list;
}

void CompletionLogprobs::add(int32_t token_id, const TokenLogprob* logprob, int num_top,
                             const TextCodec& codec) {
  const std::string token = codec.token_text(token_id);
  text_offsets_.push_back(next_offset_);
  next_offset_ += count_code_points(token);
  tokens_.push_back(token);
  if (!logprob) {
    token_logprobs_.push_back(nullptr);
    top_logprobs_.push_back(nullptr);
    return;
  }
  token_logprobs_.push_back(clamp_logprob(logprob->logprob));
  // vLLM's dict holds the chosen token and the top ones (a token appears once).
  Json top = Json::object();
  top[token] = clamp_logprob(logprob->logprob);
  for (size_t i = 0; i < logprob->top.size() && static_cast<int>(i) < num_top; ++i) {
    const std::string text = codec.token_text(logprob->top[i].first);
    if (!top.contains(text)) top[text] = clamp_logprob(logprob->top[i].second);
  }
  top_logprobs_.push_back(std::move(top));
}

Json CompletionLogprobs::to_json() const {
  Json out;
  out["text_offset"] = text_offsets_;
  out["token_logprobs"] = token_logprobs_;
  out["tokens"] = tokens_;
  out["top_logprobs"] = top_logprobs_;
  return out;
}

Json CompletionLogprobs::take_json() {
  Json out = to_json();
  text_offsets_.clear();
  token_logprobs_ = Json::array();
  tokens_.clear();
  top_logprobs_ = Json::array();
  return out;
}

}  // namespace kiln::api
