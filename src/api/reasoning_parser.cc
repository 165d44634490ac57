#include "api/reasoning_parser.h"

namespace kiln::api {
namespace {

constexpr std::string_view kStart = "<think>";
constexpr std::string_view kEnd = "</think>";

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

std::optional<ReasoningParserKind> parse_reasoning_parser_name(std::string_view name) {
  if (name.empty() || name == "none") return ReasoningParserKind::kNone;
  if (name == "deepseek_r1") return ReasoningParserKind::kDeepSeekR1;
  return std::nullopt;
}

ReasoningSplit split_reasoning(std::string_view output) {
  // An opening "<think>" is dropped. vLLM drops up to the first "<think>" anywhere, but its
  // streaming path cannot do that (the text before it was already sent), so both of ours drop
  // it only at the very start and stay equal to each other.
  if (output.substr(0, kStart.size()) == kStart) output = output.substr(kStart.size());
  ReasoningSplit split;
  const size_t end = output.find(kEnd);
  if (end == std::string_view::npos) {
    split.reasoning = std::string(output);
    return split;
  }
  split.reasoning = std::string(output.substr(0, end));
  std::string_view content = output.substr(end + kEnd.size());
  if (!content.empty()) split.content = std::string(content);
  return split;
}

ReasoningSplit ReasoningStreamParser::feed(std::string_view delta) {
  pending_.append(delta);
  return emit(pending_, false);
}

ReasoningSplit ReasoningStreamParser::flush() { return emit(pending_, true); }

ReasoningSplit ReasoningStreamParser::emit(std::string_view, bool final) {
  ReasoningSplit out;
  auto append = [](std::optional<std::string>& field, std::string_view text) {
    if (text.empty()) return;
    if (!field) field.emplace();
    field->append(text);
  };
  if (seen_end_) {
    append(out.content, pending_);
    pending_.clear();
    return out;
  }
  std::string_view text = pending_;
  if (!seen_start_or_text_) {
    // Hold while the output so far could still be the start of a leading "<think>".
    if (text.size() < kStart.size() && kStart.substr(0, text.size()) == text && !final) return out;
    if (text.substr(0, kStart.size()) == kStart) text = text.substr(kStart.size());
    seen_start_or_text_ = true;
  }
  const size_t end = text.find(kEnd);
  if (end != std::string_view::npos) {
    append(out.reasoning, text.substr(0, end));
    append(out.content, text.substr(end + kEnd.size()));
    seen_end_ = true;
    pending_.clear();
    return out;
  }
  const size_t hold = final ? 0 : partial_tag_suffix(text, kEnd);
  append(out.reasoning, text.substr(0, text.size() - hold));
  pending_ = std::string(text.substr(text.size() - hold));
  return out;
}

}  // namespace kiln::api
