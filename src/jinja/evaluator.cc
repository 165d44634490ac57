#include "jinja/evaluator.h"

#include <unordered_map>

#include "jinja/builtins.h"
#include "jinja/error.h"

namespace kiln::jinja {
namespace {

class Scope {
 public:
  explicit Scope(const Scope* parent) : parent_(parent) {}
  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent_) {
      auto it = s->vars_.find(name);
      if (it != s->vars_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  const Scope* parent_;
  std::unordered_map<std::string, Value> vars_;
};

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  Renderer(const ValueDict& context, const RenderLimits& limits)
      : limits_(limits), globals_(nullptr), context_(&globals_), top_(&context_) {
    ValueDict globals;
    add_globals(globals);
    for (const auto& [key, value] : globals.entries()) globals_.set(key, value);
    for (const auto& [key, value] : context.entries()) context_.set(key, value);
  }

  std::string run(const Body& body) {
    std::string out;
    out_ = &out;
    exec(body, top_);
    return out;
  }

 private:
  void step() {
    if (++steps_ > limits_.max_steps) {
      fail("template exceeded " + std::to_string(limits_.max_steps) + " steps (runaway loop?)");
    }
  }

  void write(const std::string& text) {
    if (out_->size() + text.size() > limits_.max_output_bytes) {
      fail("template output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
    }
    *out_ += text;
  }

  Flow exec(const Body& body, Scope& scope) {
    for (const StmtPtr& s : body) {
      Flow flow = exec(*s, scope);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Stmt& s, Scope& scope) {
    step();
    line_ = s.line;
    switch (s.kind) {
      case Stmt::Kind::kData:
        write(s.text);
        return Flow::kNormal;
      case Stmt::Kind::kOutput:
        write(eval(*s.expr, scope).str());
        return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (size_t i = 0; i < s.conditions.size(); ++i) {
          if (eval(*s.conditions[i], scope).truthy()) return exec(s.bodies[i], scope);
        }
        return exec(s.else_body, scope);
      case Stmt::Kind::kFor:
        exec_for(s, scope);
        return Flow::kNormal;
      case Stmt::Kind::kSet:
        exec_set(s, scope);
        return Flow::kNormal;
      case Stmt::Kind::kSetBlock:
        scope.set(s.targets[0], Value::string(capture(s.body, scope)));
        return Flow::kNormal;
      case Stmt::Kind::kMacro:
        // A macro sees the template's top-level names, never a loop iteration that may be gone
        // by the time it is called.
        scope.set(s.name, make_macro(s, &top_));
        return Flow::kNormal;
      case Stmt::Kind::kCallBlock: {
        Value caller = make_macro(s, &scope);
        const Expr& call = *s.expr;
        Value callee = eval(*call.children[0], scope);
        ValueList args;
        KwArgs kwargs;
        eval_args(call, scope, args, kwargs);
        kwargs.emplace_back("caller", caller);
        write(invoke(callee, args, kwargs).str());
        return Flow::kNormal;
      }
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
      case Stmt::Kind::kScope: {
        if (!s.condition) return exec(s.body, scope);
        // {% filter f %}: the body's text is the filter's input.
        Value text = Value::string(capture(s.body, scope));
        write(apply_filter_chain(*s.condition, text, scope).str());
        return Flow::kNormal;
      }
    }
    return Flow::kNormal;
  }

  Value apply_filter_chain(const Expr& filter, const Value& input, Scope& scope) {
    Value in = filter.children[0] ? apply_filter_chain(*filter.children[0], input, scope) : input;
    ValueList args;
    KwArgs kwargs;
    eval_args(filter, scope, args, kwargs);
    return apply_filter(filter.name, in, args, kwargs);
  }

  std::string capture(const Body& body, Scope& scope) {
    std::string buffer;
    std::string* saved = out_;
    out_ = &buffer;
    Flow flow = exec(body, scope);
    out_ = saved;
    if (flow != Flow::kNormal) fail("'break' or 'continue' outside of a loop");
    return buffer;
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& value, Scope& scope) {
    if (targets.size() == 1) {
      scope.set(targets[0], value);
      return;
    }
    if (!value.is_list() && !value.is_string()) {
      fail("cannot unpack non-iterable " + value.type_name() + " object");
    }
    ValueList items = iterate(value);
    if (items.size() != targets.size()) {
      fail(items.size() > targets.size()
               ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
               : "not enough values to unpack (expected " + std::to_string(targets.size()) +
                     ", got " + std::to_string(items.size()) + ")");
    }
    for (size_t i = 0; i < targets.size(); ++i) scope.set(targets[i], items[i]);
  }

  void exec_for(const Stmt& s, Scope& scope) {
    if (s.recursive) fail("recursive for loops are not supported");
    Value iterable = eval(*s.expr, scope);
    ValueList all = iterate(iterable);
    ValueList items;
    if (s.condition) {
      for (const Value& item : all) {
        step();
        Scope filter_scope(&scope);
        bind_targets(s.targets, item, filter_scope);
        if (eval(*s.condition, filter_scope).truthy()) items.push_back(item);
      }
    } else {
      items = std::move(all);
    }
    if (items.empty()) {
      exec(s.else_body, scope);
      return;
    }
    int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      step();
      Scope iteration(&scope);
      bind_targets(s.targets, items[i], iteration);
      ValueDict loop;
      loop.set("index", Value::integer(i + 1));
      loop.set("index0", Value::integer(i));
      loop.set("revindex", Value::integer(n - i));
      loop.set("revindex0", Value::integer(n - i - 1));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == n - 1));
      loop.set("length", Value::integer(n));
      loop.set("depth", Value::integer(1));
      loop.set("depth0", Value::integer(0));
      if (i > 0) loop.set("previtem", items[i - 1]);
      if (i + 1 < n) loop.set("nextitem", items[i + 1]);
      loop.set("cycle", Value::callable("loop.cycle", [i](const ValueList& args, const KwArgs&) {
                 if (args.empty()) fail("no items for cycling given");
                 return args[static_cast<size_t>(i) % args.size()];
               }));
      iteration.set("loop", Value::dict(std::move(loop)));
      if (exec(s.body, iteration) == Flow::kBreak) break;
    }
  }

  void exec_set(const Stmt& s, Scope& scope) {
    Value value = eval(*s.expr, scope);
    if (!s.attribute.empty()) {
      const Value* target = scope.find(s.targets[0]);
      if (!target || !target->is_namespace()) {
        fail("cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
      }
      Value ns = *target;  // shares the namespace's storage
      ns.mutable_entries().set(s.attribute, std::move(value));
      return;
    }
    bind_targets(s.targets, value, scope);
  }

  Value make_macro(const Stmt& s, const Scope* defined_in) {
    const Stmt* macro = &s;
    std::string name = s.kind == Stmt::Kind::kMacro ? s.name : "caller";
    return Value::callable(
        name, [this, macro, defined_in](const ValueList& args, const KwArgs& kwargs) {
          if (++call_depth_ > limits_.max_call_depth) {
            fail("macro calls nested deeper than " + std::to_string(limits_.max_call_depth));
          }
          Scope frame(defined_in);
          if (args.size() > macro->params.size())
            fail("macro received too many positional arguments");
          for (size_t i = 0; i < macro->params.size(); ++i) {
            const auto& [param, fallback] = macro->params[i];
            const Value* given = i < args.size() ? &args[i] : nullptr;
            for (const auto& [key, value] : kwargs) {
              if (key == param) given = &value;
            }
            if (given) {
              frame.set(param, *given);
            } else if (fallback) {
              frame.set(param, eval(*fallback, frame));
            } else {
              frame.set(param, Value::undefined("parameter '" + param + "' was not provided"));
            }
          }
          for (const auto& [key, value] : kwargs) {
            if (key == "caller") frame.set("caller", value);
          }
          std::string text = capture(macro->body, frame);
          --call_depth_;
          return Value::string(std::move(text));
        });
  }

  Value invoke(const Value& callee, const ValueList& args, const KwArgs& kwargs) {
    require_defined(callee);
    return callee.call(args, kwargs);
  }

  void eval_args(const Expr& e, Scope& scope, ValueList& args, KwArgs& kwargs) {
    for (size_t i = 1; i < e.children.size(); ++i) args.push_back(eval(*e.children[i], scope));
    for (const auto& [key, value] : e.kwargs) kwargs.emplace_back(key, eval(*value, scope));
  }

  Value eval(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName: {
        const Value* v = scope.find(e.name);
        return v ? *v : Value::undefined("'" + e.name + "' is undefined");
      }
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        ValueList items;
        for (const ExprPtr& c : e.children) items.push_back(eval(*c, scope));
        return Value::list(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        ValueDict d;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          Value key = eval(*e.children[i], scope);
          if (!key.is_string()) fail("dict keys must be strings, got " + key.type_name());
          d.set(key.as_string(), eval(*e.children[i + 1], scope));
        }
        return Value::dict(std::move(d));
      }
      case Expr::Kind::kGetAttr:
        return get_attribute(eval(*e.children[0], scope), e.name);
      case Expr::Kind::kGetItem:
        return get_item(eval(*e.children[0], scope), eval(*e.children[1], scope));
      case Expr::Kind::kSlice: {
        Value parts[3];
        for (int i = 0; i < 3; ++i) {
          if (e.children[i + 1]) parts[i] = eval(*e.children[i + 1], scope);
        }
        return slice(eval(*e.children[0], scope), parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::kCall: {
        Value callee = eval(*e.children[0], scope);
        ValueList args;
        KwArgs kwargs;
        eval_args(e, scope, args, kwargs);
        return invoke(callee, args, kwargs);
      }
      case Expr::Kind::kFilter: {
        Value input = eval(*e.children[0], scope);
        ValueList args;
        KwArgs kwargs;
        eval_args(e, scope, args, kwargs);
        return apply_filter(e.name, input, args, kwargs);
      }
      case Expr::Kind::kTest: {
        Value input = eval(*e.children[0], scope);
        ValueList args;
        KwArgs kwargs;
        eval_args(e, scope, args, kwargs);
        return Value::boolean(apply_test(e.name, input, args, kwargs) != e.negated);
      }
      case Expr::Kind::kNot:
        return Value::boolean(!eval(*e.children[0], scope).truthy());
      case Expr::Kind::kNegate:
      case Expr::Kind::kPlus: {
        Value v = eval(*e.children[0], scope);
        require_defined(v);
        if (!v.is_number())
          fail("bad operand type for unary " +
               std::string(e.kind == Expr::Kind::kNegate ? "-" : "+") + ": '" + v.type_name() +
               "'");
        if (e.kind == Expr::Kind::kPlus) return v.is_float() ? v : Value::integer(v.as_int());
        if (v.is_float()) return Value::number(-v.as_double());
        return binary_operation("-", Value::integer(0), v);
      }
      case Expr::Kind::kBinary:
        return binary_operation(e.name, eval(*e.children[0], scope), eval(*e.children[1], scope));
      case Expr::Kind::kCompare: {
        Value left = eval(*e.children[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.children[i + 1], scope);
          if (!compare(e.ops[i], left, right)) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case Expr::Kind::kAnd: {
        Value left = eval(*e.children[0], scope);
        return left.truthy() ? eval(*e.children[1], scope) : left;
      }
      case Expr::Kind::kOr: {
        Value left = eval(*e.children[0], scope);
        return left.truthy() ? left : eval(*e.children[1], scope);
      }
      case Expr::Kind::kCondition: {
        if (eval(*e.children[1], scope).truthy()) return eval(*e.children[0], scope);
        if (e.children[2]) return eval(*e.children[2], scope);
        return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                                " evaluated to false and no else section was defined.");
      }
    }
    return Value();
  }

  const RenderLimits& limits_;
  Scope globals_;
  Scope context_;
  Scope top_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;

 public:
  int line_ = 0;
};

}  // namespace

std::string render_body(const Body& body, const ValueDict& context, const RenderLimits& limits) {
  Renderer renderer(context, limits);
  try {
    return renderer.run(body);
  } catch (const RaisedError&) {
    throw;
  } catch (const JinjaError& e) {
    throw JinjaError("line " + std::to_string(renderer.line_) + ": " + e.what());
  }
}

}  // namespace kiln::jinja
