// Small hand-made tokenizer.json files for unit tests: vocabularies given as raw byte strings,
// written in the GPT-2 byte alphabet as real files are.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"

namespace kiln::testing {

struct TinyAddedToken {
  int id;
  std::string content;
  bool special = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A Llama-3-shaped tokenizer.json: all 256 single bytes (ids 0..255, byte b = id b), then
// `extra_tokens` (ids 256...), the merges (raw bytes), the Llama 3 split regex, ByteLevel.
inline nlohmann::json tiny_tokenizer_json(const std::vector<std::string>& extra_tokens,
                                          const std::vector<std::pair<std::string, std::string>>& merges,
                                          bool ignore_merges,
                                          const std::vector<TinyAddedToken>& added = {},
                                          bool merges_as_arrays = false) {
  tokenizer::ByteLevelAlphabet alphabet;
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) {
    vocab[alphabet.encode(std::string(1, static_cast<char>(byte)))] = byte;
  }
  for (size_t i = 0; i < extra_tokens.size(); ++i) {
    vocab[alphabet.encode(extra_tokens[i])] = 256 + i;
  }
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& [left, right] : merges) {
    if (merges_as_arrays) {
      merge_list.push_back({alphabet.encode(left), alphabet.encode(right)});
    } else {
      merge_list.push_back(alphabet.encode(left) + " " + alphabet.encode(right));
    }
  }
  nlohmann::json added_tokens = nlohmann::json::array();
  for (const TinyAddedToken& token : added) {
    added_tokens.push_back({{"id", token.id}, {"content", token.content},
                            {"single_word", token.single_word}, {"lstrip", token.lstrip},
                            {"rstrip", token.rstrip}, {"normalized", false},
                            {"special", token.special}});
  }
  const std::string llama3_pattern =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  return {
      {"version", "1.0"},
      {"added_tokens", added_tokens},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", llama3_pattern}}}, {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
           {"use_regex", false}}}}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
                   {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
        {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", ignore_merges},
        {"vocab", vocab}, {"merges", merge_list}}},
  };
}

}  // namespace kiln::testing
