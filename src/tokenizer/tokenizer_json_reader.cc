#include "tokenizer/tokenizer_json_reader.h"

namespace kiln::tokenizer {
namespace {

using json = nlohmann::json;

// SAX handler: builds the tree like nlohmann's own DOM parser, except inside model.vocab and
// model.merges, whose entries it collects directly.
class Handler : public nlohmann::json_sax<json> {
 public:
  Handler(TokenizerJsonContents* out, size_t text_bytes) : out_(out), text_bytes_(text_bytes) {}

  const std::string& error() const { return error_; }

  bool null() override { return value(json()); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id(v);
    return value(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id(static_cast<int64_t>(v));
    return value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool binary(binary_t&) override { return fail("unexpected binary value"); }

  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) {
      if (pair_depth_ == 0) {
        // "a b": split later, where the error can name the merge.
        out_->merges.emplace_back(std::move(v), std::string());
        merge_is_pair_.push_back(false);
        return true;
      }
      pair_.push_back(std::move(v));
      return true;
    }
    if (mode_ == Mode::kVocab) return fail_vocab();
    return value(json(std::move(v)));
  }

  bool start_object(std::size_t) override {
    if (mode_ != Mode::kTree) return mode_ == Mode::kVocab ? fail_vocab() : fail_merge();
    if (stack_.size() == 1 && key_ == "model") in_model_ = true;
    return open(json::object());
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kTree;
      return true;
    }
    stack_.pop_back();
    if (stack_.size() == 1) in_model_ = false;
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      if (pair_depth_ > 0) return fail_merge();
      pair_depth_ = 1;
      pair_.clear();
      return true;
    }
    if (mode_ == Mode::kVocab) return fail_vocab();
    return open(json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMerges) {
      if (pair_depth_ == 0) {
        mode_ = Mode::kTree;
        return true;
      }
      pair_depth_ = 0;
      if (pair_.size() != 2) return fail_merge();
      out_->merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      merge_is_pair_.push_back(true);
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    if (error_.empty()) error_ = "not valid JSON (byte " + std::to_string(position) + "): " + e.what();
    return false;
  }

  const std::vector<bool>& merge_is_pair() const { return merge_is_pair_; }

 private:
  enum class Mode { kTree, kVocab, kMerges };

  bool fail(const std::string& message) {
    error_ = message;
    return false;
  }
  bool fail_vocab() {
    return fail("model.vocab[\"" + key_ + "\"]: expected a token id");
  }
  bool fail_merge() {
    return fail("model.merges[" + std::to_string(out_->merges.size()) +
                "]: expected \"a b\" or [\"a\", \"b\"]");
  }
  bool vocab_id(int64_t id) {
    out_->vocab.emplace_back(key_, id);
    return true;
  }

  // Inserts a scalar where the parser stands.
  bool value(json v) {
    if (mode_ == Mode::kVocab) return fail_vocab();
    if (mode_ == Mode::kMerges) return fail_merge();
    insert(std::move(v));
    return true;
  }
  // Inserts a container and descends into it, unless it is the vocab or merges.
  bool open(json container) {
    if (in_model_ && stack_.size() == 2 && stack_.back()->is_object()) {
      if (key_ == "vocab" && container.is_object()) {
        out_->has_vocab = true;
        mode_ = Mode::kVocab;
        out_->vocab.reserve(text_bytes_ / 32);
        return true;
      }
      if (key_ == "merges" && container.is_array()) {
        out_->has_merges = true;
        mode_ = Mode::kMerges;
        // Growing the vector would move every string several times; a merge takes at least
        // ~12 bytes of the file ("\"a b\", " and indentation).
        out_->merges.reserve(text_bytes_ / 12);
        merge_is_pair_.reserve(text_bytes_ / 12);
        return true;
      }
    }
    stack_.push_back(insert(std::move(container)));
    return true;
  }
  json* insert(json v) {
    if (stack_.empty()) {
      out_->rest = std::move(v);
      return &out_->rest;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }

  TokenizerJsonContents* out_;
  size_t text_bytes_;
  std::vector<json*> stack_;
  std::string key_;
  bool in_model_ = false;
  Mode mode_ = Mode::kTree;
  int pair_depth_ = 0;
  std::vector<std::string> pair_;
  std::vector<bool> merge_is_pair_;
  std::string error_;
};

}  // namespace

Result<TokenizerJsonContents> read_tokenizer_json(std::string_view text, const std::string& name) {
  TokenizerJsonContents contents;
  Handler handler(&contents, text.size());
  const bool ok = json::sax_parse(text.begin(), text.end(), &handler);
  if (!ok) {
    return Status::error(name + ": " + (handler.error().empty() ? "not valid JSON" : handler.error()));
  }
  // "a b" merges are split here so that the error can name the merge.
  const auto& is_pair = handler.merge_is_pair();
  for (size_t rank = 0; rank < contents.merges.size(); ++rank) {
    if (is_pair[rank]) continue;
    auto& [left, right] = contents.merges[rank];
    const size_t space = left.find(' ');
    if (space == std::string::npos || left.find(' ', space + 1) != std::string::npos) {
      return Status::error(name + ": model.merges[" + std::to_string(rank) + "]: \"" + left +
                           "\" is not two tokens separated by one space");
    }
    right = left.substr(space + 1);
    left.resize(space);
  }
  return contents;
}

}  // namespace kiln::tokenizer
