#include "tokenizer/jinja/parser.h"

#include <algorithm>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/error.h"

namespace kiln::jinja {
namespace {

// Expressions nest through recursion; a hostile template must not overflow the stack.
constexpr int kMaxNesting = 200;

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

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Body parse() {
    Body body = parse_body({});
    if (peek().kind != TokenKind::kEnd) error(peek(), "unexpected " + describe(peek()));
    return body;
  }

 private:
  const Token& peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_op(const char* op, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == TokenKind::kOperator && t.text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    const Token& t = peek(ahead);
    return t.kind == TokenKind::kName && t.text == name;
  }
  [[noreturn]] void error(const Token& at, const std::string& message) const {
    fail("line " + std::to_string(at.line) + ", column " + std::to_string(at.column) + ": " +
         message);
  }
  void expect_op(const char* op) {
    if (!is_op(op)) error(peek(), std::string("expected '") + op + "', got " + describe(peek()));
    next();
  }
  void expect_block_end() {
    if (peek().kind != TokenKind::kBlockEnd) {
      error(peek(), "expected end of statement block, got " + describe(peek()));
    }
    next();
  }
  std::string expect_name() {
    if (peek().kind != TokenKind::kName) error(peek(), "expected a name, got " + describe(peek()));
    return next().text;
  }
  void expect_end_tag(const char* name) {
    if (!is_name(name)) error(peek(), std::string("expected '") + name + "'");
    next();
    expect_block_end();
  }

  struct DepthGuard {
    DepthGuard(Parser* p, const Token& at) : parser(p) {
      if (++parser->depth_ > kMaxNesting) parser->error(at, "template nesting is too deep");
    }
    ~DepthGuard() { --parser->depth_; }
    Parser* parser;
  };

  template <typename T>
  std::unique_ptr<T> make(const Token& at) {
    auto node = std::make_unique<T>();
    node->line = at.line;
    node->column = at.column;
    return node;
  }

  // Parses until `{% end_name` for one of end_names, leaving the cursor on that name.
  Body parse_body(const std::vector<std::string>& end_names) {
    DepthGuard guard(this, peek());
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.kind == TokenKind::kEnd) {
        if (!end_names.empty()) {
          std::string wanted;
          for (const auto& n : end_names) wanted += (wanted.empty() ? "'" : " or '") + n + "'";
          error(t, "unexpected end of template; jinja was looking for " + wanted);
        }
        return body;
      }
      if (t.kind == TokenKind::kData) {
        auto s = make<Stmt>(t);
        s->kind = Stmt::Kind::kData;
        s->text = next().text;
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::kVariableBegin) {
        next();
        auto s = make<Stmt>(t);
        s->kind = Stmt::Kind::kOutput;
        s->expr = parse_tuple(true);
        if (peek().kind != TokenKind::kVariableEnd) {
          error(peek(), "expected end of print statement, got " + describe(peek()));
        }
        next();
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::kBlockBegin) {
        const Token& tag = peek(1);
        if (tag.kind == TokenKind::kName &&
            std::find(end_names.begin(), end_names.end(), tag.text) != end_names.end()) {
          next();
          return body;
        }
        next();
        body.push_back(parse_statement());
      } else {
        error(t, "unexpected " + describe(t));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& tag = peek();
    if (tag.kind != TokenKind::kName) error(tag, "tag name expected");
    std::string name = tag.text;
    if (name == "for") return parse_for();
    if (name == "if") return parse_if();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "call") return parse_call_block();
    if (name == "filter") return parse_filter_block();
    if (name == "generation") {
      auto s = make<Stmt>(next());
      s->kind = Stmt::Kind::kScope;
      expect_block_end();
      s->body = parse_body({"endgeneration"});
      expect_end_tag("endgeneration");
      return s;
    }
    if (name == "break" || name == "continue") {
      auto s = make<Stmt>(next());
      if (loop_depth_ == 0) error(tag, "'" + name + "' outside of a loop");
      s->kind = name == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
      expect_block_end();
      return s;
    }
    error(tag, "encountered unknown tag '" + name + "'");
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> targets;
    bool paren = is_op("(");
    if (paren) next();
    targets.push_back(expect_name());
    while (is_op(",")) {
      next();
      if (peek().kind != TokenKind::kName || is_name("in")) break;
      targets.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return targets;
  }

  StmtPtr parse_for() {
    auto s = make<Stmt>(next());
    s->kind = Stmt::Kind::kFor;
    s->targets = parse_targets();
    if (!is_name("in")) error(peek(), "expected 'in', got " + describe(peek()));
    next();
    s->expr = parse_or();
    if (is_name("if")) {
      next();
      s->condition = parse_expression(true);
    }
    if (is_name("recursive")) {
      next();
      s->recursive = true;
    }
    expect_block_end();
    ++loop_depth_;
    s->body = parse_body({"endfor", "else"});
    --loop_depth_;
    if (is_name("else")) {
      next();
      expect_block_end();
      s->else_body = parse_body({"endfor"});
    }
    expect_end_tag("endfor");
    return s;
  }

  StmtPtr parse_if() {
    auto s = make<Stmt>(next());
    s->kind = Stmt::Kind::kIf;
    while (true) {
      s->conditions.push_back(parse_tuple(true));
      expect_block_end();
      s->bodies.push_back(parse_body({"elif", "else", "endif"}));
      if (is_name("elif")) {
        next();
        continue;
      }
      if (is_name("else")) {
        next();
        expect_block_end();
        s->else_body = parse_body({"endif"});
      }
      expect_end_tag("endif");
      return s;
    }
  }

  StmtPtr parse_set() {
    auto s = make<Stmt>(next());
    s->kind = Stmt::Kind::kSet;
    if (peek().kind == TokenKind::kName && is_op(".", 1)) {
      s->targets.push_back(next().text);
      next();
      s->attribute = expect_name();
    } else {
      s->targets = parse_targets();
    }
    if (is_op("=")) {
      next();
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    if (s->targets.size() != 1 || !s->attribute.empty()) error(peek(), "expected '='");
    s->kind = Stmt::Kind::kSetBlock;
    expect_block_end();
    s->body = parse_body({"endset"});
    expect_end_tag("endset");
    return s;
  }

  void parse_params(Stmt* s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s->params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string name = expect_name();
      ExprPtr def;
      if (is_op("=")) {
        next();
        def = parse_expression(true);
      }
      s->params.emplace_back(name, std::move(def));
    }
    next();
  }

  StmtPtr parse_macro() {
    auto s = make<Stmt>(next());
    s->kind = Stmt::Kind::kMacro;
    s->name = expect_name();
    parse_params(s.get());
    expect_block_end();
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endmacro"});
    loop_depth_ = saved;
    expect_end_tag("endmacro");
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = make<Stmt>(next());
    s->kind = Stmt::Kind::kCallBlock;
    if (is_op("(")) parse_params(s.get());
    s->expr = parse_expression(true);
    if (s->expr->kind != Expr::Kind::kCall) error(peek(), "expected a call after 'call'");
    expect_block_end();
    s->body = parse_body({"endcall"});
    expect_end_tag("endcall");
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = make<Stmt>(next());
    s->kind = Stmt::Kind::kScope;
    ExprPtr node;  // null input: the body's text goes in at render time
    do {
      if (node) next();
      node = parse_filter(std::move(node));
    } while (is_op("|"));
    s->condition = std::move(node);
    expect_block_end();
    s->body = parse_body({"endfilter"});
    expect_end_tag("endfilter");
    return s;
  }

  // ---- expressions ----

  ExprPtr parse_tuple(bool with_condition) {
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

  ExprPtr parse_expression(bool with_condition) {
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

  ExprPtr binary(Expr::Kind kind, const Token& at, ExprPtr left, ExprPtr right,
                 std::string name = "") {
    auto node = make<Expr>(at);
    node->kind = kind;
    node->name = std::move(name);
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return node;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const Token& at = next();
      left = binary(Expr::Kind::kOr, at, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const Token& at = next();
      left = binary(Expr::Kind::kAnd, at, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(this, peek());
      auto node = make<Expr>(next());
      node->kind = Expr::Kind::kNot;
      node->children.push_back(parse_not());
      return node;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& start = peek();
    ExprPtr first = parse_math1();
    ExprPtr node;
    while (true) {
      std::string op;
      const Token& t = peek();
      if (t.kind == TokenKind::kOperator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" ||
           t.text == ">=")) {
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

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      left = binary(Expr::Kind::kBinary, at, std::move(left), parse_concat(), at.text);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const Token& at = next();
      left = binary(Expr::Kind::kBinary, at, std::move(left), parse_math2(), "~");
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      left = binary(Expr::Kind::kBinary, at, std::move(left), parse_pow(), at.text);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& at = next();
      left = binary(Expr::Kind::kBinary, at, std::move(left), parse_unary(true), "**");
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary() {
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

  ExprPtr parse_postfix(ExprPtr node) {
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

  ExprPtr parse_subscript(ExprPtr node) {
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

  void parse_args(Expr* node) {
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

  ExprPtr parse_call(ExprPtr callee) {
    auto node = make<Expr>(peek());
    node->kind = Expr::Kind::kCall;
    node->children.push_back(std::move(callee));
    parse_args(node.get());
    return node;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    return name;
  }

  ExprPtr parse_filter(ExprPtr input) {
    const Token& at = peek();
    auto node = make<Expr>(at);
    node->kind = Expr::Kind::kFilter;
    node->name = parse_dotted_name();
    if (!has_filter(node->name)) error(at, "no filter named '" + node->name + "'");
    node->children.push_back(std::move(input));
    if (is_op("(")) parse_args(node.get());
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
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

  ExprPtr parse_test(ExprPtr input) {
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

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens) { return Parser(tokens).parse(); }

}  // namespace kiln::jinja
