// Attribute and item access, and the str/dict/list methods templates call (content.split(...),
// message.get(...), tools.items()). The sandbox's rules hold: methods that modify a list or dict
// (append, pop, update, ...) are refused, as ImmutableSandboxedEnvironment refuses them.
#include <set>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "base/utf8.h"
#include "jinja/python_text.h"

namespace kiln::jinja {
namespace {

const Value kNone = Value::none();
const Value kUndefined;

std::string type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

Value missing_attribute(const Value& object, const std::string& name) {
  return Value::undefined("'" + type_repr(object) + "' has no attribute '" + name + "'");
}

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string ascii_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

const std::string& string_arg(const Value& v, const char* method) {
  if (!v.is_string()) {
    fail(std::string(method) + "() argument must be str, not " + v.type_name());
  }
  return v.as_string();
}

int64_t int_arg(const Value& v, const char* method, int64_t fallback) {
  if (v.is_undefined() || v.is_none()) return fallback;
  if (!v.is_int() && !v.is_bool()) {
    fail(std::string(method) + "() argument must be int, not " + v.type_name());
  }
  return v.as_int();
}

// str.split / str.rsplit.
ValueList split(const std::string& s, const Value& sep_v, int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (sep_v.is_none() || sep_v.is_undefined()) {
    // Runs of whitespace separate; leading/trailing whitespace gives no empty parts.
    std::vector<size_t> offsets = code_point_offsets(s);
    size_t n = offsets.size() - 1;
    std::vector<std::pair<size_t, size_t>> words;  // code point ranges
    size_t i = 0;
    while (i < n) {
      while (i < n && is_python_space(code_point_at(s, offsets[i]))) ++i;
      if (i >= n) break;
      size_t b = i;
      while (i < n && !is_python_space(code_point_at(s, offsets[i]))) ++i;
      words.emplace_back(b, i);
    }
    if (maxsplit >= 0 && static_cast<int64_t>(words.size()) > maxsplit + 1) {
      // The unsplit remainder keeps its whitespace except where the last split happened.
      if (!from_right) {
        for (int64_t k = 0; k < maxsplit; ++k) {
          parts.push_back(s.substr(offsets[words[k].first],
                                   offsets[words[k].second] - offsets[words[k].first]));
        }
        size_t rest = offsets[words[maxsplit].first];
        parts.push_back(s.substr(rest));
      } else {
        size_t first_kept = words.size() - maxsplit;
        std::string rest = s.substr(0, offsets[words[first_kept - 1].second]);
        parts.push_back(rest);
        for (size_t k = first_kept; k < words.size(); ++k) {
          parts.push_back(s.substr(offsets[words[k].first],
                                   offsets[words[k].second] - offsets[words[k].first]));
        }
      }
    } else {
      for (auto [b, e] : words) parts.push_back(s.substr(offsets[b], offsets[e] - offsets[b]));
    }
  } else {
    const std::string& sep = string_arg(sep_v, from_right ? "rsplit" : "split");
    if (sep.empty()) fail("empty separator");
    if (!from_right) {
      size_t start = 0;
      int64_t done = 0;
      size_t hit;
      while ((maxsplit < 0 || done < maxsplit) && (hit = s.find(sep, start)) != std::string::npos) {
        parts.push_back(s.substr(start, hit - start));
        start = hit + sep.size();
        ++done;
      }
      parts.push_back(s.substr(start));
    } else {
      size_t end = s.size();
      int64_t done = 0;
      std::vector<std::string> reversed;
      while (maxsplit < 0 || done < maxsplit) {
        if (end < sep.size()) break;
        size_t hit = s.rfind(sep, end - sep.size());
        if (hit == std::string::npos) break;
        reversed.push_back(s.substr(hit + sep.size(), end - hit - sep.size()));
        end = hit;
        ++done;
      }
      reversed.push_back(s.substr(0, end));
      parts.assign(reversed.rbegin(), reversed.rend());
    }
  }
  ValueList out;
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix, const char* method) {
  auto one = [&](const Value& a) {
    const std::string& x = string_arg(a, method);
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    for (const Value& a : affix.items()) {
      if (one(a)) return true;
    }
    return false;
  }
  return one(affix);
}

std::string replace_all(const std::string& s, const std::string& old, const std::string& with,
                        int64_t count) {
  if (old.empty()) {
    // Python inserts `with` between every code point (and at both ends).
    std::vector<size_t> offsets = code_point_offsets(s);
    std::string out;
    int64_t done = 0;
    for (size_t i = 0; i + 1 < offsets.size() + 1; ++i) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      if (i + 1 < offsets.size()) out += s.substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    return out;
  }
  std::string out;
  size_t start = 0;
  int64_t done = 0;
  size_t hit;
  while ((count < 0 || done < count) && (hit = s.find(old, start)) != std::string::npos) {
    out += s.substr(start, hit - start) + with;
    start = hit + old.size();
    ++done;
  }
  return out + s.substr(start);
}

std::string capitalize(const std::string& s) {
  if (s.empty()) return s;
  std::vector<size_t> offsets = code_point_offsets(s);
  return ascii_upper(s.substr(0, offsets[1])) + ascii_lower(s.substr(offsets[1]));
}

std::string title(const std::string& s) {
  // Python str.title: a letter after a non-letter starts a word.
  std::string out = s;
  bool prev_letter = false;
  for (char& c : out) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (letter)
      c = prev_letter ? ascii_lower(std::string(1, c))[0] : ascii_upper(std::string(1, c))[0];
    prev_letter = letter || (static_cast<unsigned char>(c) >= 0x80);
  }
  return out;
}

Value string_method(const Value& self, const std::string& name) {
  static const std::set<std::string> kNames = {
      "split",      "rsplit",  "strip",   "lstrip",  "rstrip",       "startswith",
      "endswith",   "upper",   "lower",   "replace", "title",        "capitalize",
      "find",       "rfind",   "count",   "join",    "isdigit",      "isalpha",
      "isspace",    "isupper", "islower", "isalnum", "removeprefix", "removesuffix",
      "splitlines", "casefold"};
  if (!kNames.count(name)) return missing_attribute(self, name);
  std::string s = self.as_string();
  return Value::callable("str." + name, [s, name](const ValueList& args, const KwArgs& kwargs) {
    auto arg = [&](size_t i, const char* key) -> Value {
      return argument(args, kwargs, i, key, kUndefined);
    };
    if (name == "split" || name == "rsplit") {
      return Value::list(
          split(s, arg(0, "sep"), int_arg(arg(1, "maxsplit"), name.c_str(), -1), name == "rsplit"));
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const Value& chars = arg(0, "chars");
      const std::string* set = nullptr;
      if (!chars.is_none() && !chars.is_undefined()) set = &string_arg(chars, name.c_str());
      return Value::string(python_strip(s, set, name != "rstrip", name != "lstrip"));
    }
    if (name == "startswith" || name == "endswith") {
      return Value::boolean(affix_matches(s, arg(0, "prefix"), name == "startswith", name.c_str()));
    }
    if (name == "upper") return Value::string(ascii_upper(s));
    if (name == "lower" || name == "casefold") return Value::string(ascii_lower(s));
    if (name == "title") return Value::string(title(s));
    if (name == "capitalize") return Value::string(capitalize(s));
    if (name == "replace") {
      return Value::string(replace_all(s, string_arg(arg(0, "old"), "replace"),
                                       string_arg(arg(1, "new"), "replace"),
                                       int_arg(arg(2, "count"), "replace", -1)));
    }
    if (name == "find" || name == "rfind" || name == "count") {
      std::string sub = string_arg(arg(0, "sub"), name.c_str());
      if (name == "count") {
        if (sub.empty()) return Value::integer(static_cast<int64_t>(code_point_count(s)) + 1);
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value::integer(n);
      }
      size_t hit = name == "find" ? s.find(sub) : s.rfind(sub);
      if (hit == std::string::npos) return Value::integer(-1);
      return Value::integer(static_cast<int64_t>(code_point_count(s.substr(0, hit))));
    }
    if (name == "join") {
      std::string out;
      bool first = true;
      for (const Value& v : iterate(arg(0, "iterable"))) {
        if (!v.is_string())
          fail("sequence item: expected str instance, " + v.type_name() + " found");
        if (!first) out += s;
        first = false;
        out += v.as_string();
      }
      return Value::string(std::move(out));
    }
    if (name == "removeprefix" || name == "removesuffix") {
      std::string a = string_arg(arg(0, "affix"), name.c_str());
      if (name == "removeprefix" && s.compare(0, a.size(), a) == 0)
        return Value::string(s.substr(a.size()));
      if (name == "removesuffix" && a.size() <= s.size() && !a.empty() &&
          s.compare(s.size() - a.size(), a.size(), a) == 0) {
        return Value::string(s.substr(0, s.size() - a.size()));
      }
      return Value::string(s);
    }
    if (name == "splitlines") {
      ValueList out;
      size_t start = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r') {
          out.push_back(Value::string(s.substr(start, i - start)));
          if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
          start = i + 1;
        }
      }
      if (start < s.size()) out.push_back(Value::string(s.substr(start)));
      return Value::list(std::move(out));
    }
    // Character classes (ASCII).
    if (s.empty()) return Value::boolean(false);
    bool all = true;
    bool any_cased = false;
    for (unsigned char c : s) {
      bool lower = c >= 'a' && c <= 'z';
      bool upper = c >= 'A' && c <= 'Z';
      bool digit = c >= '0' && c <= '9';
      any_cased = any_cased || lower || upper;
      if (name == "isdigit") all = all && digit;
      if (name == "isalpha") all = all && (lower || upper);
      if (name == "isalnum") all = all && (lower || upper || digit);
      if (name == "isspace") all = all && is_python_space(c);
      if (name == "isupper") all = all && !lower;
      if (name == "islower") all = all && !upper;
    }
    if (name == "isupper" || name == "islower") return Value::boolean(all && any_cased);
    return Value::boolean(all);
  });
}

Value dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return Value::callable("dict." + name, [self, name](const ValueList&, const KwArgs&) {
      ValueList out;
      for (const auto& [key, value] : self.entries().entries()) {
        if (name == "items") {
          out.push_back(Value::list({Value::string(key), value}, true));
        } else {
          out.push_back(name == "keys" ? Value::string(key) : value);
        }
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "get") {
    return Value::callable("dict.get", [self](const ValueList& args, const KwArgs& kwargs) {
      const Value& key = argument(args, kwargs, 0, "key", kUndefined);
      const Value& fallback = argument(args, kwargs, 1, "default", kNone);
      if (!key.is_string()) return fallback;
      const Value* found = self.entries().find(key.as_string());
      return found ? *found : fallback;
    });
  }
  if (name == "copy") {
    return Value::callable("dict.copy", [self](const ValueList&, const KwArgs&) {
      return Value::dict(self.entries());
    });
  }
  static const std::set<std::string> kUnsafe = {"pop", "popitem", "setdefault", "update", "clear"};
  if (kUnsafe.count(name)) {
    return Value::undefined("access to attribute '" + name + "' of 'dict' object is unsafe.");
  }
  return Value();
}

Value list_method(const Value& self, const std::string& name) {
  if (name == "index" || name == "count") {
    return Value::callable("list." + name,
                           [self, name](const ValueList& args, const KwArgs& kwargs) {
                             const Value& x = argument(args, kwargs, 0, "value", kUndefined);
                             int64_t n = 0;
                             for (size_t i = 0; i < self.items().size(); ++i) {
                               if (self.items()[i].equals(x)) {
                                 if (name == "index")
                                   return Value::integer(static_cast<int64_t>(i));
                                 ++n;
                               }
                             }
                             if (name == "index") fail(x.repr() + " is not in list");
                             return Value::integer(n);
                           });
  }
  static const std::set<std::string> kUnsafe = {"append", "extend",  "insert", "pop",
                                                "remove", "reverse", "sort",   "clear"};
  if (kUnsafe.count(name)) {
    return Value::undefined("access to attribute '" + name + "' of '" + self.type_name() +
                            "' object is unsafe.");
  }
  return missing_attribute(self, name);
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Value::Kind::kUndefined:
      require_defined(object);
      return object;
    case Value::Kind::kDict: {
      Value method = dict_method(object, name);
      if (!method.is_undefined() || !method.undefined_hint().empty()) return method;
      const Value* found = object.entries().find(name);
      return found ? *found : missing_attribute(object, name);
    }
    case Value::Kind::kNamespace: {
      const Value* found = object.entries().find(name);
      return found ? *found
                   : Value::undefined("'Namespace' object has no attribute '" + name + "'");
    }
    case Value::Kind::kString:
      return string_method(object, name);
    case Value::Kind::kList:
      return list_method(object, name);
    default:
      return missing_attribute(object, name);
  }
}

Value get_item(const Value& object, const Value& key) {
  require_defined(object);
  if (object.is_dict()) {
    if (key.is_string()) {
      const Value* found = object.entries().find(key.as_string());
      if (found) return *found;
      return get_attribute(object, key.as_string());
    }
    return Value::undefined("dict object has no element " + key.repr());
  }
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t n = length(object);
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n)
      return Value::undefined(type_repr(object) + " has no element " + key.repr());
    if (object.is_list()) return object.items()[i];
    return slice(object, Value::integer(i), Value::integer(i + 1), Value::none());
  }
  if (key.is_string()) return get_attribute(object, key.as_string());
  return Value::undefined(type_repr(object) + " has no element " + key.repr());
}

}  // namespace kiln::jinja
