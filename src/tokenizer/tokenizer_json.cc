// Parser of HF tokenizers' tokenizer.json for byte-level BPE models. Rejects, with the field
// named, every component it cannot reproduce exactly rather than tokenizing differently.
#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/string_id_map.h"
#include "tokenizer/tokenizer_json_reader.h"
#include "tokenizer/tokenizer_parts.h"

namespace kiln::tokenizer {
namespace {

using json = nlohmann::json;

// Token ids index dense tables (text, bytes and flags per id), so one id far past the number of
// tokens would make a file of a few kilobytes allocate gigabytes. Ids may leave gaps, but the
// largest stays below twice the number of tokens plus 1024 (real tokenizers are dense).
size_t id_limit(size_t num_tokens) { return std::min<size_t>(2 * num_tokens + 1024, size_t{1} << 24); }

// The GPT-2 split, used by a ByteLevel pre-tokenizer with use_regex (tokenizers' ByteLevel).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class Parser {
 public:
  explicit Parser(std::string name) : name_(std::move(name)) {}

  Result<std::unique_ptr<TokenizerParts>> parse(std::string_view text);

 private:
  Status error(const std::string& field, const std::string& message) const {
    return Status::error(name_ + ": " + field + ": " + message);
  }
  Status read_bool(const json& object, const char* key, const std::string& field,
                   bool* out) const;
  // object[key] as a string, or `fallback` when it is absent or null. nlohmann's value() would
  // throw on a key of another type; a file's mistakes are errors naming the field.
  Status read_string(const json& object, const char* key, const std::string& field, std::string fallback,
                     std::string* out) const;
  Status parse_model(const json& model, TokenizerJsonContents* contents);
  Status parse_normalizer(const json& normalizer, const std::string& field);
  Status parse_pre_tokenizer(const json& pre_tokenizer, const std::string& field,
                             bool* byte_level_seen);
  Status parse_decoder(const json& decoder, const std::string& field, bool* byte_level_seen);
  Status parse_post_processor(const json& processor, const std::string& field);
  Status parse_added_tokens(const json& tokens);
  Status build_token_tables();

  std::string name_;
  ByteLevelAlphabet alphabet_;
  std::unique_ptr<TokenizerParts> parts_ = std::make_unique<TokenizerParts>();
  std::vector<std::string> vocab_text_;  // model.vocab by id
};

Status Parser::read_bool(const json& object, const char* key, const std::string& field,
                         bool* out) const {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return ok_status();
  if (!it->is_boolean()) return error(field + "." + key, "expected true or false");
  *out = it->get<bool>();
  return ok_status();
}

Result<std::unique_ptr<TokenizerParts>> Parser::parse(std::string_view text) {
  KILN_ASSIGN_OR_RETURN(TokenizerJsonContents contents, read_tokenizer_json(text, name_));
  const json& root = contents.rest;
  if (!root.is_object()) return Status::error(name_ + ": expected a JSON object");

  bool byte_level_pre_tokenizer = false;
  bool byte_level_decoder = false;
  const auto model = root.find("model");
  if (model == root.end() || !model->is_object()) {
    return error("model", "missing (a BPE model object is required)");
  }
  KILN_RETURN_IF_ERROR(parse_model(*model, &contents));
  if (const auto it = root.find("normalizer"); it != root.end()) {
    KILN_RETURN_IF_ERROR(parse_normalizer(*it, "normalizer"));
  }
  if (const auto it = root.find("pre_tokenizer"); it != root.end() && !it->is_null()) {
    KILN_RETURN_IF_ERROR(parse_pre_tokenizer(*it, "pre_tokenizer", &byte_level_pre_tokenizer));
  }
  if (const auto it = root.find("decoder"); it != root.end() && !it->is_null()) {
    KILN_RETURN_IF_ERROR(parse_decoder(*it, "decoder", &byte_level_decoder));
  }
  if (!byte_level_pre_tokenizer || !byte_level_decoder) {
    return error(byte_level_pre_tokenizer ? "decoder" : "pre_tokenizer",
                 "only byte-level BPE tokenizers are supported (a ByteLevel pre_tokenizer and "
                 "decoder, as Llama 3, Qwen2 and GPT-2 have)");
  }
  if (const auto it = root.find("post_processor"); it != root.end() && !it->is_null()) {
    KILN_RETURN_IF_ERROR(parse_post_processor(*it, "post_processor"));
  }
  if (const auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
    KILN_RETURN_IF_ERROR(parse_added_tokens(*it));
  }
  KILN_RETURN_IF_ERROR(build_token_tables());
  return std::move(parts_);
}

Status Parser::read_string(const json& object, const char* key, const std::string& field, std::string fallback,
                           std::string* out) const {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    *out = std::move(fallback);
    return ok_status();
  }
  if (!it->is_string()) return error(field + "." + key, "expected a string");
  *out = it->get<std::string>();
  return ok_status();
}

Status Parser::parse_model(const json& model, TokenizerJsonContents* contents) {
  const auto type = model.find("type");
  if (type != model.end() && (!type->is_string() || type->get<std::string>() != "BPE")) {
    return error("model.type", type->dump() + " is not supported (only \"BPE\")");
  }
  if (const auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    return error("model.dropout", "BPE dropout is not supported (expected null)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty())) {
      return error(std::string("model.") + key, "is not supported (expected null)");
    }
  }
  bool ignore_merges = false;
  KILN_RETURN_IF_ERROR(read_bool(model, "ignore_merges", "model", &ignore_merges));

  if (!contents->has_vocab) return error("model.vocab", "missing or not an object of token -> id");
  const size_t vocab_id_limit = id_limit(contents->vocab.size());
  for (auto& [token, id] : contents->vocab) {
    if (id < 0 || static_cast<size_t>(id) >= vocab_id_limit) {
      return error("model.vocab[\"" + token + "\"]", "expected an id from 0 to " + std::to_string(vocab_id_limit - 1) +
                                                      " (twice the vocabulary's " +
                                                      std::to_string(contents->vocab.size()) + " tokens plus 1024)");
    }
    if (static_cast<size_t>(id) >= vocab_text_.size()) vocab_text_.resize(id + 1);
    if (!vocab_text_[id].empty()) {
      return error("model.vocab[\"" + token + "\"]",
                   "id " + std::to_string(id) + " is also \"" + vocab_text_[id] + "\"");
    }
    vocab_text_[id] = std::move(token);
  }
  StringIdMap id_of_text;  // views of vocab_text_, which stays put from here on
  id_of_text.reserve(vocab_text_.size());
  std::vector<std::string> token_bytes(vocab_text_.size());
  for (size_t id = 0; id < vocab_text_.size(); ++id) {
    if (vocab_text_[id].empty()) continue;
    id_of_text.insert(vocab_text_[id], static_cast<int32_t>(id));
    // A token outside the byte alphabet can never come out of byte-level BPE; it keeps no
    // bytes in the model (decode uses its text as HF's ByteLevel decoder does).
    if (auto bytes = alphabet_.decode(vocab_text_[id])) token_bytes[id] = std::move(*bytes);
  }

  if (!contents->has_merges) return error("model.merges", "missing or not an array");
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(contents->merges.size());
  for (size_t rank = 0; rank < contents->merges.size(); ++rank) {
    const auto& [left, right] = contents->merges[rank];
    const int32_t left_id = id_of_text.find(left);
    const int32_t right_id = id_of_text.find(right);
    if (left_id < 0 || right_id < 0) {
      return error("model.merges[" + std::to_string(rank) + "]",
                   "token \"" + (left_id < 0 ? left : right) + "\" is not in model.vocab");
    }
    merges.emplace_back(left_id, right_id);
  }
  KILN_ASSIGN_OR_RETURN(parts_->model,
                        BpeModel::create(std::move(token_bytes), merges, ignore_merges, name_));
  return ok_status();
}

Status Parser::parse_normalizer(const json& normalizer, const std::string& field) {
  if (normalizer.is_null()) return ok_status();
  if (!normalizer.is_object()) return error(field, "expected an object or null");
  std::string type;
  KILN_RETURN_IF_ERROR(read_string(normalizer, "type", field, "", &type));
  if (type == "Sequence") {
    const auto list = normalizer.find("normalizers");
    if (list == normalizer.end() || !list->is_array()) {
      return error(field + ".normalizers", "missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(parse_normalizer((*list)[i], field + ".normalizers[" + std::to_string(i) + "]"));
    }
    return ok_status();
  }
  if (type == "NFC") {
    // Qwen2 normalizes to NFC. kiln does not (no Unicode normalization tables here); text that
    // is already NFC, as nearly all text is, encodes the same.
    KILN_LOG(Warning) << name_ << ": " << field
                      << ": NFC normalization is not applied; text not in NFC may encode "
                         "differently from HF tokenizers";
    return ok_status();
  }
  return error(field + ".type", "\"" + type + "\" is not supported (only null or NFC)");
}

Status Parser::parse_pre_tokenizer(const json& pre_tokenizer, const std::string& field,
                                   bool* byte_level_seen) {
  if (!pre_tokenizer.is_object()) return error(field, "expected an object");
  std::string type;
  KILN_RETURN_IF_ERROR(read_string(pre_tokenizer, "type", field, "", &type));
  if (type == "Sequence") {
    const auto list = pre_tokenizer.find("pretokenizers");
    if (list == pre_tokenizer.end() || !list->is_array()) {
      return error(field + ".pretokenizers", "missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(parse_pre_tokenizer(
          (*list)[i], field + ".pretokenizers[" + std::to_string(i) + "]", byte_level_seen));
    }
    return ok_status();
  }
  if (type == "Split") {
    const auto pattern = pre_tokenizer.find("pattern");
    if (pattern == pre_tokenizer.end() || !pattern->is_object()) {
      return error(field + ".pattern", "missing (expected {\"Regex\": ...} or {\"String\": ...})");
    }
    const bool literal = pattern->contains("String");
    const auto source = pattern->find(literal ? "String" : "Regex");
    if (source == pattern->end() || !source->is_string()) {
      return error(field + ".pattern", "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
    }
    std::string behavior;
    KILN_RETURN_IF_ERROR(read_string(pre_tokenizer, "behavior", field, "Isolated", &behavior));
    if (behavior != "Isolated" && behavior != "Removed") {
      return error(field + ".behavior", "\"" + behavior +
                                            "\" is not supported (only Isolated and Removed)");
    }
    bool invert = false;
    KILN_RETURN_IF_ERROR(read_bool(pre_tokenizer, "invert", field, &invert));
    if (invert) return error(field + ".invert", "true is not supported");
    KILN_ASSIGN_OR_RETURN(
        auto splitter,
        RegexSplitter::compile(source->get<std::string>(), literal,
                               behavior == "Isolated" ? SplitBehavior::kIsolated
                                                      : SplitBehavior::kRemoved,
                               name_ + ": " + field + ".pattern"));
    parts_->splits.push_back(std::move(splitter));
    return ok_status();
  }
  if (type == "ByteLevel") {
    bool add_prefix_space = true;  // tokenizers' default
    bool use_regex = true;
    KILN_RETURN_IF_ERROR(read_bool(pre_tokenizer, "add_prefix_space", field, &add_prefix_space));
    KILN_RETURN_IF_ERROR(read_bool(pre_tokenizer, "use_regex", field, &use_regex));
    if (!parts_->splits.empty() && add_prefix_space) {
      return error(field + ".add_prefix_space", "true after a Split is not supported");
    }
    parts_->add_prefix_space = add_prefix_space;
    if (use_regex) {
      KILN_ASSIGN_OR_RETURN(auto splitter,
                            RegexSplitter::compile(kGpt2Pattern, false, SplitBehavior::kIsolated,
                                                   name_ + ": " + field));
      parts_->splits.push_back(std::move(splitter));
    }
    *byte_level_seen = true;
    return ok_status();
  }
  return error(field + ".type", "\"" + type +
                                    "\" is not supported (only Sequence, Split and ByteLevel)");
}

Status Parser::parse_decoder(const json& decoder, const std::string& field,
                             bool* byte_level_seen) {
  if (!decoder.is_object()) return error(field, "expected an object");
  std::string type;
  KILN_RETURN_IF_ERROR(read_string(decoder, "type", field, "", &type));
  if (type == "ByteLevel") {
    *byte_level_seen = true;
    return ok_status();
  }
  if (type == "Sequence") {
    const auto list = decoder.find("decoders");
    if (list == decoder.end() || !list->is_array()) {
      return error(field + ".decoders", "missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(
          parse_decoder((*list)[i], field + ".decoders[" + std::to_string(i) + "]", byte_level_seen));
    }
    return ok_status();
  }
  return error(field + ".type", "\"" + type + "\" is not supported (only ByteLevel)");
}

Status Parser::parse_post_processor(const json& processor, const std::string& field) {
  if (!processor.is_object()) return error(field, "expected an object");
  std::string type;
  KILN_RETURN_IF_ERROR(read_string(processor, "type", field, "", &type));
  if (type == "ByteLevel") return ok_status();  // only adjusts offsets
  if (type == "Sequence") {
    const auto list = processor.find("processors");
    if (list == processor.end() || !list->is_array()) {
      return error(field + ".processors", "missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      KILN_RETURN_IF_ERROR(
          parse_post_processor((*list)[i], field + ".processors[" + std::to_string(i) + "]"));
    }
    return ok_status();
  }
  if (type != "TemplateProcessing") {
    return error(field + ".type", "\"" + type +
                                      "\" is not supported (only TemplateProcessing, ByteLevel "
                                      "and Sequence)");
  }
  const auto single = processor.find("single");
  const auto special_tokens = processor.find("special_tokens");
  if (single == processor.end() || !single->is_array()) {
    return error(field + ".single", "missing or not an array");
  }
  if (special_tokens == processor.end() || !special_tokens->is_object()) {
    return error(field + ".special_tokens", "missing or not an object");
  }
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const json& piece = (*single)[i];
    const std::string piece_field = field + ".single[" + std::to_string(i) + "]";
    if (piece.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    const auto special = piece.find("SpecialToken");
    if (special == piece.end() || !special->is_object() || !special->contains("id") ||
        !(*special)["id"].is_string()) {
      return error(piece_field, "expected {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}");
    }
    const auto name = (*special)["id"].get<std::string>();
    const auto entry = special_tokens->find(name);
    if (entry == special_tokens->end() || !entry->contains("ids") || !(*entry)["ids"].is_array()) {
      return error(field + ".special_tokens", "has no \"" + name + "\" with ids");
    }
    for (const json& id : (*entry)["ids"]) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24)) {
        return error(field + ".special_tokens[\"" + name + "\"].ids", "expected ids from 0 to 16777216");
      }
      (seen_sequence ? parts_->suffix_ids : parts_->prefix_ids).push_back(id.get<int32_t>());
    }
  }
  return ok_status();
}

Status Parser::parse_added_tokens(const json& tokens) {
  if (!tokens.is_array()) return error("added_tokens", "expected an array");
  const auto is_token = [](const std::string& text) { return !text.empty(); };
  const size_t num_tokens =
      static_cast<size_t>(std::count_if(vocab_text_.begin(), vocab_text_.end(), is_token)) + tokens.size();
  const int64_t added_id_limit = static_cast<int64_t>(id_limit(num_tokens));
  for (size_t i = 0; i < tokens.size(); ++i) {
    const json& token = tokens[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() ||
        token["id"].get<int64_t>() < 0 || token["id"].get<int64_t>() > (1 << 24) ||
        !token.contains("content") || !token["content"].is_string() ||
        token["content"].get_ref<const std::string&>().empty()) {
      return error(field, "expected {\"id\": N, \"content\": \"...\", ...} with a non-empty content");
    }
    if (token["id"].get<int64_t>() >= added_id_limit) {
      return error(field + ".id", "expected an id below " + std::to_string(added_id_limit) + " (twice the " +
                                      std::to_string(num_tokens) + " tokens plus 1024)");
    }
    AddedToken added;
    added.id = token["id"].get<int32_t>();
    added.content = token["content"].get<std::string>();
    KILN_RETURN_IF_ERROR(read_bool(token, "special", field, &added.special));
    KILN_RETURN_IF_ERROR(read_bool(token, "lstrip", field, &added.lstrip));
    KILN_RETURN_IF_ERROR(read_bool(token, "rstrip", field, &added.rstrip));
    KILN_RETURN_IF_ERROR(read_bool(token, "single_word", field, &added.single_word));
    parts_->added_tokens.push_back(std::move(added));
  }
  return ok_status();
}

Status Parser::build_token_tables() {
  TokenizerParts& parts = *parts_;
  size_t vocab_size = vocab_text_.size();
  for (const AddedToken& token : parts.added_tokens) {
    vocab_size = std::max(vocab_size, static_cast<size_t>(token.id) + 1);
  }
  parts.token_text.assign(vocab_size, std::string());
  parts.token_bytes.assign(vocab_size, std::string());
  parts.is_special.assign(vocab_size, 0);
  parts.is_added.assign(vocab_size, 0);
  parts.exists.assign(vocab_size, 0);
  auto set_token = [&](int32_t id, const std::string& text) {
    parts.token_text[id] = text;
    // HF's ByteLevel decoder maps a token's characters back to bytes, or keeps the token's
    // UTF-8 when some character is outside the alphabet ("<｜User｜>").
    auto bytes = alphabet_.decode(text);
    parts.token_bytes[id] = bytes ? std::move(*bytes) : text;
    parts.exists[id] = 1;
  };
  for (size_t id = 0; id < vocab_text_.size(); ++id) {
    if (!vocab_text_[id].empty()) set_token(static_cast<int32_t>(id), vocab_text_[id]);
  }
  for (const AddedToken& token : parts.added_tokens) {
    set_token(token.id, token.content);
    parts.is_added[token.id] = 1;
    parts.is_special[token.id] = token.special ? 1 : 0;
  }
  // token_to_id: an added token's content wins over a vocabulary token with the same text (as
  // in HF); the map keeps the first insert. token_text stays put from here on.
  parts.id_of_token.reserve(vocab_size);
  for (const AddedToken& token : parts.added_tokens) {
    parts.id_of_token.insert(parts.token_text[token.id], token.id);
  }
  for (size_t id = 0; id < vocab_size; ++id) {
    if (parts.exists[id]) parts.id_of_token.insert(parts.token_text[id], static_cast<int32_t>(id));
  }
  for (int32_t id : parts.prefix_ids) {
    if (static_cast<size_t>(id) >= vocab_size || !parts.exists[id]) {
      return error("post_processor", "special token id " + std::to_string(id) + " is not a token");
    }
  }
  for (int32_t id : parts.suffix_ids) {
    if (static_cast<size_t>(id) >= vocab_size || !parts.exists[id]) {
      return error("post_processor", "special token id " + std::to_string(id) + " is not a token");
    }
  }
  parts.added_token_matcher = std::make_unique<AddedTokenMatcher>(parts.added_tokens);
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<TokenizerParts>> parse_tokenizer_json(std::string_view json_text,
                                                             const std::string& name) {
  return Parser(name).parse(json_text);
}

}  // namespace kiln::tokenizer
