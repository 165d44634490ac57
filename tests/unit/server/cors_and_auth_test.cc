// CorsPolicy and BearerAuth on their own, without sockets.
#include <gtest/gtest.h>

#include "recording_writer.h"
#include "server/bearer_auth.h"
#include "server/cors_policy.h"

namespace kiln::server {
namespace {

HttpRequest request_from(const std::string& method, std::map<std::string, std::string> headers) {
  HttpRequest request;
  request.method = method;
  request.target = "/v1/models";
  request.headers = std::move(headers);
  return request;
}

TEST(CorsPolicyTest, PreflightOnlyForOptionsWithOriginAndRequestMethod) {
  const CorsPolicy cors({"http://ui.example"});
  EXPECT_FALSE(cors.preflight(request_from("GET", {{"origin", "http://ui.example"}})));
  EXPECT_FALSE(cors.preflight(request_from("OPTIONS", {{"origin", "http://ui.example"}})));
  auto allowed = cors.preflight(request_from(
      "OPTIONS", {{"origin", "http://ui.example"}, {"access-control-request-method", "POST"},
                  {"access-control-request-headers", "authorization"}}));
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);
  EXPECT_EQ(header_of(*allowed, "access-control-allow-origin"), "http://ui.example");
  EXPECT_EQ(header_of(*allowed, "vary"), "Origin");
  EXPECT_EQ(header_of(*allowed, "access-control-allow-headers"), "authorization");
  auto denied = cors.preflight(
      request_from("OPTIONS", {{"origin", "http://evil.example"}, {"access-control-request-method", "POST"}}));
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 400);
}

TEST(CorsPolicyTest, WrappedWritersAddTheHeadersToResponsesAndStreams) {
  const CorsPolicy any({"*"});
  auto recording = std::make_shared<RecordingWriter>();
  auto writer = any.wrap(request_from("POST", {{"origin", "http://anywhere.example"}}), recording);
  writer->send(HttpResponse{});
  writer->start_stream(200, {{"cache-control", "no-cache"}});
  ASSERT_EQ(recording->responses.size(), 2u);
  for (const HttpResponse& response : recording->responses) {
    EXPECT_EQ(header_of(response, "access-control-allow-origin"), "*");
    EXPECT_EQ(header_of(response, "vary"), "");
  }
  const CorsPolicy one({"http://ui.example"});
  auto plain = std::make_shared<RecordingWriter>();
  EXPECT_EQ(one.wrap(request_from("GET", {{"origin", "http://evil.example"}}), plain), plain);
  EXPECT_EQ(one.wrap(request_from("GET", {}), plain), plain);
}

TEST(BearerAuthTest, KeyRequiredOnlyWhenSet) {
  EXPECT_TRUE(BearerAuth(std::nullopt).allows(request_from("GET", {})));
  const BearerAuth auth(std::string("sekret"));
  EXPECT_FALSE(auth.allows(request_from("GET", {})));
  EXPECT_FALSE(auth.allows(request_from("GET", {{"authorization", "Bearer sekre"}})));
  EXPECT_FALSE(auth.allows(request_from("GET", {{"authorization", "Bearer sekrets"}})));
  EXPECT_FALSE(auth.allows(request_from("GET", {{"authorization", "sekret"}})));
  EXPECT_TRUE(auth.allows(request_from("GET", {{"authorization", "Bearer sekret"}})));
  const HttpResponse denied = BearerAuth::unauthorized();
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(header_of(denied, "www-authenticate"), "Bearer");
}

}  // namespace
}  // namespace kiln::server
