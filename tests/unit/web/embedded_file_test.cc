#include "web/embedded_file.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "web/embedded_table.h"

namespace kiln::web {
namespace {

TEST(EmbeddedFile, RootAndDashboardArePages) {
  for (const char* path : {"/", "/index.html", "/?chat=1", "/dashboard", "/dashboard/",
                           "/dashboard?x=1#top"}) {
    const auto file = find_embedded_file(path);
    ASSERT_TRUE(file.has_value()) << path;
    EXPECT_EQ(file->content_type, "text/html; charset=utf-8") << path;
    EXPECT_NE(file->content.find("<html"), std::string_view::npos) << path;
    EXPECT_FALSE(file->immutable) << path;
  }
  EXPECT_NE(find_embedded_file("/")->content, std::string_view{})
      << "index.html must not be empty";
}

TEST(EmbeddedFile, BuiltUiOrClearFallback) {
  const std::string_view index = find_embedded_file("/")->content;
  if (web_ui_built()) {
    EXPECT_NE(index.find("id=\"app\""), std::string_view::npos);
    EXPECT_NE(find_embedded_file("/dashboard")->content, index);
  } else {
    EXPECT_NE(index.find("web UI not built"), std::string_view::npos);
    EXPECT_NE(find_embedded_file("/dashboard")->content.find("web UI not built"),
              std::string_view::npos);
  }
}

// Every script and stylesheet a page names is embedded with the right type, so the page loads
// offline from kiln alone.
TEST(EmbeddedFile, PagesReferenceOnlyEmbeddedAssets) {
  const std::regex asset_ref(R"re((?:src|href)="(/assets/[^"]+)")re");
  int found = 0;
  for (const char* page : {"/", "/dashboard"}) {
    const std::string html(find_embedded_file(page)->content);
    for (std::sregex_iterator it(html.begin(), html.end(), asset_ref), end; it != end; ++it) {
      const std::string path = (*it)[1];
      const auto asset = find_embedded_file(path);
      ASSERT_TRUE(asset.has_value()) << page << " references missing " << path;
      EXPECT_TRUE(asset->immutable) << path;
      if (path.ends_with(".js")) {
        EXPECT_EQ(asset->content_type, "text/javascript; charset=utf-8");
      }
      if (path.ends_with(".css")) {
        EXPECT_EQ(asset->content_type, "text/css; charset=utf-8");
      }
      ++found;
    }
    EXPECT_EQ(html.find("http://"), std::string::npos) << page << " must not load from a CDN";
    EXPECT_EQ(html.find("https://"), std::string::npos) << page << " must not load from a CDN";
  }
  if (web_ui_built()) {
    EXPECT_GE(found, 2);
  }
}

TEST(EmbeddedFile, BinaryAssetsKeepTheirBytes) {
  for (const EmbeddedEntry& entry : embedded_entries()) {
    if (!entry.name.ends_with(".woff2")) continue;
    const auto file = find_embedded_file("/" + std::string(entry.name));
    ASSERT_TRUE(file.has_value());
    EXPECT_EQ(file->content_type, "font/woff2");
    EXPECT_EQ(file->content.substr(0, 4), "wOF2") << entry.name;
  }
}

TEST(EmbeddedFile, UnknownAndHostilePathsAreNotFound) {
  for (const char* path : {"", "index.html", "/nope", "/assets/", "/assets/../index.html",
                           "/../etc/passwd", "/assets\\x.js", "/dashboard/x", "/v1/models"}) {
    EXPECT_FALSE(find_embedded_file(path).has_value()) << path;
  }
}

TEST(EmbeddedFile, TableIsSortedWithDistinctQuotedEtags) {
  const auto entries = embedded_entries();
  ASSERT_FALSE(entries.empty());
  std::set<std::string_view> etags;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(entries[i - 1].name, entries[i].name);
    }
    const std::string_view etag = entries[i].etag;
    ASSERT_GE(etag.size(), 3u);
    EXPECT_EQ(etag.front(), '"');
    EXPECT_EQ(etag.back(), '"');
    if (entries[i].name != "dashboard.html") etags.insert(etag);  // fallback pages may be equal
  }
  EXPECT_GE(etags.size(), entries.size() - 1);
}

}  // namespace
}  // namespace kiln::web
