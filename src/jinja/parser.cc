#include "jinja/parser.h"

#include <algorithm>

#include "jinja/error.h"
#include "jinja/expression_parser.h"

namespace kiln::jinja {
namespace {

class Parser : public ExpressionParser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : ExpressionParser(tokens) {}

  Body parse() {
    Body body = parse_body({});
    if (peek().kind != TokenKind::kEnd) error(peek(), "unexpected " + describe(peek()));
    return body;
  }

 private:
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

  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(const std::vector<Token>& tokens) { return Parser(tokens).parse(); }

}  // namespace kiln::jinja
