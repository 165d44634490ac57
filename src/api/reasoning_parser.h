// The deepseek_r1 reasoning parser, as vLLM's: the model's output is split at "</think>" into
// reasoning (before) and content (after). Text before "</think>" is reasoning even without an
// opening "<think>" (the R1 chat template puts "<think>\n" in the prompt); a "<think>" at the
// very start is dropped; without "</think>" everything is reasoning and content is null.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kiln::api {

enum class ReasoningParserKind { kNone, kDeepSeekR1 };

// "deepseek_r1" or "none"/"" ; nullopt for unknown names.
std::optional<ReasoningParserKind> parse_reasoning_parser_name(std::string_view name);

struct ReasoningSplit {
  std::optional<std::string> reasoning;
  std::optional<std::string> content;
};

// The whole output at once (non-streaming responses). Empty content after "</think>" is null.
ReasoningSplit split_reasoning(std::string_view output);

// The same split over deltas. Text that could be the start of a tag is held back until the
// next delta decides it, so any split of the output into deltas gives the same text in total as
// split_reasoning.
class ReasoningStreamParser {
 public:
  // The parts of this delta; fields are unset when empty.
  ReasoningSplit feed(std::string_view delta);
  // Releases held-back text at the end of the stream.
  ReasoningSplit flush();

 private:
  ReasoningSplit emit(std::string_view text, bool final);

  std::string pending_;
  bool seen_end_ = false;
  bool seen_start_or_text_ = false;  // past the point where a leading "<think>" is dropped
};

}  // namespace kiln::api
