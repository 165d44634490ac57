#include "hub/http_headers.h"

#include <algorithm>
#include <cctype>

namespace kiln::hub {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

void HttpHeaders::add_line(const std::string& raw) {
  const std::string line = trim(raw);
  if (line.rfind("HTTP/", 0) == 0) {
    entries_.clear();
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) return;
  entries_.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
}

std::optional<std::string> HttpHeaders::get(const std::string& name) const {
  const std::string key = lower(name);
  for (const auto& [entry_name, value] : entries_) {
    if (entry_name == key) return value;
  }
  return std::nullopt;
}

std::string normalize_etag(const std::string& etag) {
  std::string value = trim(etag);
  // Python's lstrip("W/") strips any run of 'W' and '/' characters; ETags on the Hub are hex,
  // so stripping the exact prefix gives the same names.
  size_t begin = 0;
  while (begin < value.size() && (value[begin] == 'W' || value[begin] == '/')) ++begin;
  value = value.substr(begin);
  size_t start = 0;
  size_t end = value.size();
  while (start < end && value[start] == '"') ++start;
  while (end > start && value[end - 1] == '"') --end;
  return value.substr(start, end - start);
}

bool is_sha256_hex(const std::string& text) {
  if (text.size() != 64) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<ContentRange> parse_content_range(const std::string& value) {
  const std::string text = trim(value);
  if (text.rfind("bytes ", 0) != 0) return std::nullopt;
  const std::string spec = trim(text.substr(6));
  const size_t dash = spec.find('-');
  const size_t slash = spec.find('/');
  if (dash == std::string::npos || slash == std::string::npos || dash > slash) return std::nullopt;
  const auto first = parse_int(spec.substr(0, dash));
  const auto last = parse_int(spec.substr(dash + 1, slash - dash - 1));
  const auto total = parse_int(spec.substr(slash + 1));
  if (!first || !last || !total || *first > *last || *last >= *total) return std::nullopt;
  return ContentRange{*first, *last, *total};
}

std::optional<int64_t> parse_size(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  return parse_int(trim(*value));
}

std::string url_origin(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "";
  const size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  return lower(url.substr(0, host_end));
}

std::string resolve_location(const std::string& request_url, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  const std::string origin = url_origin(request_url);
  if (location.rfind("//", 0) == 0) {
    return request_url.substr(0, request_url.find("://") + 1) + location;
  }
  if (!location.empty() && location.front() == '/') return origin + location;
  // Relative to the request's folder (rare on the Hub, allowed by RFC 7231).
  std::string base = request_url.substr(0, request_url.find_first_of("?#"));
  const size_t last_slash = base.rfind('/');
  if (last_slash != std::string::npos && last_slash >= origin.size()) base.resize(last_slash + 1);
  else base = origin + "/";
  return base + location;
}

std::string quote_path(const std::string& path, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    const bool safe = std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' ||
                      (keep_slash && c == '/');
    if (safe) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace kiln::hub
