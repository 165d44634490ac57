// The compiled form of a grammar: a recursive transition network of deterministic byte automata.
// Every rule that must stay a rule (the root, rules on a recursion cycle, and large rules used in
// several places) becomes one DFA whose edges are bytes or references to rules; every other rule
// is inlined where it is used, so that a typical JSON Schema without recursion is one DFA and its
// matcher never needs a stack.
//
// States are numbered globally (each rule's states contiguous) and bytes are grouped into classes
// that every state treats alike, so a byte step is one table load: next(state, byte).
// States that can never reach an accepting end are pruned, so every transition the automaton
// offers can be completed to a full match.
#pragma once

#include <climits>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "grammar/grammar.h"

namespace kiln::grammar {

struct RefEdge {
  RuleId rule = -1;
  int32_t target = -1;
};

struct AutomatonLimits {
  int64_t max_nfa_states = 4'000'000;
  int64_t max_dfa_states = 1'000'000;
  // A non-recursive rule used in several places is inlined when its automaton is at most this
  // many NFA states; larger ones stay rules, so that their states are shared.
  int64_t max_inline_nfa_states = 20'000;
};

// A set of byte values as four 64-bit words.
struct ByteSet {
  uint64_t words[4] = {};
  static ByteSet all() { return ByteSet{{~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}}}; }
  void set(uint8_t b) { words[b >> 6] |= uint64_t{1} << (b & 63); }
  bool test(uint8_t b) const { return (words[b >> 6] >> (b & 63)) & 1; }
  bool any() const { return (words[0] | words[1] | words[2] | words[3]) != 0; }
  bool subset_of(const ByteSet& o) const {
    return ((words[0] & ~o.words[0]) | (words[1] & ~o.words[1]) | (words[2] & ~o.words[2]) |
            (words[3] & ~o.words[3])) == 0;
  }
  ByteSet& operator|=(const ByteSet& o) {
    for (int i = 0; i < 4; ++i) words[i] |= o.words[i];
    return *this;
  }
  friend ByteSet operator|(ByteSet a, const ByteSet& b) { return a |= b; }
  friend bool operator==(const ByteSet& a, const ByteSet& b) {
    return a.words[0] == b.words[0] && a.words[1] == b.words[1] && a.words[2] == b.words[2] && a.words[3] == b.words[3];
  }
};

class Automaton {
 public:
  // Compiles `grammar` from its root. Errors name the rule at fault: a missing body, a rule that
  // matches no string, or a grammar beyond the limits.
  static Result<Automaton> build(const Grammar& grammar, const AutomatonLimits& limits = {});

  int num_states() const { return static_cast<int>(accepting_.size()); }
  int num_classes() const { return num_classes_; }
  int num_rules() const { return static_cast<int>(rule_start_.size()); }
  RuleId root() const { return 0; }

  // -1 when `byte` has no edge from `state`.
  int32_t next(int32_t state, uint8_t byte) const {
    return next_[static_cast<size_t>(state) * static_cast<size_t>(num_classes_) + byte_class_[byte]];
  }
  uint8_t byte_class(uint8_t byte) const { return byte_class_[byte]; }
  bool accepting(int32_t state) const { return accepting_[static_cast<size_t>(state)] != 0; }
  bool has_byte_edges(int32_t state) const { return has_bytes_[static_cast<size_t>(state)] != 0; }
  std::span<const RefEdge> refs(int32_t state) const {
    const size_t s = static_cast<size_t>(state);
    return {refs_.data() + ref_begin_[s], static_cast<size_t>(ref_begin_[s + 1] - ref_begin_[s])};
  }
  // The target of `state`'s edge on `rule`, -1 when there is none.
  int32_t ref_target(int32_t state, RuleId rule) const {
    for (const RefEdge& e : refs(state)) {
      if (e.rule == rule) return e.target;
    }
    return -1;
  }
  RuleId rule_of(int32_t state) const { return rule_of_[static_cast<size_t>(state)]; }
  int32_t rule_start(RuleId rule) const { return rule_start_[static_cast<size_t>(rule)]; }
  bool rule_nullable(RuleId rule) const { return rule_nullable_[static_cast<size_t>(rule)] != 0; }
  // The rule refers to no other rule: its states' token classes depend on the rule alone.
  bool rule_is_leaf(RuleId rule) const { return rule_leaf_[static_cast<size_t>(rule)] != 0; }
  const std::string& rule_name(RuleId rule) const { return rule_names_[static_cast<size_t>(rule)]; }
  // Bytes that can follow a complete `rule` in some context of the grammar (none for the root).
  const ByteSet& follow(RuleId rule) const { return follow_[static_cast<size_t>(rule)]; }
  // Runs: any string of at most run_length(state) bytes, each in run_bytes(state), is accepted
  // from `state` (kUnboundedRun: any length). run_bytes is the largest set of bytes that all lead
  // to one state (the state itself for a loop such as a string's content, the next count for a
  // counted one such as maxLength); the classifier accepts whole vocabulary subtrees with it.
  static constexpr int32_t kUnboundedRun = INT32_MAX;
  const ByteSet& run_bytes(int32_t state) const { return run_bytes_[static_cast<size_t>(state)]; }
  int32_t run_length(int32_t state) const { return run_length_[static_cast<size_t>(state)]; }
  // Bytes with an edge from `state`.
  const ByteSet& byte_edges(int32_t state) const { return byte_edges_[static_cast<size_t>(state)]; }

 private:
  friend class AutomatonBuilder;

  int num_classes_ = 0;
  uint8_t byte_class_[256] = {};
  std::vector<int32_t> next_;          // [num_states * num_classes]
  std::vector<uint8_t> accepting_;     // [num_states]
  std::vector<uint8_t> has_bytes_;     // [num_states]
  std::vector<int32_t> ref_begin_;     // [num_states + 1] into refs_
  std::vector<RefEdge> refs_;
  std::vector<RuleId> rule_of_;        // [num_states]
  std::vector<int32_t> rule_start_;    // [num_rules]
  std::vector<uint8_t> rule_nullable_; // [num_rules]
  std::vector<uint8_t> rule_leaf_;     // [num_rules]
  std::vector<std::string> rule_names_;
  std::vector<ByteSet> follow_;        // [num_rules]
  std::vector<ByteSet> run_bytes_;     // [num_states]
  std::vector<int32_t> run_length_;    // [num_states]
  std::vector<ByteSet> byte_edges_;    // [num_states]
};

}  // namespace kiln::grammar
