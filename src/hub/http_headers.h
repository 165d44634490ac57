// HTTP response headers as the Hub sends them, and the few values kiln reads from them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::hub {

// Response headers of one hop, in arrival order; names compared case-insensitively.
class HttpHeaders {
 public:
  // Feeds one raw header line as libcurl delivers it ("Name: value\r\n"). A status line
  // ("HTTP/1.1 302 Found") starts a new response: earlier headers (of a 100 Continue or a
  // followed redirect) are dropped.
  void add_line(const std::string& line);
  std::optional<std::string> get(const std::string& name) const;
  void clear() { entries_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// huggingface_hub's _normalize_etag: drops a weak "W/" prefix and surrounding quotes.
std::string normalize_etag(const std::string& etag);

// True for a 64-hex sha256, the ETag of an LFS file: then the content's sha256 must equal it.
bool is_sha256_hex(const std::string& text);

// "bytes 100-199/1000" -> {100, 199, 1000}; nullopt when malformed or the total is '*'.
struct ContentRange {
  int64_t first = 0;
  int64_t last = 0;
  int64_t total = 0;
};
std::optional<ContentRange> parse_content_range(const std::string& value);

// A non-negative decimal integer header value, nullopt otherwise.
std::optional<int64_t> parse_size(const std::optional<std::string>& value);

// Resolves a Location header against the URL that returned it: absolute URLs are kept, "/path"
// keeps scheme and host, other relative forms resolve against the request's folder.
std::string resolve_location(const std::string& request_url, const std::string& location);

// scheme://host[:port] of a URL, lowercase host; used to drop the token on cross-host redirects.
std::string url_origin(const std::string& url);

// Percent-encodes a repo path for /resolve/ URLs as Python's quote(path) does ('/' kept).
std::string quote_path(const std::string& path, bool keep_slash = true);

}  // namespace kiln::hub
