#include "api/tool_call_json.h"

#include <cctype>
#include <vector>

#include "base/utf8.h"

namespace kiln::api {
namespace {

// The end of a JSON string literal starting at t[i] == '"', or npos when it does not end in t.
size_t string_end(std::string_view t, size_t i) {
  for (size_t k = i + 1; k < t.size(); ++k) {
    if (t[k] == '\\') {
      ++k;
    } else if (t[k] == '"') {
      return k + 1;
    }
  }
  return std::string_view::npos;
}

// The end of the JSON value starting at t[i], or npos when it does not end in t. Scalars other
// than strings end at a delimiter, so one at the very end of t is not known to be complete.
size_t value_end(std::string_view t, size_t i) {
  if (i >= t.size()) return std::string_view::npos;
  const char c = t[i];
  if (c == '"') return string_end(t, i);
  if (c == '{' || c == '[') {
    std::vector<char> open{c};
    for (size_t k = i + 1; k < t.size(); ++k) {
      const char d = t[k];
      if (d == '"') {
        const size_t e = string_end(t, k);
        if (e == std::string_view::npos) return e;
        k = e - 1;
      } else if (d == '{' || d == '[') {
        open.push_back(d);
      } else if (d == '}' || d == ']') {
        if (open.empty() || (d == '}') != (open.back() == '{')) return std::string_view::npos;
        open.pop_back();
        if (open.empty()) return k + 1;
      }
    }
    return std::string_view::npos;
  }
  size_t k = i;
  while (k < t.size() && !is_json_space(t[k]) && t[k] != ',' && t[k] != '}' && t[k] != ']') ++k;
  return k < t.size() ? k : std::string_view::npos;
}

}  // namespace

bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

size_t skip_json_space(std::string_view text, size_t i) {
  while (i < text.size() && is_json_space(text[i])) ++i;
  return i;
}

std::optional<std::string> decode_json_string(std::string_view text, size_t* length) {
  if (text.empty() || text[0] != '"') return std::nullopt;
  std::string out;
  for (size_t k = 1; k < text.size(); ++k) {
    const char c = text[k];
    if (c == '"') {
      if (length) *length = k + 1;
      return out;
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++k >= text.size()) return std::nullopt;
    switch (text[k]) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        auto hex4 = [&](size_t at, uint32_t* v) {
          if (at + 4 > text.size()) return false;
          *v = 0;
          for (size_t j = at; j < at + 4; ++j) {
            const char h = text[j];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return false;
            *v = *v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : std::tolower(h) - 'a' + 10);
          }
          return true;
        };
        uint32_t cp = 0;
        if (!hex4(k + 1, &cp)) return std::nullopt;
        k += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && k + 6 < text.size() && text[k + 1] == '\\' && text[k + 2] == 'u') {
          uint32_t low = 0;
          if (hex4(k + 3, &low) && low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            k += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        append_utf8(cp, &out);
        break;
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

JsonCallScan scan_json_call(std::string_view t) {
  JsonCallScan scan;
  size_t i = skip_json_space(t, 0);
  if (i == t.size()) return scan;
  if (t[i] != '{') {
    scan.valid = false;
    return scan;
  }
  ++i;
  bool first = true;
  for (;;) {
    i = skip_json_space(t, i);
    if (i == t.size()) return scan;
    if (t[i] == '}') {
      scan.complete = true;
      scan.end = i + 1;
      return scan;
    }
    if (!first) {
      if (t[i] != ',') {
        scan.valid = false;
        return scan;
      }
      i = skip_json_space(t, i + 1);
      if (i == t.size()) return scan;
    }
    first = false;
    if (t[i] != '"') {
      scan.valid = false;
      return scan;
    }
    size_t key_length = 0;
    const std::optional<std::string> key = decode_json_string(t.substr(i), &key_length);
    if (!key) {
      if (string_end(t, i) != std::string_view::npos) scan.valid = false;
      return scan;
    }
    i = skip_json_space(t, i + key_length);
    if (i == t.size()) return scan;
    if (t[i] != ':') {
      scan.valid = false;
      return scan;
    }
    i = skip_json_space(t, i + 1);
    const bool is_arguments = *key == "arguments" || *key == "parameters";
    if (is_arguments) {
      scan.arguments_begin = i;
      scan.arguments_is_string = i < t.size() && t[i] == '"';
    }
    if (i == t.size()) return scan;
    const size_t end = value_end(t, i);
    if (end == std::string_view::npos) {
      if (is_arguments) scan.arguments_length = t.size() - i;
      return scan;
    }
    if (*key == "name") {
      size_t length = 0;
      scan.name = decode_json_string(t.substr(i, end - i), &length);
      if (!scan.name) {
        scan.valid = false;
        return scan;
      }
    } else if (is_arguments) {
      scan.arguments_length = end - i;
      scan.arguments_complete = true;
    }
    i = end;
  }
}

std::string call_arguments(std::string_view text, const JsonCallScan& scan) {
  if (!scan.arguments_begin) return "{}";
  const std::string_view raw = text.substr(*scan.arguments_begin, scan.arguments_length);
  if (scan.arguments_is_string) {
    size_t length = 0;
    if (auto decoded = decode_json_string(raw, &length)) return *decoded;
  }
  return std::string(raw);
}

}  // namespace kiln::api
