#include "base/utf8.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(Utf8Test, LossyReplacesEachMaximalInvalidSubpartOnce) {
  EXPECT_EQ(utf8_lossy("abc"), "abc");
  EXPECT_EQ(utf8_lossy("h\xC3\xA9"), "h\xC3\xA9");
  // Rust's from_utf8_lossy: a truncated 3-byte sequence is one U+FFFD; each stray byte is one.
  EXPECT_EQ(utf8_lossy("\xE2\x82x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(utf8_lossy("\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_TRUE(is_valid_utf8("plain ascii, long enough for the fast path"));
  EXPECT_FALSE(is_valid_utf8("ascii then \xF5\x80\x80\x80"));
}

TEST(Utf8Test, IncompleteTailIsHeldBack) {
  EXPECT_EQ(utf8_incomplete_tail("ab"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("a\xE2\x82"), 2u);
  EXPECT_EQ(utf8_incomplete_tail("a\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8_incomplete_tail("a\xE2\x82\xAC"), 0u);  // complete
  EXPECT_EQ(utf8_incomplete_tail("a\x80"), 0u);          // invalid, not incomplete
}

TEST(Utf8Test, DecodeIsStrictAndEncodeRoundTrips) {
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string text;
    append_utf8(cp, &text);
    size_t pos = 0;
    char32_t back = 0;
    ASSERT_TRUE(decode_utf8(text, &pos, &back)) << static_cast<uint32_t>(cp);
    ASSERT_EQ(back, cp);
    ASSERT_EQ(pos, text.size());
  }
  for (const char* bad : {"\xC0\x80", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\x80"}) {
    size_t pos = 0;
    char32_t cp = 0;
    EXPECT_FALSE(decode_utf8(bad, &pos, &cp)) << bad;
    EXPECT_EQ(pos, 0u);
  }
}

TEST(Utf8Test, CodePointsCountInvalidBytesOneEach) {
  const std::string text = "a\xC3\xA9\x80z";  // a, é, a stray byte, z
  EXPECT_EQ(code_point_offsets(text), (std::vector<size_t>{0, 1, 3, 4, 5}));
  EXPECT_EQ(code_point_count(text), 4u);
  EXPECT_EQ(code_point_at(text, 1), U'\u00E9');
  EXPECT_EQ(code_point_at(text, 3), 0x80u);  // stands for itself
  size_t pos = 0;
  EXPECT_EQ(next_code_point("\xF0\x9F\x98\x80", &pos), U'\U0001F600');
  EXPECT_EQ(pos, 4u);
}

}  // namespace
}  // namespace kiln
