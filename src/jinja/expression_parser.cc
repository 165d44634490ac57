#include "jinja/expression_parser.h"

#include <algorithm>

#include "jinja/builtins.h"
#include "jinja/error.h"

namespace kiln::jinja {

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kData:
      return "template data";
    case TokenKind::kVariableBegin:
      return "'{{'";
    case TokenKind::kVariableEnd:
      return "end of print statement";
    case TokenKind::kBlockBegin:
      return "'{%'";
    case TokenKind::kBlockEnd:
      return "end of statement block";
    case TokenKind::kString:
      return "string";
    case TokenKind::kInteger:
    case TokenKind::kFloat:
      return "number " + t.text;
    case TokenKind::kName:
    case TokenKind::kOperator:
      return "'" + t.text + "'";
    case TokenKind::kEnd:
      return "end of template";
  }
  return "token";
}

ExprPtr ExpressionParser::parse_tuple(bool with_condition) {
  const Token& start = peek();
  ExprPtr first = parse_expression(with_condition);
  if (!is_op(",")) return first;
  auto tuple = make<Expr>(start);
  tuple->kind = Expr::Kind::kTuple;
  tuple->children.push_back(std::move(first));
  while (is_op(",")) {
    next();
    if (peek().kind == TokenKind::kVariableEnd || peek().kind == TokenKind::kBlockEnd ||
        is_op(")")) {
      break;
    }
    tuple->children.push_back(parse_expression(with_condition));
  }
  return tuple;
}

ExprPtr ExpressionParser::parse_expression(bool with_condition) {
  DepthGuard guard(this, peek());
  if (!with_condition) return parse_or();
  const Token& start = peek();
  ExprPtr expr = parse_or();
  while (is_name("if")) {
    next();
    auto cond = make<Expr>(start);
    cond->kind = Expr::Kind::kCondition;
    cond->children.push_back(std::move(expr));
    cond->children.push_back(parse_or());
    if (is_name("else")) {
      next();
      cond->children.push_back(parse_expression(true));
    } else {
      cond->children.push_back(nullptr);
    }
    expr = std::move(cond);
  }
  return expr;
}

ExprPtr ExpressionParser::binary(Expr::Kind kind, const Token& at, ExprPtr left, ExprPtr right,
                                 std::string name) {
  auto node = make<Expr>(at);
  node->kind = kind;
  node->name = std::move(name);
  node->children.push_back(std::move(left));
  node->children.push_back(std::move(right));
  return node;
}

ExprPtr ExpressionParser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    const Token& at = next();
    left = binary(Expr::Kind::kOr, at, std::move(left), parse_and());
  }
  return left;
}

ExprPtr ExpressionParser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    const Token& at = next();
    left = binary(Expr::Kind::kAnd, at, std::move(left), parse_not());
  }
  return left;
}

ExprPtr ExpressionParser::parse_not() {
  if (is_name("not")) {
    DepthGuard guard(this, peek());
    auto node = make<Expr>(next());
    node->kind = Expr::Kind::kNot;
    node->children.push_back(parse_not());
    return node;
  }
  return parse_compare();
}

ExprPtr ExpressionParser::parse_compare() {
  const Token& start = peek();
  ExprPtr first = parse_math1();
  ExprPtr node;
  while (true) {
    std::string op;
    const Token& t = peek();
    if (t.kind == TokenKind::kOperator && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                           t.text == "<=" || t.text == ">" || t.text == ">=")) {
      op = t.text;
      next();
    } else if (is_name("in")) {
      op = "in";
      next();
    } else if (is_name("not") && is_name("in", 1)) {
      op = "not in";
      next();
      next();
    } else {
      break;
    }
    if (!node) {
      node = make<Expr>(start);
      node->kind = Expr::Kind::kCompare;
      node->children.push_back(std::move(first));
    }
    node->ops.push_back(op);
    node->children.push_back(parse_math1());
  }
  return node ? std::move(node) : std::move(first);
}

ExprPtr ExpressionParser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& at = next();
    left = binary(Expr::Kind::kBinary, at, std::move(left), parse_concat(), at.text);
  }
  return left;
}

ExprPtr ExpressionParser::parse_concat() {
  ExprPtr left = parse_math2();
  while (is_op("~")) {
    const Token& at = next();
    left = binary(Expr::Kind::kBinary, at, std::move(left), parse_math2(), "~");
  }
  return left;
}

ExprPtr ExpressionParser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& at = next();
    left = binary(Expr::Kind::kBinary, at, std::move(left), parse_pow(), at.text);
  }
  return left;
}

ExprPtr ExpressionParser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    const Token& at = next();
    left = binary(Expr::Kind::kBinary, at, std::move(left), parse_unary(true), "**");
  }
  return left;
}

ExprPtr ExpressionParser::parse_unary(bool with_filter) {
  DepthGuard guard(this, peek());
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    const Token& at = next();
    node = make<Expr>(at);
    node->kind = at.text == "-" ? Expr::Kind::kNegate : Expr::Kind::kPlus;
    node->children.push_back(parse_unary(false));
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr ExpressionParser::parse_primary() {
  const Token& t = peek();
  auto node = make<Expr>(t);
  switch (t.kind) {
    case TokenKind::kName: {
      next();
      if (t.text == "true" || t.text == "True") {
        node->literal = Value::boolean(true);
      } else if (t.text == "false" || t.text == "False") {
        node->literal = Value::boolean(false);
      } else if (t.text == "none" || t.text == "None") {
        node->literal = Value::none();
      } else {
        node->kind = Expr::Kind::kName;
        node->name = t.text;
      }
      return node;
    }
    case TokenKind::kString: {
      std::string text;
      while (peek().kind == TokenKind::kString) text += next().text;
      node->literal = Value::string(std::move(text));
      return node;
    }
    case TokenKind::kInteger:
      node->literal = Value::integer(next().int_value);
      return node;
    case TokenKind::kFloat:
      node->literal = Value::number(next().float_value);
      return node;
    case TokenKind::kOperator:
      if (t.text == "(") {
        next();
        if (is_op(")")) {
          next();
          node->kind = Expr::Kind::kTuple;
          return node;
        }
        ExprPtr inner = parse_expression(true);
        if (is_op(",")) {
          node->kind = Expr::Kind::kTuple;
          node->children.push_back(std::move(inner));
          while (is_op(",")) {
            next();
            if (is_op(")")) break;
            node->children.push_back(parse_expression(true));
          }
          inner = std::move(node);
        }
        expect_op(")");
        return inner;
      }
      if (t.text == "[") {
        next();
        node->kind = Expr::Kind::kList;
        while (!is_op("]")) {
          if (!node->children.empty()) expect_op(",");
          if (is_op("]")) break;
          node->children.push_back(parse_expression(true));
        }
        next();
        return node;
      }
      if (t.text == "{") {
        next();
        node->kind = Expr::Kind::kDict;
        while (!is_op("}")) {
          if (!node->children.empty()) expect_op(",");
          if (is_op("}")) break;
          node->children.push_back(parse_expression(true));
          expect_op(":");
          node->children.push_back(parse_expression(true));
        }
        next();
        return node;
      }
      break;
    default:
      break;
  }
  error(t, "unexpected " + describe(t));
}

ExprPtr ExpressionParser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".")) {
      const Token& at = next();
      if (peek().kind == TokenKind::kInteger) {
        auto item = make<Expr>(at);
        item->kind = Expr::Kind::kGetItem;
        item->children.push_back(std::move(node));
        auto index = make<Expr>(peek());
        index->literal = Value::integer(next().int_value);
        item->children.push_back(std::move(index));
        node = std::move(item);
      } else {
        auto attr = make<Expr>(at);
        attr->kind = Expr::Kind::kGetAttr;
        attr->name = expect_name();
        attr->children.push_back(std::move(node));
        node = std::move(attr);
      }
    } else if (is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_subscript(ExprPtr node) {
  const Token& at = next();  // '['
  auto out = make<Expr>(at);
  out->children.push_back(std::move(node));
  ExprPtr parts[3];
  int part = 0;
  bool is_slice = false;
  while (!is_op("]")) {
    if (is_op(":")) {
      next();
      is_slice = true;
      if (++part > 2) error(at, "invalid slice");
      continue;
    }
    if (parts[part]) error(peek(), "expected ']' or ':', got " + describe(peek()));
    parts[part] = parse_expression(true);
  }
  next();
  if (is_slice) {
    out->kind = Expr::Kind::kSlice;
    for (auto& p : parts) out->children.push_back(std::move(p));
  } else {
    if (!parts[0]) error(at, "expected a subscript");
    out->kind = Expr::Kind::kGetItem;
    out->children.push_back(std::move(parts[0]));
  }
  return out;
}

void ExpressionParser::parse_args(Expr* node) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (is_op("*") || is_op("**")) error(peek(), "*args and **kwargs are not supported");
    if (peek().kind == TokenKind::kName && is_op("=", 1)) {
      std::string key = next().text;
      next();
      node->kwargs.emplace_back(key, parse_expression(true));
    } else {
      if (!node->kwargs.empty()) error(peek(), "positional argument follows keyword argument");
      node->children.push_back(parse_expression(true));
    }
  }
  next();
}

ExprPtr ExpressionParser::parse_call(ExprPtr callee) {
  auto node = make<Expr>(peek());
  node->kind = Expr::Kind::kCall;
  node->children.push_back(std::move(callee));
  parse_args(node.get());
  return node;
}

std::string ExpressionParser::parse_dotted_name() {
  std::string name = expect_name();
  while (is_op(".")) {
    next();
    name += "." + expect_name();
  }
  return name;
}

ExprPtr ExpressionParser::parse_filter(ExprPtr input) {
  const Token& at = peek();
  auto node = make<Expr>(at);
  node->kind = Expr::Kind::kFilter;
  node->name = parse_dotted_name();
  if (!has_filter(node->name)) error(at, "no filter named '" + node->name + "'");
  node->children.push_back(std::move(input));
  if (is_op("(")) parse_args(node.get());
  return node;
}

ExprPtr ExpressionParser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      next();
      node = parse_filter(std::move(node));
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_test(ExprPtr input) {
  const Token& at = next();  // 'is'
  auto node = make<Expr>(at);
  node->kind = Expr::Kind::kTest;
  if (is_name("not")) {
    next();
    node->negated = true;
  }
  const Token& name_token = peek();
  node->name = parse_dotted_name();
  if (!has_test(node->name)) error(name_token, "no test named '" + node->name + "'");
  node->children.push_back(std::move(input));
  const Token& t = peek();
  if (is_op("(")) {
    parse_args(node.get());
  } else if ((t.kind == TokenKind::kName || t.kind == TokenKind::kString ||
              t.kind == TokenKind::kInteger || t.kind == TokenKind::kFloat || is_op("[") ||
              is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error(t, "you cannot chain multiple tests with 'is'");
    node->children.push_back(parse_postfix(parse_primary()));
  }
  return node;
}

}  // namespace kiln::jinja
