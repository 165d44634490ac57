#include "tokenizer/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>

#include "base/check.h"
#include "base/utf8.h"

namespace kiln::tokenizer {
namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};
struct JitStackDeleter {
  void operator()(pcre2_jit_stack* stack) const { pcre2_jit_stack_free(stack); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};

// Runs the matches of one split with limits set deliberately, so that a pathological pattern or
// input fails that call instead of running away or aborting the process:
// - the match limit (backtracking steps per match) grows with the subject, so that a linear
//   backtrack over a long run (the Llama-3 pattern over megabytes of whitespace) succeeds while
//   exponential backtracking (a tokenizer.json with `(a+)+$`) fails within milliseconds;
// - the JIT stack starts at PCRE2's 32 KiB and grows onto the heap up to 64 MiB per call;
// - the interpreter (PCRE2 without JIT) gets the same step limit and a bounded heap.
class Matcher {
 public:
  Matcher(const pcre2_code* code, bool jit, size_t subject_bytes)
      : code_(code),
        jit_(jit),
        data_(pcre2_match_data_create(1, nullptr)),
        context_(pcre2_match_context_create(nullptr)) {
    KILN_CHECK(data_ != nullptr && context_ != nullptr) << "out of memory";
    pcre2_set_match_limit(context_.get(), static_cast<uint32_t>(std::min<size_t>(
                                              std::max<size_t>(kMinMatchLimit, 16 * subject_bytes), UINT32_MAX)));
    pcre2_set_depth_limit(context_.get(), kDepthLimit);
    pcre2_set_heap_limit(context_.get(), kHeapLimitKib);
  }

  // Finds the next match at or after `offset`: 1 if found, 0 if none, or PCRE2's (negative)
  // error code.
  int next(std::string_view text, size_t offset, size_t* start, size_t* end) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), offset, 0, data_.get(), context_.get())
                  : pcre2_match(code_, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data_.get(), context_.get());
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && jit_ && !stack_) {
      stack_.reset(pcre2_jit_stack_create(1 << 20, kMaxJitStackBytes, nullptr));
      if (!stack_) return PCRE2_ERROR_NOMEMORY;
      pcre2_jit_stack_assign(context_.get(), nullptr, stack_.get());
      rc = pcre2_jit_match(code_, subject, text.size(), offset, 0, data_.get(), context_.get());
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return rc;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data_.get());
    *start = ovector[0];
    *end = ovector[1];
    return 1;
  }

 private:
  static constexpr size_t kMinMatchLimit = 10'000'000;  // PCRE2's default
  static constexpr uint32_t kDepthLimit = 10'000'000;
  static constexpr uint32_t kHeapLimitKib = 64 << 10;
  static constexpr size_t kMaxJitStackBytes = 64 << 20;

  const pcre2_code* code_;
  bool jit_;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data_;
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context_;
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack_;
};

}  // namespace

void RegexSplitter::CodeDeleter::operator()(pcre2_real_code_8* code) const {
  pcre2_code_free(code);
}

std::string widen_whitespace_classes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (next == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      // "[^]..." and "[]...": a ']' right after the opening is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
    } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t close = pattern.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out.append(pattern.substr(i + 1, close + 2 - (i + 1)));
        i = close + 1;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

Result<RegexSplitter> RegexSplitter::compile(std::string_view pattern, bool literal,
                                             SplitBehavior behavior, const std::string& where) {
  const std::string source = literal ? std::string(pattern) : widen_whitespace_classes(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error_code, buffer, sizeof(buffer));
    return Status::error(where + ": invalid regex at offset " + std::to_string(error_offset) +
                         ": " + reinterpret_cast<const char*>(buffer));
  }
  std::unique_ptr<pcre2_real_code_8, CodeDeleter> owned(code);
  // Without JIT (e.g. a PCRE2 built without it) matching is slower but still correct.
  const bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return RegexSplitter(std::move(owned), jit, behavior);
}

Status RegexSplitter::split(std::string_view text, std::vector<std::string_view>* pieces) const {
  Matcher matcher(code_.get(), jit_, text.size());
  size_t offset = 0;
  size_t gap_start = 0;
  size_t start;
  size_t end;
  while (offset < text.size()) {
    const int found = matcher.next(text, offset, &start, &end);
    if (found < 0) {
      // Keep what was split and the rest as one piece, for callers that go on regardless.
      pieces->push_back(text.substr(gap_start));
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(found, message, sizeof(message));
      return Status::error("the pre-tokenizer's regex failed at byte " + std::to_string(offset) + " of a " +
                           std::to_string(text.size()) + "-byte text: " + reinterpret_cast<const char*>(message));
    }
    if (found == 0) break;
    if (end == start) {
      // An empty match cuts nothing; go on after the next character.
      if (start >= text.size()) break;
      offset = start;
      next_code_point(text, &offset);
      continue;
    }
    if (start > gap_start) pieces->push_back(text.substr(gap_start, start - gap_start));
    if (behavior_ == SplitBehavior::kIsolated) pieces->push_back(text.substr(start, end - start));
    offset = gap_start = end;
  }
  if (gap_start < text.size()) pieces->push_back(text.substr(gap_start));
  return ok_status();
}

}  // namespace kiln::tokenizer
