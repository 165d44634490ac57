#include "grammar/token_class_cache.h"

#include <vector>

namespace kiln::grammar {
namespace {

class TwoHashes {
 public:
  void add(uint64_t v) {
    a_ = (a_ ^ v) * 0x100000001b3ULL;
    a_ ^= a_ >> 29;
    b_ = (b_ + v + 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
    b_ ^= b_ >> 31;
  }
  StateFingerprint get() const { return {a_, b_}; }

 private:
  uint64_t a_ = 0xcbf29ce484222325ULL;
  uint64_t b_ = 0x94d049bb133111ebULL;
};

}  // namespace

size_t state_tokens_bytes(const StateTokens& tokens) {
  return tokens.accepted.memory_bytes() + tokens.uncertain.size() * sizeof(int32_t) +
         tokens.exit_begin.size() * sizeof(int32_t) + tokens.exit_rests.size() * sizeof(int32_t) +
         tokens.rests.size() * sizeof(TokenRest);
}

std::optional<StateFingerprint> RuleFingerprint::state_key(int32_t state) const {
  auto it = number.find(state);
  if (it == number.end()) return std::nullopt;
  TwoHashes h;
  h.add(rule.a);
  h.add(rule.b);
  h.add(static_cast<uint64_t>(it->second));
  return h.get();
}

std::optional<RuleFingerprint> leaf_rule_fingerprint(const Automaton& a, RuleId rule, int max_states) {
  if (!a.rule_is_leaf(rule)) return std::nullopt;
  // Byte intervals of one class: every state treats each interval alike.
  std::vector<int> interval_starts;
  for (int b = 0; b < 256; ++b) {
    if (b == 0 || a.byte_class(static_cast<uint8_t>(b)) != a.byte_class(static_cast<uint8_t>(b - 1))) interval_starts.push_back(b);
  }
  RuleFingerprint out;
  const int32_t start = a.rule_start(rule);
  std::vector<int32_t> queue{start};
  out.number[start] = 0;
  TwoHashes h;
  for (size_t i = 0; i < queue.size(); ++i) {
    const int32_t s = queue[i];
    h.add(a.accepting(s) ? 1 : 2);
    int range_start = 0;
    int64_t range_target = -2;
    auto flush = [&](int end) {
      if (range_target != -2) {
        h.add((static_cast<uint64_t>(range_start) << 8) | static_cast<uint64_t>(end - 1));
        h.add(static_cast<uint64_t>(range_target + 1));
      }
    };
    for (int b : interval_starts) {
      const int32_t t = a.next(s, static_cast<uint8_t>(b));
      int64_t id = -1;
      if (t >= 0) {
        auto [it, inserted] = out.number.emplace(t, static_cast<int32_t>(out.number.size()));
        if (inserted) {
          if (static_cast<int>(out.number.size()) > max_states) return std::nullopt;
          queue.push_back(t);
        }
        id = it->second;
      }
      if (id != range_target) {
        flush(b);
        range_start = b;
        range_target = id;
      }
    }
    flush(256);
  }
  out.rule = h.get();
  return out;
}

std::shared_ptr<const StateTokens> TokenClassCache::find(const StateFingerprint& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second;
}

std::shared_ptr<const StateTokens> TokenClassCache::insert(const StateFingerprint& key, std::shared_ptr<const StateTokens> tokens) {
  const size_t bytes = state_tokens_bytes(*tokens);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end()) return it->second;
  if (bytes_ + bytes > max_bytes_) return tokens;
  bytes_ += bytes;
  entries_.emplace(key, tokens);
  return tokens;
}

size_t TokenClassCache::memory_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

size_t TokenClassCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace kiln::grammar
