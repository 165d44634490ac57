// Token classes shared by every grammar compiled for one vocabulary. A state of a rule that
// refers to no other rule is classified from its rule's automaton alone, so equal states of different
// grammars -- the content of a JSON string, the last counts of a maxLength string, a date
// format -- are classified once per process instead of once per schema. (Leaf rules are
// classified as if any byte could follow them; token_classifier.h.) Thread-safe; bounded
// in memory (once full it stops adding).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "grammar/automaton.h"
#include "grammar/token_classifier.h"

namespace kiln::grammar {

struct StateFingerprint {
  uint64_t a = 0;
  uint64_t b = 0;
  friend bool operator==(const StateFingerprint&, const StateFingerprint&) = default;
};

// A leaf rule written canonically (its DFA from the start, states numbered as met, transitions
// as maximal byte ranges) as two independent 64-bit hashes; a state is then
// keyed by the rule's hashes and its number. Equal keys: equal token classes in any grammar.
struct RuleFingerprint {
  StateFingerprint rule;
  std::unordered_map<int32_t, int32_t> number;  // state -> its number in the canonical order
  std::optional<StateFingerprint> state_key(int32_t state) const;
};

// Nullopt for rules with references or more than `max_states` states.
std::optional<RuleFingerprint> leaf_rule_fingerprint(const Automaton& automaton, RuleId rule, int max_states = 200000);

class TokenClassCache {
 public:
  explicit TokenClassCache(size_t max_bytes = size_t{256} << 20) : max_bytes_(max_bytes) {}

  std::shared_ptr<const StateTokens> find(const StateFingerprint& key) const;
  // Keeps `tokens` unless full or another thread got there first; returns the cached entry (or
  // `tokens` when not kept).
  std::shared_ptr<const StateTokens> insert(const StateFingerprint& key, std::shared_ptr<const StateTokens> tokens);
  size_t memory_bytes() const;
  size_t size() const;

 private:
  struct Hash {
    size_t operator()(const StateFingerprint& f) const { return static_cast<size_t>(f.a ^ (f.b * 0x9e3779b97f4a7c15ULL)); }
  };
  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::unordered_map<StateFingerprint, std::shared_ptr<const StateTokens>, Hash> entries_;
  size_t bytes_ = 0;
};

size_t state_tokens_bytes(const StateTokens& tokens);

}  // namespace kiln::grammar
