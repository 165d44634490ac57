// json.dumps(value, ensure_ascii, indent, separators, sort_keys) byte for byte, as transformers'
// tojson filter calls it (ensure_ascii=False by default, unlike jinja2's own tojson).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "base/utf8.h"
#include "jinja/python_text.h"

namespace kiln::jinja {
namespace {

constexpr int kMaxDepth = 256;

void append_escape(std::string& out, uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", cp & 0xFFFFu);
  out += buf;
}

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  std::vector<size_t> offsets = code_point_offsets(s);
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    uint32_t cp = code_point_at(s, offsets[i]);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      append_escape(out, cp);
    } else if (ensure_ascii && cp >= 0x80) {
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        append_escape(out, 0xD800 | (v >> 10));
        append_escape(out, 0xDC00 | (v & 0x3FF));
      } else {
        append_escape(out, cp);
      }
    } else {
      out.append(s, offsets[i], offsets[i + 1] - offsets[i]);
    }
  }
  out += '"';
}

void dump(std::string& out, const Value& v, const JsonDumpOptions& o, int depth) {
  if (depth > kMaxDepth) fail("tojson: value nested too deeply");
  auto newline = [&](int level) {
    if (!o.has_indent) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += o.indent;
  };
  switch (v.kind()) {
    case Value::Kind::kNone:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::kFloat: {
      double f = v.as_double();
      if (std::isnan(f)) {
        out += "NaN";
      } else if (std::isinf(f)) {
        out += f > 0 ? "Infinity" : "-Infinity";
      } else {
        out += python_float_repr(f);
      }
      return;
    }
    case Value::Kind::kString:
      dump_string(out, v.as_string(), o.ensure_ascii);
      return;
    case Value::Kind::kList: {
      if (v.items().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const Value& item : v.items()) {
        if (!first) out += o.item_separator;
        first = false;
        newline(depth + 1);
        dump(out, item, o, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::kDict: {
      if (v.entries().empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& e : v.entries().entries()) entries.push_back(&e);
      if (o.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](auto* a, auto* b) { return a->first < b->first; });
      }
      out += '{';
      bool first = true;
      for (const auto* e : entries) {
        if (!first) out += o.item_separator;
        first = false;
        newline(depth + 1);
        dump_string(out, e->first, o.ensure_ascii);
        out += o.key_separator;
        dump(out, e->second, o, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    default:
      fail("Object of type " + v.type_name() + " is not JSON serializable");
  }
}

}  // namespace

std::string json_dumps(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  dump(out, value, options, 0);
  return out;
}

}  // namespace kiln::jinja
