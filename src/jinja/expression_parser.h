// The token cursor and jinja2's expression grammar (conditional, or/and/not, comparisons, math,
// filters and tests, primaries, subscripts, calls). The statement parser (parser.cc) builds on it.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "jinja/ast.h"
#include "jinja/error.h"
#include "jinja/lexer.h"

namespace kiln::jinja {

// "'name'", "end of statement block", ...: how a token reads in an error message.
std::string describe(const Token& t);

class ExpressionParser {
 public:
  explicit ExpressionParser(const std::vector<Token>& tokens) : tokens_(tokens) {}

 protected:
  // Expressions and blocks nest through recursion; a hostile template must not overflow the
  // stack.
  static constexpr int kMaxNesting = 200;

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
    DepthGuard(ExpressionParser* p, const Token& at) : parser(p) {
      if (++parser->depth_ > kMaxNesting) parser->error(at, "template nesting is too deep");
    }
    ~DepthGuard() { --parser->depth_; }
    ExpressionParser* parser;
  };

  template <typename T>
  std::unique_ptr<T> make(const Token& at) {
    auto node = std::make_unique<T>();
    node->line = at.line;
    node->column = at.column;
    return node;
  }

  ExprPtr binary(Expr::Kind kind, const Token& at, ExprPtr left, ExprPtr right,
                 std::string name = "");
  ExprPtr parse_tuple(bool with_condition);
  ExprPtr parse_expression(bool with_condition);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  void parse_args(Expr* node);
  ExprPtr parse_call(ExprPtr callee);
  std::string parse_dotted_name();
  ExprPtr parse_filter(ExprPtr input);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_test(ExprPtr input);

 private:
  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace kiln::jinja
