// What templates call by name: filters, tests, global functions, attribute/method access and
// the Python operators, each with jinja2's (and Python's) semantics. All raise JinjaError.
#pragma once

#include <string>

#include "jinja/value.h"

namespace kiln::jinja {

// filters.cc
bool has_filter(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, const ValueList& args,
                   const KwArgs& kwargs);

// tests.cc
bool has_test(const std::string& name);
bool apply_test(const std::string& name, const Value& input, const ValueList& args,
                const KwArgs& kwargs);

// globals.cc: namespace, range, dict, raise_exception, strftime_now.
void add_globals(ValueDict& globals);

// methods.cc: obj.name (jinja2 tries the attribute, then the item) and obj[key] (the item, then
// the attribute); str/dict/list methods come back as bound callables.
Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);

// operators.cc
Value binary_operation(const std::string& op, const Value& left, const Value& right);
bool compare(const std::string& op, const Value& left, const Value& right);
bool contains(const Value& container, const Value& item);
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);
// Iterating: list items, dict keys, str code points; undefined is empty.
ValueList iterate(const Value& value);
// len(): code points of a str, items of a list or dict.
int64_t length(const Value& value);
// Raises the undefined value's error when `value` is undefined (any use other than printing,
// testing or defaulting it).
void require_defined(const Value& value);

// json_dump.cc: json.dumps as transformers' tojson calls it.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::string indent;  // empty: one line
  bool has_indent = false;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string json_dumps(const Value& value, const JsonDumpOptions& options);

// Argument binding shared by filters, tests, globals and methods: positional index `position`
// or keyword `name`, else `fallback`. Returned by value: callers pass temporaries as fallback.
Value argument(const ValueList& args, const KwArgs& kwargs, size_t position,
                      const char* name, const Value& fallback);

}  // namespace kiln::jinja
