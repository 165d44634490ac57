// The byte-level BPE model of tokenizer.json: a vocabulary of byte strings and a ranked list of
// merges. Works on raw bytes (the GPT-2 alphabet is only how the file writes them), starting from
// one symbol per byte and merging the lowest-ranked adjacent pair first, leftmost on ties, as HF
// tokenizers' BPE does.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tokenizer/pair_merges.h"
#include "tokenizer/string_id_map.h"
#include "tokenizer/word_cache.h"

namespace kiln::tokenizer {

class BpeModel {
 public:
  // `token_bytes[id]` is the raw byte string of vocabulary id `id` (empty for an id the
  // vocabulary does not use); `merges` are pairs of ids in rank order. With `ignore_merges`, a
  // word that is a whole vocabulary token is that token without merging (Llama 3 relies on it).
  // `where` names the file for error messages.
  static Result<std::unique_ptr<BpeModel>> create(
      std::vector<std::string> token_bytes,
      const std::vector<std::pair<int32_t, int32_t>>& merges, bool ignore_merges,
      const std::string& where);

  // Appends the ids of one pre-token word (raw bytes) to *ids.
  void encode_word(std::string_view word, std::vector<int32_t>* ids) const;

  // Id of the vocabulary token with these raw bytes.
  std::optional<int32_t> id_of_bytes(std::string_view bytes) const;

  size_t num_merges() const { return merges_.size(); }

 private:
  BpeModel() = default;
  void merge_small(std::string_view word, std::vector<int32_t>* ids) const;
  void merge_large(std::string_view word, std::vector<int32_t>* ids) const;

  std::vector<std::string> token_bytes_;  // by id; id_of_bytes_ holds views of these
  StringIdMap id_of_bytes_;
  std::array<int32_t, 256> id_of_byte_;  // -1 when the vocabulary lacks the single byte
  PairMerges merges_;
  bool ignore_merges_ = false;
  mutable WordCache cache_;
};

}  // namespace kiln::tokenizer
