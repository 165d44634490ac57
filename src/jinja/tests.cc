// jinja2's tests (`x is defined`, `x is string`, `x is equalto 1`, ...).
#include <map>

#include "jinja/builtins.h"
#include "jinja/error.h"

namespace kiln::jinja {
namespace {

using TestFn = bool (*)(const Value& v, const Value& arg);

const Value kUndefined;

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> kTests = {
      {"defined", [](const Value& v, const Value&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, const Value&) { return v.is_undefined(); }},
      {"none", [](const Value& v, const Value&) { return v.is_none(); }},
      {"boolean", [](const Value& v, const Value&) { return v.is_bool(); }},
      {"true", [](const Value& v, const Value&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](const Value& v, const Value&) { return v.is_bool() && !v.as_bool(); }},
      {"string", [](const Value& v, const Value&) { return v.is_string(); }},
      {"number", [](const Value& v, const Value&) { return v.is_number(); }},
      {"integer", [](const Value& v, const Value&) { return v.is_int(); }},
      {"float", [](const Value& v, const Value&) { return v.is_float(); }},
      {"mapping", [](const Value& v, const Value&) { return v.is_dict(); }},
      {"iterable",
       [](const Value& v, const Value&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"sequence",
       [](const Value& v, const Value&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"callable", [](const Value& v, const Value&) { return v.is_callable(); }},
      {"lower",
       [](const Value& v, const Value&) {
         std::string s = v.str();
         for (char c : s) {
           if (c >= 'A' && c <= 'Z') return false;
         }
         return true;
       }},
      {"upper",
       [](const Value& v, const Value&) {
         std::string s = v.str();
         for (char c : s) {
           if (c >= 'a' && c <= 'z') return false;
         }
         return true;
       }},
      {"odd",
       [](const Value& v, const Value&) {
         require_defined(v);
         return binary_operation("%", v, Value::integer(2)).as_int() == 1;
       }},
      {"even",
       [](const Value& v, const Value&) {
         require_defined(v);
         return binary_operation("%", v, Value::integer(2)).as_int() == 0;
       }},
      {"divisibleby",
       [](const Value& v, const Value& arg) {
         return binary_operation("%", v, arg).as_double() == 0.0;
       }},
      {"eq", [](const Value& v, const Value& arg) { return compare("==", v, arg); }},
      {"ne", [](const Value& v, const Value& arg) { return compare("!=", v, arg); }},
      {"lt", [](const Value& v, const Value& arg) { return compare("<", v, arg); }},
      {"le", [](const Value& v, const Value& arg) { return compare("<=", v, arg); }},
      {"gt", [](const Value& v, const Value& arg) { return compare(">", v, arg); }},
      {"ge", [](const Value& v, const Value& arg) { return compare(">=", v, arg); }},
      {"in", [](const Value& v, const Value& arg) { return contains(arg, v); }},
      {"sameas",
       [](const Value& v, const Value& arg) {
         // Python `is`: singletons (None, True, False) compare by value; values equal in kind
         // and content stand in for identity otherwise.
         return v.kind() == arg.kind() && v.equals(arg);
       }},
      {"escaped", [](const Value&, const Value&) { return false; }},
  };
  return kTests;
}

// Aliases jinja2 registers under other names.
std::string canonical(const std::string& name) {
  if (name == "equalto" || name == "==") return "eq";
  if (name == "!=") return "ne";
  if (name == "lessthan" || name == "<") return "lt";
  if (name == "<=") return "le";
  if (name == "greaterthan" || name == ">") return "gt";
  if (name == ">=") return "ge";
  return name;
}

}  // namespace

bool has_test(const std::string& name) { return tests().count(canonical(name)) > 0; }

bool apply_test(const std::string& name, const Value& input, const ValueList& args,
                const KwArgs& kwargs) {
  auto it = tests().find(canonical(name));
  if (it == tests().end()) fail("no test named '" + name + "'");
  return it->second(input, argument(args, kwargs, 0, "value", kUndefined));
}

}  // namespace kiln::jinja
