#include "server/route_table.h"

#include <gtest/gtest.h>

namespace kiln::server {
namespace {

RouteHandler noop() {
  return [](HttpRequest, std::shared_ptr<ResponseWriter>) {};
}

TEST(RouteTableTest, MatchesMethodAndExactPath) {
  const RouteTable table({{"POST", "/v1/completions", true, true, noop()},
                          {"GET", "/health", false, false, noop()},
                          {"DELETE", "/items", true, false, noop()},
                          {"GET", "/items", true, false, noop()}});
  auto found = table.match("POST", "/v1/completions");
  ASSERT_NE(found.route, nullptr);
  EXPECT_TRUE(found.route->needs_auth);
  EXPECT_TRUE(found.route->needs_ready);
  found = table.match("HEAD", "/health");  // a GET route answers HEAD
  ASSERT_NE(found.route, nullptr);
  EXPECT_EQ(found.route->path, "/health");
  EXPECT_FALSE(found.route->needs_auth);

  auto wrong_method = table.match("GET", "/v1/completions");
  EXPECT_EQ(wrong_method.route, nullptr);
  EXPECT_TRUE(wrong_method.path_known);
  EXPECT_EQ(wrong_method.allow, "POST");
  EXPECT_EQ(table.match("PUT", "/items").allow, "DELETE, GET");

  for (const char* path : {"/v1/completions/", "/V1/completions", "/v1", "/"}) {
    auto unknown = table.match("POST", path);
    EXPECT_EQ(unknown.route, nullptr) << path;
    EXPECT_FALSE(unknown.path_known) << path;
  }
}

}  // namespace
}  // namespace kiln::server
