// The global functions a chat template sees: jinja2's namespace/range/dict and transformers'
// raise_exception and strftime_now.
#include <ctime>

#include "jinja/builtins.h"
#include "jinja/error.h"

namespace kiln::jinja {
namespace {

// jinja2's sandbox refuses larger ranges (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

const Value kUndefined;

Value make_namespace(const ValueList& args, const KwArgs& kwargs) {
  Value ns = Value::new_namespace();
  if (args.size() > 1) fail("namespace() takes at most 1 positional argument");
  if (!args.empty()) {
    if (!args[0].is_dict()) fail("namespace() positional argument must be a dict");
    for (const auto& [key, value] : args[0].entries().entries())
      ns.mutable_entries().set(key, value);
  }
  for (const auto& [key, value] : kwargs) ns.mutable_entries().set(key, value);
  return ns;
}

Value make_range(const ValueList& args, const KwArgs&) {
  for (const Value& a : args) {
    if (!a.is_int() && !a.is_bool())
      fail("range() arguments must be integers, got " + a.type_name());
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (args.size() == 1) {
    stop = args[0].as_int();
  } else if (args.size() == 2 || args.size() == 3) {
    start = args[0].as_int();
    stop = args[1].as_int();
    if (args.size() == 3) step = args[2].as_int();
  } else {
    fail("range expected 1 to 3 arguments, got " + std::to_string(args.size()));
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  ValueList out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange) {
      fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    out.push_back(Value::integer(i));
  }
  return Value::list(std::move(out));
}

}  // namespace

void add_globals(ValueDict& globals) {
  globals.set("namespace", Value::callable("namespace", make_namespace));
  globals.set("range", Value::callable("range", make_range));
  globals.set("dict", Value::callable("dict", [](const ValueList& args, const KwArgs& kwargs) {
                ValueDict d;
                if (!args.empty()) {
                  if (args.size() > 1 || !args[0].is_dict()) fail("dict() takes one dict argument");
                  d = args[0].entries();
                }
                for (const auto& [key, value] : kwargs) d.set(key, value);
                return Value::dict(std::move(d));
              }));
  globals.set(
      "raise_exception",
      Value::callable("raise_exception", [](const ValueList& args, const KwArgs& kwargs) -> Value {
        throw RaisedError(argument(args, kwargs, 0, "message", kUndefined).str());
      }));
  globals.set("strftime_now",
              Value::callable("strftime_now", [](const ValueList& args, const KwArgs& kwargs) {
                const Value& format = argument(args, kwargs, 0, "format", kUndefined);
                if (!format.is_string()) fail("strftime_now() needs a format string");
                std::time_t now = std::time(nullptr);
                std::tm local{};
                localtime_r(&now, &local);
                char buf[256];
                size_t n = std::strftime(buf, sizeof(buf), format.as_string().c_str(), &local);
                return Value::string(std::string(buf, n));
              }));
}

}  // namespace kiln::jinja
