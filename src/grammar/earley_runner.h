// An Earley recognizer over the automaton's network of rule DFAs, fed one byte at a time. Every
// set is kept, so the last bytes can be taken back: the matcher rolls back tokens with it and the
// token classifier walks the vocabulary trie depth first with it.
//
// An item is (state, origin): a position in some rule's DFA and the set where that rule began.
// Items of origin kFrame belong to the outermost rule of the walk, whose caller is unknown: when
// such an item is complete the walk records a frame exit at that set instead of returning.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "grammar/automaton.h"

namespace kiln::grammar {

struct EarleyItem {
  int32_t state = 0;
  int32_t origin = 0;
};

class EarleyRunner {
 public:
  static constexpr int32_t kFrame = -1;

  explicit EarleyRunner(const Automaton& automaton) : a_(&automaton) {}

  // Starts over: set 0 is the closure of (state, kFrame).
  void reset(int32_t state);
  // Starts over inside a known caller: set 0 holds `callers` as they are (the items waiting for
  // the rule of `state`, of origin kFrame); set 1 is the closure of (state, 0). The walk's bytes
  // then start at set 1, and a frame exit means the callers' rule ended.
  void reset_in_caller(std::span<const EarleyItem> callers, int32_t state);

  // Consumes `byte` into a new set. When nothing survives, returns false and pushes nothing.
  bool advance(uint8_t byte);
  // Drops the last `n` sets.
  void pop(int n);

  int num_sets() const { return static_cast<int>(set_begin_.size()); }
  std::span<const EarleyItem> set(int k) const {
    const size_t begin = static_cast<size_t>(set_begin_[static_cast<size_t>(k)]);
    const size_t end = k + 1 < num_sets() ? static_cast<size_t>(set_begin_[static_cast<size_t>(k) + 1]) : items_.size();
    return {items_.data() + begin, end - begin};
  }
  std::span<const EarleyItem> last_set() const { return set(num_sets() - 1); }
  // Set k holds a complete item of origin kFrame: the outermost rule may end here.
  bool frame_exit(int k) const { return exits_[static_cast<size_t>(k)] != 0; }
  const Automaton& automaton() const { return *a_; }

 private:
  void add(EarleyItem item, size_t set_begin);
  void close(int k);

  const Automaton* a_;
  std::vector<EarleyItem> items_;
  std::vector<int32_t> set_begin_;
  std::vector<uint8_t> exits_;
};

}  // namespace kiln::grammar
