// Python's operators on template values: arithmetic, comparison, `in`, slicing, iteration.
#include <cmath>
#include <limits>
#include <optional>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "base/utf8.h"
#include "jinja/python_text.h"

namespace kiln::jinja {
namespace {

// Repetition (`'-' * n`) is capped so that a template cannot exhaust memory.
constexpr int64_t kMaxRepeatBytes = 64 << 20;

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  fail("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() +
       "'");
}

// Python ints do not overflow; ours are 64-bit, so overflow is an error rather than a wrap.
template <typename Op>
Value checked(Op op, int64_t a, int64_t b) {
  int64_t result = 0;
  if (op(a, b, &result)) fail("integer overflow in template arithmetic");
  return Value::integer(result);
}

Value repeat(const Value& sequence, int64_t times) {
  if (times < 0) times = 0;
  if (sequence.is_string()) {
    if (static_cast<double>(sequence.as_string().size()) * times > kMaxRepeatBytes) {
      fail("string repetition is too large");
    }
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += sequence.as_string();
    return Value::string(std::move(out));
  }
  if (static_cast<double>(sequence.items().size()) * times > kMaxRepeatBytes) {
    fail("list repetition is too large");
  }
  ValueList out;
  for (int64_t i = 0; i < times; ++i) {
    out.insert(out.end(), sequence.items().begin(), sequence.items().end());
  }
  return Value::list(std::move(out), sequence.is_tuple());
}

double python_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

}  // namespace

void require_defined(const Value& value) {
  if (value.is_undefined()) {
    fail(value.undefined_hint().empty() ? "undefined value" : value.undefined_hint());
  }
}

Value binary_operation(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value::string(a.str() + b.str());
  require_defined(a);
  require_defined(b);
  bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  bool numbers = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) {
      return checked(
          [](int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); },
          a.as_int(), b.as_int());
    }
    if (numbers) return Value::number(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) return Value::string(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      ValueList out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(out), a.is_tuple());
    }
    if (a.is_string()) fail("can only concatenate str (not \"" + b.type_name() + "\") to str");
    unsupported(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      return checked(
          [](int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); },
          a.as_int(), b.as_int());
    }
    if (numbers) return Value::number(a.as_double() - b.as_double());
    unsupported(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      return checked(
          [](int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); },
          a.as_int(), b.as_int());
    }
    if (numbers) return Value::number(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
    unsupported(op, a, b);
  }
  if (op == "/") {
    if (!numbers) unsupported(op, a, b);
    if (b.as_double() == 0.0) fail("division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  if (op == "//") {
    if (!numbers) unsupported(op, a, b);
    if (b.as_double() == 0.0) fail("integer division or modulo by zero");
    if (ints) {
      int64_t x = a.as_int();
      int64_t y = b.as_int();
      if (x == std::numeric_limits<int64_t>::min() && y == -1) fail("integer overflow");
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
      return Value::integer(q);
    }
    return Value::number(std::floor(a.as_double() / b.as_double()));
  }
  if (op == "%") {
    if (a.is_string()) fail("printf-style string formatting ('%') is not supported");
    if (!numbers) unsupported(op, a, b);
    if (b.as_double() == 0.0) fail("integer division or modulo by zero");
    if (ints) {
      int64_t x = a.as_int();
      int64_t y = b.as_int();
      if (y == -1) return Value::integer(0);
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value::integer(m);
    }
    return Value::number(python_fmod(a.as_double(), b.as_double()));
  }
  if (op == "**") {
    if (!numbers) unsupported(op, a, b);
    if (ints && b.as_int() >= 0) {
      int64_t base = a.as_int();
      int64_t out = 1;
      for (int64_t i = 0; i < b.as_int(); ++i) {
        if (__builtin_mul_overflow(out, base, &out))
          fail("integer overflow in template arithmetic");
        if (out == 0 || out == 1) break;
      }
      return Value::integer(out);
    }
    return Value::number(std::pow(a.as_double(), b.as_double()));
  }
  fail("unknown operator " + op);
}

namespace {

// Python ordering: -1, 0, 1; raises for types Python cannot order.
int order(const std::string& op, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if ((a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool())) {
      return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
    }
    double x = a.as_double();
    double y = b.as_double();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    size_t n = std::min(a.items().size(), b.items().size());
    for (size_t i = 0; i < n; ++i) {
      if (!a.items()[i].equals(b.items()[i])) return order(op, a.items()[i], b.items()[i]);
    }
    return a.items().size() < b.items().size() ? -1 : (a.items().size() > b.items().size() ? 1 : 0);
  }
  require_defined(a);
  require_defined(b);
  fail("'" + op + "' not supported between instances of '" + a.type_name() + "' and '" +
       b.type_name() + "'");
}

}  // namespace

bool compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return a.equals(b);
  if (op == "!=") return !a.equals(b);
  if (op == "in") return contains(b, a);
  if (op == "not in") return !contains(b, a);
  int c = order(op, a, b);
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  fail("unknown comparison " + op);
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        fail("'in <string>' requires string as left operand, not " + item.type_name());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.items()) {
        if (v.equals(item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      return item.is_string() && container.entries().contains(item.as_string());
    default:
      fail("argument of type '" + container.type_name() + "' is not iterable");
  }
}

ValueList iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
      return value.items();
    case Value::Kind::kDict: {
      ValueList keys;
      for (const auto& [key, v] : value.entries().entries()) keys.push_back(Value::string(key));
      return keys;
    }
    case Value::Kind::kString: {
      ValueList chars;
      const std::string& s = value.as_string();
      std::vector<size_t> offsets = code_point_offsets(s);
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        chars.push_back(Value::string(s.substr(offsets[i], offsets[i + 1] - offsets[i])));
      }
      return chars;
    }
    default:
      fail("'" + value.type_name() + "' object is not iterable");
  }
}

int64_t length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return static_cast<int64_t>(code_point_count(value.as_string()));
    case Value::Kind::kList:
      return static_cast<int64_t>(value.items().size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(value.entries().size());
    default:
      fail("object of type '" + value.type_name() + "' has no len()");
  }
}

Value slice(const Value& object, const Value& start_v, const Value& stop_v, const Value& step_v) {
  require_defined(object);
  if (!object.is_string() && !object.is_list()) {
    fail("'" + object.type_name() + "' object is not subscriptable");
  }
  auto as_index = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) {
      fail("slice indices must be integers or None, not " + v.type_name());
    }
    return v.as_int();
  };
  std::vector<size_t> offsets;
  int64_t n;
  if (object.is_string()) {
    offsets = code_point_offsets(object.as_string());
    n = static_cast<int64_t>(offsets.size()) - 1;
  } else {
    n = static_cast<int64_t>(object.items().size());
  }
  int64_t step = as_index(step_v).value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t i = *v;
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  int64_t start = adjust(as_index(start_v), step < 0 ? n - 1 : 0);
  int64_t stop = adjust(as_index(stop_v), step < 0 ? -1 : n);
  std::vector<int64_t> picks;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) picks.push_back(i);
  if (object.is_string()) {
    const std::string& s = object.as_string();
    std::string out;
    for (int64_t i : picks) out += s.substr(offsets[i], offsets[i + 1] - offsets[i]);
    return Value::string(std::move(out));
  }
  ValueList out;
  for (int64_t i : picks) out.push_back(object.items()[i]);
  return Value::list(std::move(out), object.is_tuple());
}

Value argument(const ValueList& args, const KwArgs& kwargs, size_t position,
                      const char* name, const Value& fallback) {
  if (position < args.size()) return args[position];
  for (const auto& [key, value] : kwargs) {
    if (key == name) return value;
  }
  return fallback;
}

}  // namespace kiln::jinja
