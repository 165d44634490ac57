// The parsed form of a template: expressions and statements, immutable after parsing so that one
// compiled template renders on many threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace kiln::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kList,       // children: items
    kTuple,      // children: items
    kDict,       // children: key0, value0, key1, value1, ...
    kGetAttr,    // children[0].name (from `.name`)
    kGetItem,    // children[0][children[1]]
    kSlice,      // children[0][children[1]:children[2]:children[3]], parts may be null
    kCall,       // children[0](children[1..], kwargs)
    kFilter,     // children[0] | name(children[1..], kwargs)
    kTest,       // children[0] is [not] name(children[1..], kwargs)
    kNot,        // not children[0]
    kNegate,     // -children[0]
    kPlus,       // +children[0]
    kBinary,     // children[0] name children[1]; name is + - * / // % ** ~
    kCompare,    // children[0] ops[0] children[1] ops[1] children[2] ...
    kAnd,        // children[0] and children[1]
    kOr,         // children[0] or children[1]
    kCondition,  // children[0] if children[1] else children[2] (else may be null)
  };
  Kind kind = Kind::kLiteral;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;
  bool negated = false;  // `is not`
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // kCompare: "==", "!=", "<", "<=", ">", ">=", "in", "not in"
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    kData,       // text
    kOutput,     // {{ expr }}
    kIf,         // conditions[i] -> bodies[i]; else_body
    kFor,        // for targets in expr [if condition] -> body; else_body
    kSet,        // set targets = expr, or set targets[0].attribute = expr
    kSetBlock,   // {% set targets[0] %}body{% endset %}
    kMacro,      // macro name(params) -> body
    kCallBlock,  // {% call expr %}body{% endcall %}: body is the `caller` macro
    kBreak,
    kContinue,
    kScope,  // body rendered inline ({% generation %}, {% filter %} with filter)
  };
  Kind kind = Kind::kData;
  int line = 0;
  int column = 0;
  std::string text;
  std::string name;
  std::string attribute;  // kSet on a namespace: targets[0].attribute
  std::vector<std::string> targets;
  ExprPtr expr;
  ExprPtr condition;  // kFor: the inline `if` filter; kScope: a filter applied to the body
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body body;
  Body else_body;
  bool recursive = false;
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro: name, default (may be null)
};

}  // namespace kiln::jinja
