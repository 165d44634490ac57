#include "hub/file_selection.h"

namespace kiln::hub {
namespace {

// Matches a [...] set starting at pattern[*index] (just after '['); advances *index past ']'.
// Returns false in *well_formed when there is no closing ']' (then '[' is a literal, as Python).
bool match_set(const std::string& pattern, size_t* index, char c, bool* well_formed) {
  size_t i = *index;
  bool negate = false;
  if (i < pattern.size() && pattern[i] == '!') {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < pattern.size() && (first || pattern[i] != ']')) {
    first = false;
    char low = pattern[i];
    char high = low;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      high = pattern[i + 2];
      i += 3;
    } else {
      ++i;
    }
    if (low <= c && c <= high) matched = true;
  }
  if (i >= pattern.size()) {
    *well_formed = false;
    return false;
  }
  *well_formed = true;
  *index = i + 1;
  return matched != negate;
}

bool match_from(const std::string& pattern, size_t p, const std::string& text, size_t t) {
  while (p < pattern.size()) {
    const char pc = pattern[p];
    if (pc == '*') {
      while (p < pattern.size() && pattern[p] == '*') ++p;
      if (p == pattern.size()) return true;
      for (size_t k = t; k <= text.size(); ++k) {
        if (match_from(pattern, p, text, k)) return true;
      }
      return false;
    }
    if (t >= text.size()) return false;
    if (pc == '?') {
      ++p;
      ++t;
      continue;
    }
    if (pc == '[') {
      size_t next = p + 1;
      bool well_formed = true;
      const bool matched = match_set(pattern, &next, text[t], &well_formed);
      if (well_formed) {
        if (!matched) return false;
        p = next;
        ++t;
        continue;
      }
    }
    if (pc != text[t]) return false;
    ++p;
    ++t;
  }
  return t == text.size();
}

}  // namespace

bool fnmatch(const std::string& pattern, const std::string& path) {
  if (!pattern.empty() && pattern.back() == '/') return match_from(pattern + "*", 0, path, 0);
  return match_from(pattern, 0, path, 0);
}

const std::vector<std::string>& default_patterns() {
  static const std::vector<std::string> kPatterns = {
      "config.json",          "generation_config.json",  "tokenizer.json",
      "tokenizer_config.json", "special_tokens_map.json", "*.safetensors",
      "model.safetensors.index.json"};
  return kPatterns;
}

bool is_selected(const std::string& path, const std::vector<std::string>& include_patterns) {
  if (path.find('/') == std::string::npos) {
    for (const std::string& pattern : default_patterns()) {
      if (fnmatch(pattern, path)) return true;
    }
  }
  for (const std::string& pattern : include_patterns) {
    if (fnmatch(pattern, path)) return true;
  }
  return false;
}

}  // namespace kiln::hub
