#include "grammar/grammar_matcher.h"

#include <algorithm>
#include <cstring>

namespace kiln::grammar {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)), runner_(grammar_->automaton()) {
  reset();
}

void GrammarMatcher::reset() {
  const Automaton& a = grammar_->automaton();
  runner_.reset(a.rule_start(a.root()));
  history_.clear();
  terminated_ = false;
}

bool GrammarMatcher::is_complete() const { return !terminated_ && runner_.frame_exit(runner_.num_sets() - 1); }

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (terminated_) return false;
  const int before = runner_.num_sets();
  for (char c : bytes) {
    if (!runner_.advance(static_cast<uint8_t>(c))) {
      runner_.pop(runner_.num_sets() - before);
      return false;
    }
  }
  history_.push_back(Step{before, false});
  return true;
}

bool GrammarMatcher::accept_token(int32_t token_id) {
  if (terminated_) return false;
  const Vocabulary& vocab = grammar_->vocabulary();
  if (vocab.is_stop(token_id)) {
    if (!is_complete()) return false;
    history_.push_back(Step{runner_.num_sets(), true});
    terminated_ = true;
    return true;
  }
  if (!vocab.is_text(token_id)) return false;
  return accept_bytes(vocab.bytes(token_id));
}

void GrammarMatcher::rollback(int num_steps) {
  num_steps = std::min(num_steps, static_cast<int>(history_.size()));
  if (num_steps <= 0) return;
  const Step& first = history_[history_.size() - static_cast<size_t>(num_steps)];
  runner_.pop(runner_.num_sets() - first.num_sets_before);
  history_.resize(history_.size() - static_cast<size_t>(num_steps));
  terminated_ = false;
}

void GrammarMatcher::fill_next_token_bitmask(std::span<uint32_t> words) {
  std::memset(words.data(), 0, words.size_bytes());
  const Vocabulary& vocab = grammar_->vocabulary();
  auto allow_stops = [&] {
    for (int32_t id : vocab.stop_ids()) words[static_cast<size_t>(id) / 32] |= 1u << (id % 32);
  };
  if (terminated_) {
    allow_stops();
    return;
  }
  const Automaton& a = grammar_->automaton();
  const int last = runner_.num_sets() - 1;
  to_check_.clear();
  bool check_sorted = true;
  for (const EarleyItem& item : runner_.set(last)) {
    if (!a.has_byte_edges(item.state)) continue;
    const StateTokens& tokens = grammar_->state_tokens(item.state);
    tokens.accepted.or_into(words.data());
    // Tokens that run past the end of the item's rule: nothing follows the outermost rule, and
    // one caller state (the usual case) has its own narrowed classes.
    if (tokens.uncertain.empty() || item.origin == EarleyRunner::kFrame) continue;
    const RuleId rule = a.rule_of(item.state);
    int32_t caller_state = -1;
    bool one_caller = true;
    for (const EarleyItem& caller : runner_.set(item.origin)) {
      if (a.ref_target(caller.state, rule) < 0) continue;
      if (caller_state >= 0 && caller.state != caller_state) one_caller = false;
      caller_state = caller.state;
    }
    const std::vector<int32_t>* uncertain = &tokens.uncertain;
    if (one_caller && caller_state >= 0) {
      const CallerTokens& narrowed = grammar_->caller_tokens(item.state, caller_state);
      for (int32_t id : narrowed.accepted) words[static_cast<size_t>(id) / 32] |= 1u << (id % 32);
      uncertain = &narrowed.uncertain;
    }
    if (!to_check_.empty() && !uncertain->empty()) check_sorted = false;
    to_check_.insert(to_check_.end(), uncertain->begin(), uncertain->end());
  }
  if (!to_check_.empty()) {
    if (!check_sorted) {
      std::sort(to_check_.begin(), to_check_.end(),
                [&](int32_t x, int32_t y) { return vocab.byte_rank(x) < vocab.byte_rank(y); });
      to_check_.erase(std::unique(to_check_.begin(), to_check_.end()), to_check_.end());
    }
    std::erase_if(to_check_, [&](int32_t id) { return (words[static_cast<size_t>(id) / 32] >> (id % 32)) & 1; });
    walk_tokens(runner_, vocab, to_check_, ByteSet(), false, [&](size_t i, TokenWalk outcome) {
      if (outcome == TokenWalk::kAccepted) {
        const int32_t id = to_check_[i];
        words[static_cast<size_t>(id) / 32] |= 1u << (id % 32);
      }
    });
  }
  if (is_complete()) allow_stops();
}

}  // namespace kiln::grammar
