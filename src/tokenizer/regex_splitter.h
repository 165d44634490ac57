// One `Split` pre-tokenizer step: a PCRE2 regex (compiled once, JIT) that cuts text into
// pieces the way HF tokenizers' Split does with behavior "Isolated" (matches and the gaps
// between them are pieces) or "Removed" (matches are dropped).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct pcre2_real_code_8;

namespace kiln::tokenizer {

enum class SplitBehavior { kIsolated, kRemoved };

class RegexSplitter {
 public:
  // `pattern` is a regex as HF writes it (Oniguruma syntax, which PCRE2 reads the same for the
  // patterns tokenizers use); `literal` makes it a plain string. `where` names the field for
  // error messages.
  static Result<RegexSplitter> compile(std::string_view pattern, bool literal,
                                       SplitBehavior behavior, const std::string& where);

  // Appends the pieces of `text` (valid UTF-8) to *pieces, in order. A match that exceeds the
  // matcher's limits (a pathological pattern or input) is an error; the pieces then end with
  // the unsplit rest of the text.
  Status split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  RegexSplitter(std::unique_ptr<pcre2_real_code_8, CodeDeleter> code, bool jit,
                SplitBehavior behavior)
      : code_(std::move(code)), jit_(jit), behavior_(behavior) {}

  std::unique_ptr<pcre2_real_code_8, CodeDeleter> code_;
  bool jit_;
  SplitBehavior behavior_;
};

// HF (Oniguruma) reads \s as Unicode White_Space, which includes U+0085; PCRE2's \s with UCP
// does not. Returns the pattern with \s and \S widened by U+0085 so both engines agree.
std::string widen_whitespace_classes(std::string_view pattern);

}  // namespace kiln::tokenizer
