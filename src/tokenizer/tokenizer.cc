#include "tokenizer/tokenizer.h"

#include "tokenizer/read_file.h"
#include "tokenizer/tokenizer_parts.h"
#include "base/utf8.h"

namespace kiln::tokenizer {


Tokenizer::Tokenizer(std::unique_ptr<TokenizerParts> parts) : parts_(std::move(parts)) {}
Tokenizer::~Tokenizer() = default;

Result<std::shared_ptr<const Tokenizer>> Tokenizer::load(
    const std::filesystem::path& tokenizer_json) {
  KILN_ASSIGN_OR_RETURN(const std::string text, read_file(tokenizer_json));
  return from_json_text(text, tokenizer_json.string());
}

Result<std::shared_ptr<const Tokenizer>> Tokenizer::from_json_text(std::string_view json_text,
                                                                   const std::string& name) {
  KILN_ASSIGN_OR_RETURN(auto parts, parse_tokenizer_json(json_text, name));
  return std::shared_ptr<const Tokenizer>(std::make_shared<Tokenizer>(std::move(parts)));
}

Status Tokenizer::encode_text(std::string_view text, std::vector<std::string_view>* pieces,
                              std::vector<int32_t>* ids) const {
  std::string prefixed;
  if (parts_->add_prefix_space && !text.empty() && text[0] != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed += ' ';
    prefixed += text;
    text = prefixed;
  }
  pieces->clear();
  pieces->push_back(text);
  std::vector<std::string_view> next;
  Status status = ok_status();
  for (const auto& split : parts_->splits) {
    next.clear();
    for (std::string_view piece : *pieces) {
      Status piece_status = split.split(piece, &next);
      if (status.ok() && !piece_status.ok()) status = std::move(piece_status);
    }
    pieces->swap(next);
  }
  if (!status.ok()) return status;
  for (std::string_view piece : *pieces) parts_->model->encode_word(piece, ids);
  return ok_status();
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  // A text the pre-tokenizer cannot split within its limits is encoded with the unsplit rest as
  // one word (BPE merges it in O(n log n)): never an abort.
  std::vector<int32_t> ids;
  (void)encode_impl(text, add_special_tokens, /*stop_at_error=*/false, &ids);
  return ids;
}

Result<std::vector<int32_t>> Tokenizer::encode_checked(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  KILN_RETURN_IF_ERROR(encode_impl(text, add_special_tokens, /*stop_at_error=*/true, &ids));
  return ids;
}

Status Tokenizer::encode_impl(std::string_view text, bool add_special_tokens, bool stop_at_error,
                              std::vector<int32_t>* out) const {
  std::string valid;
  if (!is_valid_utf8(text)) {
    valid = utf8_lossy(text);
    text = valid;
  }
  std::vector<int32_t>& ids = *out;
  ids.clear();
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids = parts_->prefix_ids;
  std::vector<TextSegment> segments;
  parts_->added_token_matcher->split(text, &segments);
  std::vector<std::string_view> pieces;
  for (const TextSegment& segment : segments) {
    if (segment.added_token_id >= 0) {
      ids.push_back(segment.added_token_id);
      continue;
    }
    Status status = encode_text(segment.text, &pieces, &ids);
    if (!status.ok()) {
      if (stop_at_error) return status;
      // The fallback: the pieces split so far and the unsplit rest, merged as words.
      for (std::string_view piece : pieces) parts_->model->encode_word(piece, &ids);
    }
  }
  if (add_special_tokens) {
    ids.insert(ids.end(), parts_->suffix_ids.begin(), parts_->suffix_ids.end());
  }
  return ok_status();
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= parts_->exists.size() || !parts_->exists[id]) {
      continue;
    }
    if (skip_special_tokens && parts_->is_special[id]) continue;
    bytes += parts_->token_bytes[id];
  }
  if (is_valid_utf8(bytes)) return bytes;
  return utf8_lossy(bytes);
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= parts_->token_bytes.size()) return {};
  return parts_->token_bytes[id];
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= parts_->exists.size() || !parts_->exists[id]) {
    return std::nullopt;
  }
  return parts_->token_text[id];
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const int32_t id = parts_->id_of_token.find(token);
  if (id < 0) return std::nullopt;
  return id;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < parts_->is_special.size() && parts_->is_special[id];
}

bool Tokenizer::is_added_token(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < parts_->is_added.size() && parts_->is_added[id];
}

int Tokenizer::vocab_size() const { return static_cast<int>(parts_->exists.size()); }

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return parts_->added_tokens;
}

std::optional<int32_t> Tokenizer::bos_token_id() const {
  if (parts_->prefix_ids.empty()) return std::nullopt;
  return parts_->prefix_ids.front();
}

const std::vector<int32_t>& Tokenizer::prefix_special_ids() const { return parts_->prefix_ids; }
const std::vector<int32_t>& Tokenizer::suffix_special_ids() const { return parts_->suffix_ids; }

}  // namespace kiln::tokenizer
