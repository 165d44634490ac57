// A grammar compiled for one vocabulary: its automaton plus the per-state token classes
// (grammar/token_classifier.h), computed on first use and kept for every later sequence that uses
// the same grammar, so that a mask costs one cached set per active state plus the few uncertain
// tokens. Immutable from the outside and safe to share between threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "grammar/automaton.h"
#include "grammar/token_class_cache.h"
#include "grammar/token_classifier.h"
#include "grammar/vocabulary.h"

namespace kiln::grammar {

class CompiledGrammar {
 public:
  // `shared_classes` (optional) holds the classes of leaf-rule states across grammars.
  CompiledGrammar(Automaton automaton, std::shared_ptr<const Vocabulary> vocabulary,
                  std::shared_ptr<TokenClassCache> shared_classes = nullptr);
  CompiledGrammar(const CompiledGrammar&) = delete;
  CompiledGrammar& operator=(const CompiledGrammar&) = delete;

  const Automaton& automaton() const { return automaton_; }
  const Vocabulary& vocabulary() const { return *vocabulary_; }
  const std::shared_ptr<const Vocabulary>& vocabulary_ptr() const { return vocabulary_; }

  // The token classes of `state` (a state with byte edges); computed once, from any thread.
  const StateTokens& state_tokens(int32_t state) const;
  // The uncertain tokens of `state` narrowed for the caller at `caller_state`.
  const CallerTokens& caller_tokens(int32_t state, int32_t caller_state) const;
  // Classifies every state with byte edges now (a compile that can afford it up front).
  void classify_all_states() const;
  // States classified so far and the memory their classes take.
  int num_classified_states() const { return num_classified_.load(std::memory_order_relaxed); }
  size_t cache_memory_bytes() const { return cache_bytes_.load(std::memory_order_relaxed); }

 private:
  Automaton automaton_;
  std::shared_ptr<const Vocabulary> vocabulary_;
  // The key of `state` in shared_classes_, when its rule is a leaf (fingerprinted once per rule).
  std::optional<StateFingerprint> shared_key(int32_t state) const;

  std::shared_ptr<TokenClassCache> shared_classes_;
  mutable std::mutex fingerprint_mutex_;
  mutable std::unordered_map<RuleId, std::optional<RuleFingerprint>> rule_fingerprints_;
  std::unique_ptr<std::atomic<const StateTokens*>[]> state_tokens_;
  mutable std::mutex owned_mutex_;
  mutable std::vector<std::shared_ptr<const StateTokens>> owned_;  // what state_tokens_ points to
  mutable std::mutex caller_mutex_;
  mutable std::unordered_map<uint64_t, std::unique_ptr<const CallerTokens>> caller_tokens_;
  mutable std::atomic<int> num_classified_{0};
  mutable std::atomic<size_t> cache_bytes_{0};
};

}  // namespace kiln::grammar
