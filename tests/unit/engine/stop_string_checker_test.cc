#include "engine/stop_string_checker.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(StopStringCheckerTest, HoldsBackPartialMatchesAndReleasesThemWhenTheyFail) {
  StopStringChecker c({"END"}, false);
  EXPECT_EQ(c.append("hello E"), "hello ");
  EXPECT_EQ(c.append("N"), "");
  EXPECT_EQ(c.append("x"), "ENx");
  EXPECT_FALSE(c.matched());
}

TEST(StopStringCheckerTest, MatchesAcrossDeltasAndCutsTheText) {
  StopStringChecker c({"END", "zz"}, false);
  EXPECT_EQ(c.append("abE"), "ab");
  EXPECT_EQ(c.append("NDtail"), "");
  ASSERT_TRUE(c.matched());
  EXPECT_EQ(*c.matched(), "END");
  EXPECT_EQ(c.text(), "ab");
  EXPECT_EQ(c.append("more"), "");
}

TEST(StopStringCheckerTest, IncludeStopStringKeepsIt) {
  StopStringChecker c({"END"}, true);
  EXPECT_EQ(c.append("abEN"), "ab");
  EXPECT_EQ(c.append("Dx"), "END");
  EXPECT_EQ(c.text(), "abEND");
}

TEST(StopStringCheckerTest, EarliestMatchWinsAndFlushReleasesHeldText) {
  StopStringChecker c({"cd", "bcdef"}, false);
  EXPECT_EQ(c.append("abcdef"), "a");  // the match that starts first, not the list order
  EXPECT_EQ(*c.matched(), "bcdef");
  StopStringChecker d({"xyz"}, false);
  EXPECT_EQ(d.append("abxy"), "ab");
  EXPECT_EQ(d.flush(), "xy");
}

TEST(StopStringCheckerTest, NoCheckBeforeMinTokens) {
  StopStringChecker c({"ab"}, false);
  EXPECT_EQ(c.append("xab", false), "xab");
  EXPECT_FALSE(c.matched());
  EXPECT_EQ(c.append("ab", true), "");
  EXPECT_TRUE(c.matched());
}

}  // namespace
}  // namespace kiln
