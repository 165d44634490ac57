#include "base/status.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

Result<int> parse_positive(int value) {
  if (value <= 0) return Status::error("value must be positive, got " + std::to_string(value));
  return value;
}

Result<int> doubled(int value) {
  KILN_ASSIGN_OR_RETURN(int checked, parse_positive(value));
  return checked * 2;
}

Status validate(int value) {
  KILN_RETURN_IF_ERROR(parse_positive(value).status());
  return ok_status();
}

TEST(Result, PropagatesErrorsWithTheirMessage) {
  EXPECT_EQ(doubled(4).value(), 8);
  auto failed = doubled(-1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.message(), "value must be positive, got -1");
  EXPECT_TRUE(validate(3).ok());
  EXPECT_FALSE(validate(0).ok());
}

TEST(Status, WithContextPrefixesTheMessage) {
  EXPECT_EQ(Status::error("bad shape").with_context("model.safetensors").message(),
            "model.safetensors: bad shape");
  EXPECT_TRUE(ok_status().with_context("x").ok());
}

}  // namespace
}  // namespace kiln
