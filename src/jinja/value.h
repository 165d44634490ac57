// The values a chat template computes with: a JSON-like model (none, bool, int, float, string,
// list, dict with insertion order) plus what Jinja adds (undefined, namespace, callable). Lists and
// dicts are shared by pointer as in Python, so `ns.x = ...` on a namespace is seen by every holder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::jinja {

class Value;
class ValueDict;
using ValueList = std::vector<Value>;
using KwArgs = std::vector<std::pair<std::string, Value>>;

// A function a template can call: globals (namespace, range, raise_exception), bound string/dict
// methods and macros. Errors are raised as JinjaError (see error.h).
using NativeFunction = std::function<Value(const ValueList& args, const KwArgs& kwargs)>;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable,
  };

  Value() = default;  // undefined
  static Value undefined(std::string hint = "") {
    Value v;
    v.str_ = std::make_shared<const std::string>(std::move(hint));
    return v;
  }
  static Value none() { return Value(Kind::kNone); }
  static Value boolean(bool b) {
    Value v(Kind::kBool);
    v.int_ = b ? 1 : 0;
    return v;
  }
  static Value integer(int64_t i) {
    Value v(Kind::kInt);
    v.int_ = i;
    return v;
  }
  static Value number(double f) {
    Value v(Kind::kFloat);
    v.float_ = f;
    return v;
  }
  static Value string(std::string s) {
    Value v(Kind::kString);
    v.str_ = std::make_shared<const std::string>(std::move(s));
    return v;
  }
  static Value list(ValueList items = {}, bool is_tuple = false);
  static Value dict(ValueDict items);
  static Value dict();
  static Value new_namespace();
  static Value callable(std::string name, NativeFunction fn);
  // Keeps the JSON object's key order, which tojson reproduces: parse requests with
  // nlohmann::ordered_json. A plain nlohmann::json has already sorted its keys.
  static Value from_json(const nlohmann::ordered_json& json);
  static Value from_json(const nlohmann::json& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // Python numbers include bool (isinstance(True, int) is true).
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && is_tuple_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // bool or int
  double as_double() const { return is_float() ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return str_ ? *str_ : empty_string(); }
  // For an undefined value: why it is undefined ("'x' is undefined").
  const std::string& undefined_hint() const { return as_string(); }
  const ValueList& items() const { return *list_; }
  ValueList& mutable_items() { return *list_; }
  const ValueDict& entries() const { return *dict_; }  // dict or namespace
  ValueDict& mutable_entries() { return *dict_; }
  const std::string& callable_name() const;
  Value call(const ValueList& args, const KwArgs& kwargs) const;

  // Python truthiness.
  bool truthy() const;
  // Python str(): what {{ value }} prints (undefined prints nothing).
  std::string str() const;
  // Python repr(), as str() of a container prints its items.
  std::string repr() const;
  // Python type name, for error messages ("str", "int", "dict", ...).
  std::string type_name() const;
  // Python ==.
  bool equals(const Value& other) const;

 private:
  explicit Value(Kind kind) : kind_(kind) {}
  static const std::string& empty_string();

  Kind kind_ = Kind::kUndefined;
  bool is_tuple_ = false;
  int64_t int_ = 0;
  double float_ = 0.0;
  // Shared so that copying a value (every variable read) does not copy message text.
  std::shared_ptr<const std::string> str_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<std::pair<std::string, NativeFunction>> fn_;
};

// A dict with Python's insertion order and string keys (JSON objects and keyword arguments).
class ValueDict {
 public:
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const Value* find(const std::string& key) const;
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  void set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// Python's repr() of a float: the shortest text that round-trips (1.0, 1e-05, 1e+16).
std::string python_float_repr(double value);
// Python's repr() of a str: single quotes unless the text holds ' and no ".
std::string python_string_repr(const std::string& text);

}  // namespace kiln::jinja
