#include "hub/http_headers.h"

#include <gtest/gtest.h>

namespace kiln::hub {
namespace {

TEST(HttpHeaders, CaseInsensitiveAndResetByStatusLine) {
  HttpHeaders headers;
  headers.add_line("HTTP/1.1 302 Found\r\n");
  headers.add_line("Location: /a\r\n");
  headers.add_line("HTTP/1.1 200 OK\r\n");
  headers.add_line("x-repo-commit:  abc \r\n");
  headers.add_line("ETag: \"e\"\r\n");
  headers.add_line("\r\n");
  EXPECT_FALSE(headers.get("Location").has_value());
  EXPECT_EQ(headers.get("X-Repo-Commit"), "abc");
  EXPECT_EQ(headers.get("etag"), "\"e\"");
}

TEST(HttpHeaders, NormalizeEtag) {
  EXPECT_EQ(normalize_etag("\"a1b2\""), "a1b2");
  EXPECT_EQ(normalize_etag("W/\"a1b2\""), "a1b2");
  EXPECT_EQ(normalize_etag("a1b2"), "a1b2");
  EXPECT_EQ(normalize_etag(" \"a1b2\" "), "a1b2");
  EXPECT_TRUE(is_sha256_hex(std::string(64, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(40, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'A')));
}

TEST(HttpHeaders, ContentRangeAndSizes) {
  auto range = parse_content_range("bytes 100-199/1000");
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 100);
  EXPECT_EQ(range->last, 199);
  EXPECT_EQ(range->total, 1000);
  EXPECT_FALSE(parse_content_range("bytes */1000").has_value());
  EXPECT_FALSE(parse_content_range("bytes 5-1/10").has_value());
  EXPECT_FALSE(parse_content_range("items 1-2/3").has_value());
  EXPECT_EQ(parse_size(std::string("16060522496")), 16060522496LL);
  EXPECT_FALSE(parse_size(std::string("-1")).has_value());
  EXPECT_FALSE(parse_size(std::nullopt).has_value());
}

TEST(HttpHeaders, RedirectLocations) {
  const std::string url = "https://huggingface.co/org/name/resolve/main/config.json";
  EXPECT_EQ(resolve_location(url, "https://cdn-lfs.hf.co/x?sig=1"), "https://cdn-lfs.hf.co/x?sig=1");
  EXPECT_EQ(resolve_location(url, "/new-org/name/resolve/main/config.json"),
            "https://huggingface.co/new-org/name/resolve/main/config.json");
  EXPECT_EQ(resolve_location(url, "other.json"), "https://huggingface.co/org/name/resolve/main/other.json");
  EXPECT_EQ(resolve_location(url, "//cdn.example/x"), "https://cdn.example/x");
  EXPECT_EQ(url_origin("http://LocalHost:8080/cdn/x"), "http://localhost:8080");
  EXPECT_NE(url_origin("http://localhost:1/a"), url_origin("http://127.0.0.1:1/a"));
  EXPECT_EQ(quote_path("a b/c+d.json"), "a%20b/c%2Bd.json");
  EXPECT_EQ(quote_path("refs/pr/1", false), "refs%2Fpr%2F1");
}

}  // namespace
}  // namespace kiln::hub
