#include "grammar/earley_runner.h"

namespace kiln::grammar {

void EarleyRunner::add(EarleyItem item, size_t set_begin) {
  for (size_t i = set_begin; i < items_.size(); ++i) {
    if (items_[i].state == item.state && items_[i].origin == item.origin) return;
  }
  items_.push_back(item);
}

// Predicts and completes over the items of set k as they are appended. Zero-length completions
// are handled at prediction (Aycock and Horspool): a caller of a nullable rule also steps over it.
void EarleyRunner::close(int k) {
  const size_t begin = static_cast<size_t>(set_begin_[static_cast<size_t>(k)]);
  const Automaton& a = *a_;
  for (size_t i = begin; i < items_.size(); ++i) {
    const EarleyItem item = items_[i];
    for (const RefEdge& e : a.refs(item.state)) {
      add(EarleyItem{a.rule_start(e.rule), k}, begin);
      if (a.rule_nullable(e.rule)) add(EarleyItem{e.target, item.origin}, begin);
    }
    if (!a.accepting(item.state)) continue;
    if (item.origin == kFrame) {
      exits_[static_cast<size_t>(k)] = 1;
    } else if (item.origin != k) {
      const RuleId rule = a.rule_of(item.state);
      const size_t caller_begin = static_cast<size_t>(set_begin_[static_cast<size_t>(item.origin)]);
      const size_t caller_end = static_cast<size_t>(set_begin_[static_cast<size_t>(item.origin) + 1]);
      for (size_t c = caller_begin; c < caller_end; ++c) {
        const EarleyItem caller = items_[c];
        const int32_t target = a.ref_target(caller.state, rule);
        if (target >= 0) add(EarleyItem{target, caller.origin}, begin);
      }
    }
  }
}

void EarleyRunner::reset(int32_t state) {
  items_.clear();
  set_begin_.assign(1, 0);
  exits_.assign(1, 0);
  items_.push_back(EarleyItem{state, kFrame});
  close(0);
}

void EarleyRunner::reset_in_caller(std::span<const EarleyItem> callers, int32_t state) {
  items_.assign(callers.begin(), callers.end());
  for (EarleyItem& c : items_) c.origin = kFrame;
  set_begin_.assign(1, 0);
  exits_.assign(1, 0);
  set_begin_.push_back(static_cast<int32_t>(items_.size()));
  exits_.push_back(0);
  items_.push_back(EarleyItem{state, 0});
  close(1);
}

bool EarleyRunner::advance(uint8_t byte) {
  const size_t previous_begin = static_cast<size_t>(set_begin_.back());
  const size_t previous_end = items_.size();
  const size_t begin = items_.size();
  const Automaton& a = *a_;
  if (previous_end - previous_begin == 1) {
    // One item, the common case inside a rule's DFA: no duplicates to look for, and nothing to
    // close unless the target refers to rules or ends a rule with a caller.
    const EarleyItem item = items_[previous_begin];
    const int32_t next = a.next(item.state, byte);
    if (next < 0) return false;
    items_.push_back(EarleyItem{next, item.origin});
    set_begin_.push_back(static_cast<int32_t>(begin));
    exits_.push_back(0);
    if (a.refs(next).empty() && !a.accepting(next)) return true;
    close(num_sets() - 1);
    return true;
  }
  for (size_t i = previous_begin; i < previous_end; ++i) {
    const EarleyItem item = items_[i];
    const int32_t next = a.next(item.state, byte);
    if (next >= 0) add(EarleyItem{next, item.origin}, begin);
  }
  if (items_.size() == begin) return false;
  set_begin_.push_back(static_cast<int32_t>(begin));
  exits_.push_back(0);
  close(num_sets() - 1);
  return true;
}

void EarleyRunner::pop(int n) {
  if (n <= 0) return;
  const size_t keep = set_begin_.size() - static_cast<size_t>(n);
  items_.resize(static_cast<size_t>(set_begin_[keep]));
  set_begin_.resize(keep);
  exits_.resize(keep);
}

}  // namespace kiln::grammar
