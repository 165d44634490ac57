#include "engine/spec/ngram_proposer.h"

#include <algorithm>

namespace kiln {

std::vector<int32_t> find_ngram_drafts(std::span<const int32_t> tokens, int min_n, int max_n, int max_drafts) {
  const int length = static_cast<int>(tokens.size());
  if (max_drafts <= 0 || min_n < 1 || length < min_n + 1) return {};
  const int32_t last = tokens[static_cast<size_t>(length - 1)];
  int best_n = 0, best_end = -1;
  // An occurrence ending at `end` (before the suffix's own last token) matches for m tokens;
  // only the earliest of the longest counts, so a later one must be strictly longer.
  for (int end = 0; end < length - 1; ++end) {
    if (tokens[static_cast<size_t>(end)] != last) continue;
    int m = 1;
    const int limit = std::min(max_n, end + 1);
    while (m < limit && tokens[static_cast<size_t>(end - m)] == tokens[static_cast<size_t>(length - 1 - m)]) ++m;
    if (m > best_n) {
      best_n = m;
      best_end = end;
      if (m == max_n) break;  // nothing later can be longer
    }
  }
  if (best_n < min_n) return {};
  const int begin = best_end + 1;
  const int end = std::min(length, begin + max_drafts);
  return std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + end);
}

}  // namespace kiln
