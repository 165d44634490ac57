#include "grammar/compiled_grammar.h"

namespace kiln::grammar {

CompiledGrammar::CompiledGrammar(Automaton automaton, std::shared_ptr<const Vocabulary> vocabulary)
    : automaton_(std::move(automaton)), vocabulary_(std::move(vocabulary)) {
  const size_t n = static_cast<size_t>(automaton_.num_states());
  state_tokens_ = std::make_unique<std::atomic<const StateTokens*>[]>(n);
  for (size_t i = 0; i < n; ++i) state_tokens_[i].store(nullptr, std::memory_order_relaxed);
}

CompiledGrammar::~CompiledGrammar() {
  const size_t n = static_cast<size_t>(automaton_.num_states());
  for (size_t i = 0; i < n; ++i) delete state_tokens_[i].load(std::memory_order_relaxed);
}

const StateTokens& CompiledGrammar::state_tokens(int32_t state) const {
  std::atomic<const StateTokens*>& slot = state_tokens_[static_cast<size_t>(state)];
  if (const StateTokens* ready = slot.load(std::memory_order_acquire)) return *ready;
  // Two threads may classify the same state at once; the first to publish wins.
  TokenClassifier classifier(automaton_, *vocabulary_);
  auto computed = std::make_unique<StateTokens>(classifier.classify(state));
  const size_t bytes = computed->accepted.memory_bytes() + computed->uncertain.size() * sizeof(int32_t);
  const StateTokens* expected = nullptr;
  if (slot.compare_exchange_strong(expected, computed.get(), std::memory_order_acq_rel)) {
    num_classified_.fetch_add(1, std::memory_order_relaxed);
    cache_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return *computed.release();
  }
  return *expected;
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
