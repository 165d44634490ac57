#include "grammar/json_number_range.h"

#include <string>
#include <vector>

namespace kiln::grammar {
namespace {

ExprId digit(Grammar* g, char first, char last) { return g->char_class({{static_cast<uint32_t>(first), static_cast<uint32_t>(last)}}); }
ExprId digits(Grammar* g, int count) { return g->repeat(digit(g, '0', '9'), count, count); }

// Digit strings of one length between x and y (same length, x <= y), leading zeros allowed.
ExprId same_length(Grammar* g, const std::string& x, const std::string& y) {
  if (x.size() == 1) return digit(g, x[0], y[0]);
  const std::string x_rest = x.substr(1), y_rest = y.substr(1);
  if (x[0] == y[0]) return g->sequence({digit(g, x[0], x[0]), same_length(g, x_rest, y_rest)});
  const std::string zeros(x_rest.size(), '0'), nines(x_rest.size(), '9');
  if (x_rest == zeros && y_rest == nines) return g->sequence({digit(g, x[0], y[0]), digits(g, static_cast<int>(x_rest.size()))});
  std::vector<ExprId> parts;
  parts.push_back(g->sequence({digit(g, x[0], x[0]), same_length(g, x_rest, nines)}));
  if (y[0] - x[0] > 1) {
    parts.push_back(g->sequence({digit(g, static_cast<char>(x[0] + 1), static_cast<char>(y[0] - 1)),
                                 digits(g, static_cast<int>(x_rest.size()))}));
  }
  parts.push_back(g->sequence({digit(g, y[0], y[0]), same_length(g, zeros, y_rest)}));
  return g->choice(std::move(parts));
}

// Natural numbers a <= n <= b (b missing: unbounded) without leading zeros.
ExprId natural_range(Grammar* g, uint64_t a, std::optional<uint64_t> b) {
  const std::string low = std::to_string(a);
  const size_t max_length = b ? std::to_string(*b).size() : low.size();
  std::vector<ExprId> parts;
  for (size_t length = low.size(); length <= max_length; ++length) {
    std::string from = length == low.size() ? low : "1" + std::string(length - 1, '0');
    if (length == 1 && length != low.size()) from = "0";
    std::string to = std::string(length, '9');
    if (b && length == max_length) to = std::to_string(*b);
    if (from <= to) parts.push_back(same_length(g, from, to));
  }
  if (!b) {  // every longer number
    parts.push_back(g->sequence({digit(g, '1', '9'), g->repeat(digit(g, '0', '9'), static_cast<int32_t>(low.size()), kUnbounded)}));
  }
  return g->choice(std::move(parts));
}

uint64_t magnitude(int64_t v) { return v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v); }

}  // namespace

ExprId integer_range(Grammar* g, std::optional<int64_t> lo, std::optional<int64_t> hi) {
  std::vector<ExprId> parts;
  // Negative side: -n for n in [max(1, -hi), -lo].
  if (!lo || *lo < 0) {
    const uint64_t smallest = hi && *hi < 0 ? magnitude(*hi) : 1;
    std::optional<uint64_t> largest;
    if (lo) largest = magnitude(*lo);
    parts.push_back(g->sequence({g->bytes("-"), natural_range(g, smallest, largest)}));
  }
  if (!hi || *hi >= 0) {
    const uint64_t smallest = lo && *lo > 0 ? static_cast<uint64_t>(*lo) : 0;
    std::optional<uint64_t> largest;
    if (hi) largest = static_cast<uint64_t>(*hi);
    parts.push_back(natural_range(g, smallest, largest));
  }
  return g->choice(std::move(parts));
}

namespace {

enum class Fraction { kAny, kZero, kNonZero };

ExprId fraction(Grammar* g, Fraction kind) {
  const ExprId any_digit = digit(g, '0', '9');
  switch (kind) {
    case Fraction::kAny: return g->optional(g->sequence({g->bytes("."), g->repeat(any_digit, 1, kUnbounded)}));
    case Fraction::kZero: return g->optional(g->sequence({g->bytes("."), g->repeat(digit(g, '0', '0'), 1, kUnbounded)}));
    case Fraction::kNonZero:
      return g->sequence({g->bytes("."), g->star(any_digit), digit(g, '1', '9'), g->star(any_digit)});
  }
  return g->empty();
}

// Non-negative magnitudes m.f within [lower, upper] (both >= 0); empty when none.
std::vector<ExprId> magnitudes(Grammar* g, NumberBound lower, std::optional<NumberBound> upper) {
  std::vector<ExprId> parts;
  const int64_t a = lower.value;
  if (upper && (upper->value < a || (upper->value == a && (lower.exclusive || upper->exclusive)))) return parts;
  if (upper && upper->value == a) {  // exactly a
    parts.push_back(g->sequence({integer_range(g, a, a), fraction(g, Fraction::kZero)}));
    return parts;
  }
  // Integer part a: any fraction, or only a non-zero one when a itself is excluded.
  parts.push_back(g->sequence({integer_range(g, a, a), fraction(g, lower.exclusive ? Fraction::kNonZero : Fraction::kAny)}));
  if (!upper) {
    parts.push_back(g->sequence({integer_range(g, a + 1, std::nullopt), fraction(g, Fraction::kAny)}));
    return parts;
  }
  if (upper->value - 1 >= a + 1) {
    parts.push_back(g->sequence({integer_range(g, a + 1, upper->value - 1), fraction(g, Fraction::kAny)}));
  }
  if (!upper->exclusive) parts.push_back(g->sequence({integer_range(g, upper->value, upper->value), fraction(g, Fraction::kZero)}));
  return parts;
}

}  // namespace

std::optional<ExprId> decimal_range(Grammar* g, std::optional<NumberBound> lo, std::optional<NumberBound> hi) {
  std::vector<ExprId> parts;
  if (!hi || hi->value >= 0) {  // x >= 0
    NumberBound lower{0, false};
    if (lo && lo->value >= 0) lower = *lo;
    std::vector<ExprId> p = magnitudes(g, lower, hi);
    parts.insert(parts.end(), p.begin(), p.end());
  }
  if (!lo || lo->value < 0) {  // x <= 0 written with a minus: magnitudes of -x
    NumberBound lower{0, false};
    if (hi && hi->value < 0) lower = NumberBound{-hi->value, hi->exclusive};
    else if (hi && hi->value == 0) lower = NumberBound{0, hi->exclusive};
    std::optional<NumberBound> upper;
    if (lo) upper = NumberBound{-lo->value, lo->exclusive};
    std::vector<ExprId> p = magnitudes(g, lower, upper);
    if (!p.empty()) parts.push_back(g->sequence({g->bytes("-"), g->choice(std::move(p))}));
  }
  if (parts.empty()) return std::nullopt;
  return g->choice(std::move(parts));
}

}  // namespace kiln::grammar
