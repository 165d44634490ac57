#include "engine/spec/spec_decode_log.h"

#include <cstdio>

namespace kiln {

std::optional<std::string> format_spec_decode_line(const SpecDecodeCounters& now, const SpecDecodeCounters& before,
                                                   double elapsed_s) {
  const int64_t drafts = now.num_drafts - before.num_drafts;
  if (drafts <= 0 || elapsed_s <= 0) return std::nullopt;
  const int64_t drafted = now.num_draft_tokens - before.num_draft_tokens;
  const int64_t accepted = now.num_accepted_tokens - before.num_accepted_tokens;
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer),
                "SpecDecoding metrics: Mean acceptance length: %.2f, Accepted throughput: %.2f tokens/s, "
                "Drafted throughput: %.2f tokens/s, ",
                1.0 + static_cast<double>(accepted) / static_cast<double>(drafts), accepted / elapsed_s,
                drafted / elapsed_s);
  std::string line = buffer;
  line += "Accepted: " + std::to_string(accepted) + " tokens, Drafted: " + std::to_string(drafted) +
          " tokens, Per-position acceptance rate: ";
  for (size_t pos = 0; pos < now.num_accepted_tokens_per_pos.size(); ++pos) {
    const int64_t before_pos = pos < before.num_accepted_tokens_per_pos.size() ? before.num_accepted_tokens_per_pos[pos] : 0;
    std::snprintf(buffer, sizeof(buffer), "%s%.3f", pos > 0 ? ", " : "",
                  static_cast<double>(now.num_accepted_tokens_per_pos[pos] - before_pos) / static_cast<double>(drafts));
    line += buffer;
  }
  std::snprintf(buffer, sizeof(buffer), ", Avg Draft acceptance rate: %.1f%%",
                drafted > 0 ? 100.0 * static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0);
  line += buffer;
  return line;
}

}  // namespace kiln
