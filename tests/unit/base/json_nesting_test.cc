#include "base/json_nesting.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

TEST(JsonNesting, FindsTheFirstBracketPastTheLimit) {
  EXPECT_EQ(find_json_nesting_over(R"({"a":[1,{"b":2}]})", 3), std::nullopt);
  EXPECT_EQ(find_json_nesting_over(R"({"a":[1,{"b":2}]})", 2), 8u);
  EXPECT_EQ(find_json_nesting_over("[[]][[]]", 2), std::nullopt);
  EXPECT_EQ(find_json_nesting_over("", 0), std::nullopt);
  EXPECT_EQ(find_json_nesting_over("1", 0), std::nullopt);
  EXPECT_EQ(find_json_nesting_over("[]", 0), 0u);
}

TEST(JsonNesting, BracketsInStringsAndEscapesDoNotCount) {
  EXPECT_EQ(find_json_nesting_over(R"(["[[[[{{{{", "\"[[[["])", 1), std::nullopt);
  EXPECT_EQ(find_json_nesting_over(R"(["\\", [1]])", 1), 7u);
}

TEST(JsonNesting, DeepInputIsScannedWithoutRecursion) {
  const std::string deep = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  EXPECT_EQ(find_json_nesting_over(deep, 128), 128u);
  EXPECT_EQ(find_json_nesting_over(deep, 1 << 20), std::nullopt);
}

TEST(JsonNesting, UnbalancedClosersDoNotGoNegative) {
  EXPECT_EQ(find_json_nesting_over("]]]][[", 1), 5u);
}

}  // namespace
}  // namespace kiln
