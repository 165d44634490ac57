// A Hugging Face tokenizer.json tokenizer: byte-level BPE with a regex Split pre-tokenizer
// (Llama 3, Qwen2 and GPT-2 style), added tokens matched in the raw text, and a ByteLevel
// decoder. Encodes and decodes exactly as HF tokenizers does for those files.
//
// Thread-safe: one const Tokenizer is shared by every thread that encodes or decodes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/added_tokens.h"

namespace kiln::tokenizer {

struct TokenizerParts;

class Tokenizer {
 public:
  // Reads tokenizer.json; the error names the file and the field at fault.
  static Result<std::shared_ptr<const Tokenizer>> load(const std::filesystem::path& tokenizer_json);
  // The same from the file's text; `name` stands for the file in error messages.
  static Result<std::shared_ptr<const Tokenizer>> from_json_text(std::string_view json_text,
                                                                 const std::string& name);

  // Token ids of `text`. Added tokens written in the text (e.g. "<｜User｜>") become their ids;
  // with `add_special_tokens` the post-processor's tokens (BOS for Llama 3) are added around
  // (tokenizer.json's view; tokenizer_config's add_bos_token is in SpecialTokenIds::add_bos,
  // tokenizer/special_tokens.h). A rendered chat prompt already holds BOS: encode it without.
  // Invalid UTF-8 in `text` is read as U+FFFD, as a Rust String would hold it.
  // A text that the pre-tokenizer's regex cannot split within its match limits (a pathological
  // pattern or input) is encoded with its unsplit rest as one word, never an abort.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // The same, but such a text is an error (for requests: a 400 naming the problem).
  Result<std::vector<int32_t>> encode_checked(std::string_view text, bool add_special_tokens = false) const;

  // Text of `ids`, invalid UTF-8 replaced by U+FFFD (HF's from_utf8_lossy). Ids outside the
  // vocabulary are skipped, as HF does.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Raw bytes of one token as decode concatenates them (empty for an unknown id).
  std::string token_bytes(int32_t id) const;
  // The token as the vocabulary writes it ("Ġthe", "<｜User｜>"); nullopt for an unknown id.
  std::optional<std::string> id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;

  bool is_special(int32_t id) const;
  bool is_added_token(int32_t id) const;
  // Number of ids: one more than the largest id of the vocabulary and the added tokens.
  int vocab_size() const;
  const std::vector<AddedToken>& added_tokens() const;

  // The post-processor's first special token of a single sequence (BOS for Llama 3);
  // nullopt when it adds none.
  std::optional<int32_t> bos_token_id() const;
  // Ids the post-processor puts before and after a single sequence.
  const std::vector<int32_t>& prefix_special_ids() const;
  const std::vector<int32_t>& suffix_special_ids() const;

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // Used by load(); the parts come from the tokenizer.json parser.
  explicit Tokenizer(std::unique_ptr<TokenizerParts> parts);

 private:
  Status encode_impl(std::string_view text, bool add_special_tokens, bool stop_at_error,
                     std::vector<int32_t>* ids) const;
  // Splits `text` with the pre-tokenizer and merges its pieces into *ids; on a regex failure
  // *pieces holds the fallback split and nothing is merged.
  Status encode_text(std::string_view text, std::vector<std::string_view>* pieces,
                     std::vector<int32_t>* ids) const;

  std::unique_ptr<TokenizerParts> parts_;
};

}  // namespace kiln::tokenizer
