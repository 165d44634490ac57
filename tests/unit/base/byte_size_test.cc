#include "base/byte_size.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(ByteSize, ParsesBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_byte_size("2GiB").value(), 2LL << 30);
  EXPECT_EQ(parse_byte_size("24GiB").value(), 24LL << 30);
  EXPECT_EQ(parse_byte_size("512 MiB").value(), 512LL << 20);
  EXPECT_EQ(parse_byte_size("1.5GB").value(), 1500000000LL);
  EXPECT_EQ(parse_byte_size("4096").value(), 4096);
  EXPECT_EQ(parse_byte_size("2g").value(), 2LL << 30);
}

TEST(ByteSize, RejectsGarbageWithTheTextInTheMessage) {
  auto bad_unit = parse_byte_size("2 parsecs");
  ASSERT_FALSE(bad_unit.ok());
  EXPECT_NE(bad_unit.message().find("2 parsecs"), std::string::npos);
  EXPECT_FALSE(parse_byte_size("").ok());
  EXPECT_FALSE(parse_byte_size("GiB").ok());
  EXPECT_FALSE(parse_byte_size("1.2.3GiB").ok());
}

TEST(ByteSize, FormatsLikeVllmLogs) {
  EXPECT_EQ(format_gib(static_cast<int64_t>(14.99 * (1 << 30))), "14.99 GiB");
  EXPECT_EQ(format_bytes(512LL << 20), "512.0 MiB");
  EXPECT_EQ(format_bytes(12), "12 B");
}

}  // namespace
}  // namespace kiln
