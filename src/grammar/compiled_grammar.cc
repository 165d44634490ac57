#include "grammar/compiled_grammar.h"

#include <optional>

namespace kiln::grammar {

CompiledGrammar::CompiledGrammar(Automaton automaton, std::shared_ptr<const Vocabulary> vocabulary,
                                 std::shared_ptr<TokenClassCache> shared_classes)
    : automaton_(std::move(automaton)), vocabulary_(std::move(vocabulary)), shared_classes_(std::move(shared_classes)) {
  const size_t n = static_cast<size_t>(automaton_.num_states());
  state_tokens_ = std::make_unique<std::atomic<const StateTokens*>[]>(n);
  for (size_t i = 0; i < n; ++i) state_tokens_[i].store(nullptr, std::memory_order_relaxed);
}

const StateTokens& CompiledGrammar::state_tokens(int32_t state) const {
  std::atomic<const StateTokens*>& slot = state_tokens_[static_cast<size_t>(state)];
  if (const StateTokens* ready = slot.load(std::memory_order_acquire)) return *ready;
  std::shared_ptr<const StateTokens> computed;
  std::optional<StateFingerprint> key;
  if (shared_classes_) {
    key = shared_key(state);
    if (key) computed = shared_classes_->find(*key);
  }
  if (!computed) {
    TokenClassifier classifier(automaton_, *vocabulary_);
    computed = std::make_shared<const StateTokens>(classifier.classify(state));
    if (key) computed = shared_classes_->insert(*key, computed);
  }
  // Two threads may classify the same state at once; the first to publish wins.
  std::lock_guard<std::mutex> lock(owned_mutex_);
  if (const StateTokens* ready = slot.load(std::memory_order_acquire)) return *ready;
  owned_.push_back(computed);
  slot.store(computed.get(), std::memory_order_release);
  num_classified_.fetch_add(1, std::memory_order_relaxed);
  cache_bytes_.fetch_add(state_tokens_bytes(*computed), std::memory_order_relaxed);
  return *computed;
}

std::optional<StateFingerprint> CompiledGrammar::shared_key(int32_t state) const {
  const RuleId rule = automaton_.rule_of(state);
  if (!automaton_.rule_is_leaf(rule)) return std::nullopt;
  std::lock_guard<std::mutex> lock(fingerprint_mutex_);
  auto it = rule_fingerprints_.find(rule);
  if (it == rule_fingerprints_.end()) it = rule_fingerprints_.emplace(rule, leaf_rule_fingerprint(automaton_, rule)).first;
  if (!it->second) return std::nullopt;
  return it->second->state_key(state);
}

const CallerTokens& CompiledGrammar::caller_tokens(int32_t state, int32_t caller_state) const {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(state)) << 32) | static_cast<uint32_t>(caller_state);
  {
    std::lock_guard<std::mutex> lock(caller_mutex_);
    if (auto it = caller_tokens_.find(key); it != caller_tokens_.end()) return *it->second;
  }
  const StateTokens& base = state_tokens(state);
  TokenClassifier classifier(automaton_, *vocabulary_);
  auto computed = std::make_unique<const CallerTokens>(classifier.refine(state, caller_state, base));
  std::lock_guard<std::mutex> lock(caller_mutex_);
  auto [it, inserted] = caller_tokens_.emplace(key, std::move(computed));
  if (inserted) {
    cache_bytes_.fetch_add((it->second->accepted.size() + it->second->uncertain.size()) * sizeof(int32_t),
                           std::memory_order_relaxed);
  }
  return *it->second;
}

void CompiledGrammar::classify_all_states() const {
  for (int32_t s = 0; s < automaton_.num_states(); ++s) {
    if (automaton_.has_byte_edges(s)) state_tokens(s);
  }
}

}  // namespace kiln::grammar
