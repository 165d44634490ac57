// jinja2's builtin filters that chat templates use, plus transformers' tojson.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "base/utf8.h"
#include "jinja/python_text.h"

namespace kiln::jinja {
namespace {

using FilterFn = Value (*)(const Value& input, const ValueList& args, const KwArgs& kwargs);

const Value kUndefined;
const Value kNone = Value::none();
const Value kFalse = Value::boolean(false);

Value arg(const ValueList& args, const KwArgs& kwargs, size_t i, const char* name,
                 const Value& fallback = kUndefined) {
  return argument(args, kwargs, i, name, fallback);
}

Value call_method(const Value& self, const char* name, const ValueList& args) {
  return get_attribute(self, name).call(args, {});
}

// jinja2's make_attrgetter: "a.b.0" walks items, each part an int when it looks like one.
Value attribute_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    current = get_item(current, numeric ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

std::string strip_text(const std::string& s) { return python_strip(s, nullptr, true, true); }

Value select_or_reject(const Value& input, const ValueList& args, const KwArgs& kwargs,
                       bool by_attribute, bool select) {
  size_t first_test_arg = by_attribute ? 1 : 0;
  std::string attribute;
  if (by_attribute) {
    const Value& a = arg(args, kwargs, 0, "attribute");
    if (!a.is_string()) fail("selectattr/rejectattr need an attribute name");
    attribute = a.as_string();
  }
  std::string test;
  ValueList test_args;
  if (args.size() > first_test_arg) {
    if (!args[first_test_arg].is_string()) fail("the test name must be a string");
    test = args[first_test_arg].as_string();
    if (!has_test(test)) fail("no test named '" + test + "'");
    test_args.assign(args.begin() + first_test_arg + 1, args.end());
  }
  ValueList out;
  for (const Value& item : iterate(input)) {
    Value subject = by_attribute ? attribute_path(item, attribute) : item;
    bool pass = test.empty() ? subject.truthy() : apply_test(test, subject, test_args, {});
    if (pass == select) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value to_int(const Value& v, const Value& fallback) {
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_double())) return fallback;
    return Value::integer(static_cast<int64_t>(v.as_double()));
  }
  if (v.is_string()) {
    std::string s = strip_text(v.as_string());
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    if (s.empty()) return fallback;
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return Value::integer(i);
    double d = std::strtod(s.c_str(), &end);
    if (*end == '\0' && std::isfinite(d)) return Value::integer(static_cast<int64_t>(d));
  }
  return fallback;
}

Value to_float(const Value& v, const Value& fallback) {
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    std::string s = strip_text(v.as_string());
    if (s.empty()) return fallback;
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (*end == '\0') return Value::number(d);
  }
  return fallback;
}

Value round_filter(const Value& v, const ValueList& args, const KwArgs& kwargs) {
  require_defined(v);
  if (!v.is_number()) fail("round() needs a number, got " + v.type_name());
  int64_t precision = arg(args, kwargs, 0, "precision", Value::integer(0)).as_int();
  std::string method = arg(args, kwargs, 1, "method", Value::string("common")).str();
  if (method != "common" && method != "ceil" && method != "floor") {
    fail("method must be common, ceil or floor");
  }
  if (method == "common" && !v.is_float()) return Value::integer(v.as_int());
  double x = v.as_double();
  double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return Value::number(std::ceil(x * scale) / scale);
  if (method == "floor") return Value::number(std::floor(x * scale) / scale);
  if (precision <= 0) return Value::number(std::nearbyint(x * scale) / scale);
  // printf rounds the exact binary value correctly, as Python's round() does.
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)), x);
  return Value::number(std::strtod(buf, nullptr));
}

Value indent_filter(const Value& v, const ValueList& args, const KwArgs& kwargs) {
  const Value& width = arg(args, kwargs, 0, "width", Value::integer(4));
  std::string indention = width.is_string() ? width.as_string() : std::string(width.as_int(), ' ');
  bool first = arg(args, kwargs, 1, "first", kFalse).truthy();
  bool blank = arg(args, kwargs, 2, "blank", kFalse).truthy();
  std::string s = v.str() + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) {
      lines.push_back(s.substr(start, i - start));
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + indention : "") + lines[i];
  } else {
    out = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      out += "\n" + (lines[i].empty() ? lines[i] : indention + lines[i]);
    }
  }
  if (first) out = indention + out;
  return Value::string(out);
}

Value tojson_filter(const Value& v, const ValueList& args, const KwArgs& kwargs) {
  JsonDumpOptions o;
  o.ensure_ascii = arg(args, kwargs, 0, "ensure_ascii", kFalse).truthy();
  const Value& indent = arg(args, kwargs, 1, "indent", kNone);
  if (indent.is_int()) {
    o.has_indent = true;
    o.indent = std::string(std::max<int64_t>(indent.as_int(), 0), ' ');
  } else if (indent.is_string()) {
    o.has_indent = true;
    o.indent = indent.as_string();
  } else if (!indent.is_none() && !indent.is_undefined()) {
    fail("tojson: indent must be an int or a str");
  }
  if (o.has_indent) o.item_separator = ",";
  const Value& separators = arg(args, kwargs, 2, "separators", kNone);
  if (separators.is_list()) {
    if (separators.items().size() != 2) fail("tojson: separators must be a pair");
    o.item_separator = separators.items()[0].str();
    o.key_separator = separators.items()[1].str();
  }
  o.sort_keys = arg(args, kwargs, 3, "sort_keys", kFalse).truthy();
  return Value::string(json_dumps(v, o));
}

Value sort_values(ValueList items, bool reverse, bool case_sensitive,
                  const std::string& attribute) {
  auto key = [&](const Value& v) {
    Value k = attribute.empty() ? v : attribute_path(v, attribute);
    if (!case_sensitive && k.is_string()) return call_method(k, "lower", {});
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? compare("<", key(b), key(a)) : compare("<", key(a), key(b));
  });
  return Value::list(std::move(items));
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> kFilters = {
      {"trim",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         const Value& chars = arg(a, k, 0, "chars", kNone);
         std::string set = chars.is_string() ? chars.as_string() : "";
         return Value::string(
             python_strip(v.str(), chars.is_string() ? &set : nullptr, true, true));
       }},
      {"tojson", tojson_filter},
      {"length",
       [](const Value& v, const ValueList&, const KwArgs&) { return Value::integer(length(v)); }},
      {"default",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         const Value& fallback = arg(a, k, 0, "default_value", Value::string(""));
         bool boolean = arg(a, k, 1, "boolean", kFalse).truthy();
         if (v.is_undefined() || (boolean && !v.truthy())) return fallback;
         return v;
       }},
      {"string",
       [](const Value& v, const ValueList&, const KwArgs&) { return Value::string(v.str()); }},
      {"safe",
       [](const Value& v, const ValueList&, const KwArgs&) { return Value::string(v.str()); }},
      {"items",
       [](const Value& v, const ValueList&, const KwArgs&) {
         if (v.is_undefined()) return Value::list();
         if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
         return call_method(v, "items", {});
       }},
      {"lower", [](const Value& v, const ValueList&,
                   const KwArgs&) { return call_method(Value::string(v.str()), "lower", {}); }},
      {"upper", [](const Value& v, const ValueList&,
                   const KwArgs&) { return call_method(Value::string(v.str()), "upper", {}); }},
      {"capitalize",
       [](const Value& v, const ValueList&, const KwArgs&) {
         return call_method(Value::string(v.str()), "capitalize", {});
       }},
      {"title",
       [](const Value& v, const ValueList&, const KwArgs&) {
         // jinja2: a word starts after '-', whitespace or an opening bracket.
         std::string s = v.str();
         std::string out;
         bool start = true;
         for (char c : s) {
           bool sep = c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
                      c == '\v' || c == '(' || c == '{' || c == '[' || c == '<';
           if (sep) {
             out += c;
             start = true;
           } else {
             out += start ? (c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c)
                          : (c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
             start = false;
           }
         }
         return Value::string(out);
       }},
      {"join",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         std::string sep = arg(a, k, 0, "d", Value::string("")).str();
         const Value& attribute = arg(a, k, 1, "attribute", kNone);
         std::string out;
         bool first = true;
         for (const Value& item : iterate(v)) {
           if (!first) out += sep;
           first = false;
           out +=
               (attribute.is_string() ? attribute_path(item, attribute.as_string()) : item).str();
         }
         return Value::string(out);
       }},
      {"replace",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         const Value& count = arg(a, k, 2, "count", kNone);
         ValueList margs = {Value::string(arg(a, k, 0, "old").str()),
                            Value::string(arg(a, k, 1, "new").str())};
         if (!count.is_none() && !count.is_undefined()) margs.push_back(count);
         return call_method(Value::string(v.str()), "replace", margs);
       }},
      {"first",
       [](const Value& v, const ValueList&, const KwArgs&) {
         ValueList items = iterate(v);
         return items.empty() ? Value::undefined("No first item, sequence was empty.")
                              : items.front();
       }},
      {"last",
       [](const Value& v, const ValueList&, const KwArgs&) {
         ValueList items = iterate(v);
         return items.empty() ? Value::undefined("No last item, sequence was empty.")
                              : items.back();
       }},
      {"list",
       [](const Value& v, const ValueList&, const KwArgs&) { return Value::list(iterate(v)); }},
      {"reverse",
       [](const Value& v, const ValueList&, const KwArgs&) {
         ValueList items = iterate(v);
         std::reverse(items.begin(), items.end());
         if (v.is_string()) {
           std::string out;
           for (const Value& c : items) out += c.as_string();
           return Value::string(out);
         }
         return Value::list(std::move(items));
       }},
      {"select", [](const Value& v, const ValueList& a,
                    const KwArgs& k) { return select_or_reject(v, a, k, false, true); }},
      {"reject", [](const Value& v, const ValueList& a,
                    const KwArgs& k) { return select_or_reject(v, a, k, false, false); }},
      {"selectattr", [](const Value& v, const ValueList& a,
                        const KwArgs& k) { return select_or_reject(v, a, k, true, true); }},
      {"rejectattr", [](const Value& v, const ValueList& a,
                        const KwArgs& k) { return select_or_reject(v, a, k, true, false); }},
      {"map",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         ValueList out;
         const Value& attribute = arg({}, k, 0, "attribute");
         if (attribute.is_string()) {
           const Value& fallback = arg({}, k, 0, "default");
           for (const Value& item : iterate(v)) {
             Value x = attribute_path(item, attribute.as_string());
             out.push_back(x.is_undefined() && !fallback.is_undefined() ? fallback : x);
           }
           return Value::list(std::move(out));
         }
         if (a.empty() || !a[0].is_string()) fail("map needs a filter name or attribute=");
         std::string name = a[0].as_string();
         if (!has_filter(name)) fail("no filter named '" + name + "'");
         ValueList rest(a.begin() + 1, a.end());
         for (const Value& item : iterate(v)) out.push_back(apply_filter(name, item, rest, k));
         return Value::list(std::move(out));
       }},
      {"int",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         return to_int(v, arg(a, k, 0, "default", Value::integer(0)));
       }},
      {"float",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         return to_float(v, arg(a, k, 0, "default", Value::number(0.0)));
       }},
      {"abs",
       [](const Value& v, const ValueList&, const KwArgs&) {
         require_defined(v);
         if (v.is_float()) return Value::number(std::fabs(v.as_double()));
         if (v.is_number()) return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
         fail("bad operand type for abs(): '" + v.type_name() + "'");
       }},
      {"round", round_filter},
      {"indent", indent_filter},
      {"unique",
       [](const Value& v, const ValueList&, const KwArgs&) {
         ValueList out;
         for (const Value& item : iterate(v)) {
           bool seen = false;
           for (const Value& o : out) seen = seen || o.equals(item);
           if (!seen) out.push_back(item);
         }
         return Value::list(std::move(out));
       }},
      {"sort",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         const Value& attribute = arg(a, k, 2, "attribute", kNone);
         return sort_values(iterate(v), arg(a, k, 0, "reverse", kFalse).truthy(),
                            arg(a, k, 1, "case_sensitive", kFalse).truthy(),
                            attribute.is_string() ? attribute.as_string() : "");
       }},
      {"sum",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         const Value& attribute = arg(a, k, 0, "attribute", kNone);
         Value total = arg(a, k, 1, "start", Value::integer(0));
         for (const Value& item : iterate(v)) {
           total = binary_operation(
               "+", total,
               attribute.is_string() ? attribute_path(item, attribute.as_string()) : item);
         }
         return total;
       }},
      {"min",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         Value sorted =
             sort_values(iterate(v), false, arg(a, k, 0, "case_sensitive", kFalse).truthy(), "");
         return sorted.items().empty() ? Value::undefined("No aggregated item, sequence was empty.")
                                       : sorted.items().front();
       }},
      {"max",
       [](const Value& v, const ValueList& a, const KwArgs& k) {
         Value sorted =
             sort_values(iterate(v), false, arg(a, k, 0, "case_sensitive", kFalse).truthy(), "");
         return sorted.items().empty() ? Value::undefined("No aggregated item, sequence was empty.")
                                       : sorted.items().back();
       }},
      {"attr", [](const Value& v, const ValueList& a,
                  const KwArgs& k) { return get_attribute(v, arg(a, k, 0, "name").str()); }},
      {"escape",
       [](const Value& v, const ValueList&, const KwArgs&) {
         std::string out;
         for (char c : v.str()) {
           switch (c) {
             case '&':
               out += "&amp;";
               break;
             case '<':
               out += "&lt;";
               break;
             case '>':
               out += "&gt;";
               break;
             case '"':
               out += "&#34;";
               break;
             case '\'':
               out += "&#39;";
               break;
             default:
               out += c;
           }
         }
         return Value::string(out);
       }},
  };
  return kFilters;
}

std::string canonical(const std::string& name) {
  if (name == "d") return "default";
  if (name == "count") return "length";
  if (name == "e") return "escape";
  return name;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(canonical(name)) > 0; }

Value apply_filter(const std::string& name, const Value& input, const ValueList& args,
                   const KwArgs& kwargs) {
  auto it = filters().find(canonical(name));
  if (it == filters().end()) fail("no filter named '" + name + "'");
  return it->second(input, args, kwargs);
}

}  // namespace kiln::jinja
