// Splits template source into tokens the way jinja2's lexer does, including its whitespace rules:
// {%- / -%} strip all whitespace on that side, trim_blocks drops the newline after a block or
// comment tag, lstrip_blocks drops spaces and tabs before a block or comment tag that starts a
// line, {%+ / +%} opt out. Newlines are normalized to \n and one trailing newline is dropped
// (keep_trailing_newline=False).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::jinja {

enum class TokenKind {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // data, name, operator, or the unescaped string literal
  int64_t int_value = 0;
  double float_value = 0.0;
  int line = 1;
  int column = 1;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Throws JinjaError ("line L, column C: ...") on malformed input.
std::vector<Token> tokenize(const std::string& source, const LexerOptions& options);

}  // namespace kiln::jinja
