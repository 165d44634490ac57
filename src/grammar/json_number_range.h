// Decimal integers within bounds as grammar expressions: the classic digit-by-digit split of a
// range into character classes, so that [5, 123] becomes [5-9] | [1-9][0-9] | 1[0-1][0-9] |
// 12[0-3]. Used for JSON Schema's minimum / maximum on integers and numbers.
#pragma once

#include <cstdint>
#include <optional>

#include "grammar/grammar.h"

namespace kiln::grammar {

// Integers n with lo <= n <= hi (a missing bound is unbounded), written as JSON writes them: no
// leading zeros, "-" for negatives, no "-0". Requires lo <= hi when both are given.
ExprId integer_range(Grammar* g, std::optional<int64_t> lo, std::optional<int64_t> hi);

struct NumberBound {
  int64_t value = 0;
  bool exclusive = false;
};

// JSON numbers x (no exponent) within integer bounds, each inclusive or exclusive: the integer
// part decides, except at a bound itself, where the fraction must be zero (x <= 5 allows 5 and
// 5.0, not 5.1) or must not be (x > 5 allows 5.1, not 5). Nullopt when no number fits.
std::optional<ExprId> decimal_range(Grammar* g, std::optional<NumberBound> lo, std::optional<NumberBound> hi);

}  // namespace kiln::grammar
