#include "engine/stop_string_checker.h"

#include <algorithm>

namespace kiln {

StopStringChecker::StopStringChecker(std::vector<std::string> stop, bool include_stop_str_in_output)
    : include_stop_str_(include_stop_str_in_output) {
  for (std::string& s : stop) {
    if (!s.empty()) stop_.push_back(std::move(s));
  }
}

std::string StopStringChecker::append(const std::string& delta, bool check) {
  if (matched_) return "";
  const size_t previous = text_.size();
  text_ += delta;
  if (check) {
    size_t best = std::string::npos;
    const std::string* best_stop = nullptr;
    for (const std::string& s : stop_) {
      // Only a match that ends in the new text is new.
      const size_t from = previous >= s.size() - 1 ? previous - (s.size() - 1) : 0;
      const size_t pos = text_.find(s, from);
      if (pos != std::string::npos && pos < best) {
        best = pos;
        best_stop = &s;
      }
    }
    if (best_stop != nullptr) {
      matched_ = *best_stop;
      const size_t end = include_stop_str_ ? best + best_stop->size() : best;
      text_.resize(std::max(end, emitted_));
      std::string out = text_.substr(emitted_);
      emitted_ = text_.size();
      return out;
    }
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stop_) {
    for (size_t k = std::min(s.size() - 1, text_.size()); k > hold; --k) {
      if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  const size_t safe_end = std::max(emitted_, text_.size() - hold);
  std::string out = text_.substr(emitted_, safe_end - emitted_);
  emitted_ = safe_end;
  return out;
}

std::string StopStringChecker::flush() {
  std::string out = text_.substr(emitted_);
  emitted_ = text_.size();
  return out;
}

}  // namespace kiln
