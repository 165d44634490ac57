// Stop strings on the detokenized text of one sequence, as vLLM does: a stop string may span
// token boundaries; text that could be the beginning of a stop string is held back from the
// stream until it either completes the stop string (finish) or cannot (released).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kiln {

class StopStringChecker {
 public:
  StopStringChecker() = default;
  StopStringChecker(std::vector<std::string> stop, bool include_stop_str_in_output);

  // Appends newly detokenized text and returns the part that is now safe to stream. With
  // `check` false (before min_tokens) stop strings are not matched, but partial matches are
  // still held back. After a match, matched() is set and the text is cut at the stop string
  // (kept when include_stop_str_in_output).
  std::string append(const std::string& delta, bool check = true);
  // Releases the held-back text, when the sequence ends for another reason.
  std::string flush();
  const std::optional<std::string>& matched() const { return matched_; }
  const std::string& text() const { return text_; }

 private:
  std::vector<std::string> stop_;
  bool include_stop_str_ = false;
  std::string text_;
  size_t emitted_ = 0;
  std::optional<std::string> matched_;
};

}  // namespace kiln
