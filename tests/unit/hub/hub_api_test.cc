#include "hub/hub_api.h"

#include <gtest/gtest.h>

namespace kiln::hub {
namespace {

HttpResponse response(long status, const std::string& error_code = "") {
  HttpResponse r;
  r.status = status;
  r.headers.add_line("HTTP/1.1 " + std::to_string(status) + " X");
  if (!error_code.empty()) r.headers.add_line("X-Error-Code: " + error_code);
  return r;
}

TEST(HubApi, ParsesModelInfo) {
  Result<ModelInfo> info = parse_model_info(R"({"sha": "0123456789abcdef0123456789abcdef01234567",
      "siblings": [{"rfilename": "config.json", "size": 12},
                   {"rfilename": "model.safetensors", "size": 134, "lfs": {"sha256": "x", "size": 99}},
                   {"rfilename": "README.md"}]})");
  ASSERT_TRUE(info.ok()) << info.message();
  ASSERT_EQ(info->files.size(), 3u);
  EXPECT_EQ(info->files[0].size_bytes, 12);
  EXPECT_EQ(info->files[1].size_bytes, 99);  // the LFS size, not the pointer's
  EXPECT_FALSE(info->files[2].size_bytes.has_value());
  EXPECT_NE(parse_model_info("{}").message().find("sha"), std::string::npos);
  EXPECT_NE(parse_model_info(R"({"sha": "main", "siblings": []})").message().find("40-hex"),
            std::string::npos);
  EXPECT_NE(parse_model_info(R"({"sha": "0123456789abcdef0123456789abcdef01234567"})")
                .message()
                .find("siblings"),
            std::string::npos);
  EXPECT_FALSE(parse_model_info("<html>").ok());
}

TEST(HubApi, ErrorMessagesSayWhatToDo) {
  HubConfig config;
  config.endpoint = "https://hub.test";
  config.token = "hf_secret_token";
  HubApi api(config, PullOptions{});
  const std::string gated = api.describe_failure(response(403, "GatedRepo"), "org/m", "main", "x");
  EXPECT_NE(gated.find("licence on https://hub.test/org/m"), std::string::npos) << gated;
  EXPECT_NE(gated.find("HF_TOKEN"), std::string::npos);
  EXPECT_NE(gated.find("refused"), std::string::npos);
  EXPECT_EQ(gated.find("hf_secret_token"), std::string::npos);
  EXPECT_NE(api.describe_failure(response(401), "org/m", "main", "").find("gated"), std::string::npos);
  const std::string private_repo = api.describe_failure(response(401, "RepoNotFound"), "org/m", "main", "");
  EXPECT_NE(private_repo.find("does not exist"), std::string::npos);
  EXPECT_NE(private_repo.find("HF_TOKEN"), std::string::npos);
  EXPECT_NE(api.describe_failure(response(404, "RepoNotFound"), "org/m", "main", "")
                .find("repository org/m does not exist"),
            std::string::npos);
  EXPECT_NE(api.describe_failure(response(404, "RevisionNotFound"), "org/m", "dev", "")
                .find("revision 'dev' does not exist"),
            std::string::npos);
  EXPECT_NE(api.describe_failure(response(404, "EntryNotFound"), "org/m", "main", "a.json")
                .find("file 'a.json' does not exist"),
            std::string::npos);
  EXPECT_NE(api.describe_failure(response(503), "org/m", "main", "").find("try again later"),
            std::string::npos);
  HttpResponse dns;
  dns.error = TransportError::kResolve;
  dns.error_text = "Could not resolve host: hub.test";
  EXPECT_NE(api.describe_failure(dns, "org/m", "main", "").find("cannot reach"), std::string::npos);
}

TEST(HubApi, RetriesTransientFailuresOnly) {
  EXPECT_TRUE(is_retryable(response(500), false));
  EXPECT_TRUE(is_retryable(response(503), false));
  EXPECT_TRUE(is_retryable(response(429), false));
  EXPECT_FALSE(is_retryable(response(404), true));
  EXPECT_FALSE(is_retryable(response(401), true));
  EXPECT_FALSE(is_retryable(response(200), true));
  HttpResponse dropped;
  dropped.error = TransportError::kDropped;
  EXPECT_TRUE(is_retryable(dropped, false));
  HttpResponse refused;
  refused.error = TransportError::kConnect;
  EXPECT_FALSE(is_retryable(refused, false));
  EXPECT_TRUE(is_retryable(refused, true));
  HttpResponse aborted;
  aborted.error = TransportError::kAborted;
  EXPECT_FALSE(is_retryable(aborted, true));
}

}  // namespace
}  // namespace kiln::hub
