// Integer and decimal ranges against arithmetic, over every value in a window around the bounds.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "grammar/json_number_range.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

class RangeMatcher {
 public:
  explicit RangeMatcher(Grammar g) { compiled_ = testing::compile(g, testing::make_vocabulary({"x"})); }
  bool operator()(const std::string& s) const {
    GrammarMatcher matcher(compiled_);
    return matcher.accept_bytes(s) && matcher.is_complete();
  }

 private:
  std::shared_ptr<const CompiledGrammar> compiled_;
};

RangeMatcher integers(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  Grammar g;
  const RuleId root = g.add_rule("root");
  g.set_body(root, integer_range(&g, lo, hi));
  g.set_root(root);
  return RangeMatcher(std::move(g));
}

TEST(IntegerRange, EveryValueNearTheBounds) {
  const std::optional<int64_t> bounds[] = {std::nullopt, -120, -10, -9, -1, 0, 1, 9, 10, 99, 100, 123};
  for (auto lo : bounds) {
    for (auto hi : bounds) {
      if (lo && hi && *lo > *hi) continue;
      const RangeMatcher matches = integers(lo, hi);
      for (int64_t n = -300; n <= 300; ++n) {
        const bool inside = (!lo || n >= *lo) && (!hi || n <= *hi);
        ASSERT_EQ(matches(std::to_string(n)), inside) << n << " in [" << (lo ? std::to_string(*lo) : "-inf") << ", "
                                                      << (hi ? std::to_string(*hi) : "inf") << "]";
      }
      EXPECT_FALSE(matches("007"));
      EXPECT_FALSE(matches("-0"));
      EXPECT_FALSE(matches("+1"));
      EXPECT_FALSE(matches(""));
    }
  }
}

TEST(IntegerRange, LargeBounds) {
  const RangeMatcher matches = integers(-1000000007, 999999999999);
  EXPECT_TRUE(matches("999999999999"));
  EXPECT_FALSE(matches("1000000000000"));
  EXPECT_TRUE(matches("-1000000007"));
  EXPECT_FALSE(matches("-1000000008"));
}

TEST(DecimalRange, InclusiveAndExclusiveBounds) {
  struct Case {
    std::optional<NumberBound> lo, hi;
  };
  const Case cases[] = {{NumberBound{0, false}, NumberBound{1, false}},  {NumberBound{0, true}, NumberBound{1, true}},
                        {NumberBound{-2, true}, NumberBound{3, false}},  {std::nullopt, NumberBound{-1, false}},
                        {NumberBound{-5, false}, std::nullopt},          {NumberBound{2, false}, NumberBound{2, false}},
                        {NumberBound{-3, false}, NumberBound{-1, true}}, {std::nullopt, NumberBound{0, true}}};
  for (const Case& c : cases) {
    Grammar g;
    const RuleId root = g.add_rule("root");
    const std::optional<ExprId> body = decimal_range(&g, c.lo, c.hi);
    ASSERT_TRUE(body.has_value());
    g.set_body(root, *body);
    g.set_root(root);
    const RangeMatcher matches(std::move(g));
    for (int whole = -7; whole <= 7; ++whole) {
      for (const char* fraction : {"", ".0", ".00", ".5", ".05", ".999"}) {
        const std::string text = (whole < 0 ? "-" : "") + std::to_string(std::abs(whole)) + fraction;
        const double x = std::stod(text);
        const bool inside = (!c.lo || (c.lo->exclusive ? x > c.lo->value : x >= c.lo->value)) &&
                            (!c.hi || (c.hi->exclusive ? x < c.hi->value : x <= c.hi->value));
        ASSERT_EQ(matches(text), inside) << text;
      }
    }
  }
}

TEST(DecimalRange, NothingBetweenExclusiveEqualBounds) {
  Grammar g;
  EXPECT_FALSE(decimal_range(&g, NumberBound{2, true}, NumberBound{2, false}).has_value());
  EXPECT_FALSE(decimal_range(&g, NumberBound{3, false}, NumberBound{2, false}).has_value());
}

}  // namespace
}  // namespace kiln::grammar
