// The nondeterministic automata that grammar rules are first built into (Thompson's
// construction over bytes and rule references), one per rule that stays a rule; rules that are
// not recursive are inlined where they are used (grammar/automaton.h says which stay).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "grammar/automaton.h"
#include "grammar/grammar.h"

namespace kiln::grammar {

struct NfaEdge {
  enum Kind : uint8_t { kEpsilon, kBytes, kRule };
  Kind kind = kEpsilon;
  uint8_t first = 0;  // kBytes: the byte range
  uint8_t last = 0;
  RuleId rule = -1;  // kRule: index into NfaSet::rules
  int32_t to = -1;
};

struct RuleNfa {
  RuleId source_rule = -1;  // the grammar's rule
  int32_t start = -1;
  int32_t end = -1;  // the one accepting state
};

// All rules' NFAs share one state space.
struct NfaSet {
  std::vector<std::vector<NfaEdge>> edges;  // [num_states]
  std::vector<RuleNfa> rules;               // rules[0] is the root
};

// Builds the NFAs of the rules that stay rules, inlining the others. Errors name the rule: a
// reference to a rule without a body, or more NFA states than `limits` allow.
Result<NfaSet> build_nfas(const Grammar& grammar, const AutomatonLimits& limits);

}  // namespace kiln::grammar
