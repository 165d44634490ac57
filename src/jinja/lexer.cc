#include "jinja/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "jinja/error.h"
#include "base/utf8.h"
#include "jinja/python_text.h"

namespace kiln::jinja {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's "unicode-escape" decoding, which jinja2 applies to string literals.
std::string unescape(const std::string& raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\' || i + 1 >= raw.size()) {
      out += c;
      continue;
    }
    char e = raw[++i];
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t width = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        uint32_t cp = 0;
        bool valid = i + width < raw.size();
        for (size_t k = 1; valid && k <= width; ++k) {
          if (i + k >= raw.size() || hex_value(raw[i + k]) < 0) {
            valid = false;
          } else {
            cp = cp * 16 + hex_value(raw[i + k]);
          }
        }
        if (!valid) fail(std::string("truncated \\") + e + " escape in string literal");
        i += width;
        // A surrogate pair written as two \u escapes is one character.
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < raw.size() && raw[i + 1] == '\\' &&
            raw[i + 2] == 'u') {
          uint32_t low = 0;
          bool ok = true;
          for (size_t k = 3; k <= 6; ++k) {
            if (hex_value(raw[i + k]) < 0)
              ok = false;
            else
              low = low * 16 + hex_value(raw[i + k]);
          }
          if (ok && low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          }
        }
        append_utf8(cp, &out);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = e - '0';
          for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7';
               ++k) {
            cp = cp * 8 + (raw[++i] - '0');
          }
          append_utf8(cp, &out);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options)
      : src_(std::move(source)), options_(options) {
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') newlines_.push_back(i);
    }
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        push_data(src_.substr(pos_), pos_);
        break;
      }
      char kind = src_[tag + 1];  // '{', '%' or '#'
      char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign != '-' && sign != '+') sign = '\0';
      std::string text = src_.substr(pos_, tag - pos_);
      if (sign == '-') {
        text = python_strip(text, nullptr, false, true);  // Python's str.rstrip()
      } else if (sign != '+' && options_.lstrip_blocks && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() &&
            std::all_of(text.begin() + l_pos, text.end(), is_space)) {
          text.resize(l_pos);
        }
      }
      push_data(text, pos_);
      pos_ = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        line_starting = lex_comment(tag);
      } else if (kind == '%' && try_raw(tag, line_starting)) {
        // try_raw consumed the whole raw block.
      } else {
        line_starting = lex_tag(kind == '%', tag);
      }
    }
    Token end;
    end.kind = TokenKind::kEnd;
    set_position(end, src_.size());
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    size_t i = from;
    while ((i = src_.find('{', i)) != std::string::npos) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
      ++i;
    }
    return std::string::npos;
  }

  void set_position(Token& token, size_t offset) const {
    // newlines_ before offset = the line index; the last of them starts the line.
    size_t before =
        std::lower_bound(newlines_.begin(), newlines_.end(), offset) - newlines_.begin();
    token.line = 1 + static_cast<int>(before);
    size_t line_start = before == 0 ? 0 : newlines_[before - 1] + 1;
    token.column = static_cast<int>(offset - line_start) + 1;
  }

  [[noreturn]] void error_at(size_t offset, const std::string& message) const {
    Token t;
    set_position(t, offset);
    fail("line " + std::to_string(t.line) + ", column " + std::to_string(t.column) + ": " +
         message);
  }

  void push_data(const std::string& text, size_t offset) {
    if (text.empty()) return;
    Token t;
    t.kind = TokenKind::kData;
    t.text = text;
    set_position(t, offset);
    tokens_.push_back(std::move(t));
  }

  void push(TokenKind kind, std::string text, size_t offset) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    set_position(t, offset);
    tokens_.push_back(std::move(t));
  }

  // Consumes the closing tag's whitespace rules; returns whether the match ended in a newline.
  bool consume_end(size_t marker_len, char sign, bool trim) {
    pos_ += marker_len;
    if (sign == '-') {
      while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
    } else if (sign != '+' && trim && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    return pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  bool lex_comment(size_t start) {
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) error_at(start, "missing end of comment tag");
    char sign = '\0';
    if (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) sign = src_[end - 1];
    pos_ = end;
    return consume_end(2, sign, options_.trim_blocks);
  }

  // {% raw %}...{% endraw %}: the body is data, untouched.
  bool try_raw(size_t start, bool& line_starting) {
    size_t p = pos_;
    while (p < src_.size() && is_space(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) {
      return false;
    }
    p += 3;
    while (p < src_.size() && is_space(src_[p])) ++p;
    if (src_.compare(p, 3, "-%}") == 0) {
      p += 3;
      while (p < src_.size() && is_space(src_[p])) ++p;
    } else if (src_.compare(p, 2, "%}") == 0) {
      p += 2;
    } else {
      return false;
    }
    // Find {%[-+]? endraw ... %}
    size_t search = p;
    while (true) {
      size_t tag = src_.find("{%", search);
      if (tag == std::string::npos) error_at(start, "missing end of raw directive");
      size_t q = tag + 2;
      char sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q] : '\0';
      if (sign) ++q;
      while (q < src_.size() && is_space(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) {
        search = tag + 2;
        continue;
      }
      q += 6;
      while (q < src_.size() && is_space(src_[q])) ++q;
      char end_sign = '\0';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) end_sign = src_[q++];
      if (src_.compare(q, 2, "%}") != 0) error_at(tag, "malformed endraw tag");
      std::string text = src_.substr(p, tag - p);
      if (sign == '-') {
        size_t e = text.size();
        while (e > 0 && is_space(text[e - 1])) --e;
        text.resize(e);
      } else if (sign != '+' && options_.lstrip_blocks) {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos < text.size() && std::all_of(text.begin() + l_pos, text.end(), is_space)) {
          text.resize(l_pos);
        }
      }
      push_data(text, p);
      pos_ = q;
      line_starting = consume_end(2, end_sign, options_.trim_blocks);
      return true;
    }
  }

  bool lex_tag(bool is_block, size_t start) {
    push(is_block ? TokenKind::kBlockBegin : TokenKind::kVariableBegin, "", start);
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size()) {
        error_at(start, is_block ? "unexpected end of template, expected '%}'"
                                 : "unexpected end of template, expected '}}'");
      }
      if (balance.empty()) {
        const char* close = is_block ? "%}" : "}}";
        if (src_[pos_] == '-' && src_.compare(pos_ + 1, 2, close) == 0) {
          push(is_block ? TokenKind::kBlockEnd : TokenKind::kVariableEnd, "", pos_);
          return consume_end(3, '-', false);
        }
        if (is_block && src_[pos_] == '+' && src_.compare(pos_ + 1, 2, close) == 0) {
          push(TokenKind::kBlockEnd, "", pos_);
          return consume_end(3, '+', false);
        }
        if (src_.compare(pos_, 2, close) == 0) {
          push(is_block ? TokenKind::kBlockEnd : TokenKind::kVariableEnd, "", pos_);
          return consume_end(2, '\0', is_block && options_.trim_blocks);
        }
      }
      char c = src_[pos_];
      if (is_space(c)) {
        ++pos_;
      } else if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t begin = pos_;
        while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
        push(TokenKind::kName, src_.substr(begin, pos_ - begin), begin);
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        lex_operator(balance);
      }
    }
  }

  void lex_number() {
    size_t begin = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_')) ++pos_;
    };
    digits();
    bool is_float = false;
    bool after_dot = begin > 0 && src_[begin - 1] == '.';
    if (!after_dot && pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (!after_dot && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t save = pos_;
      ++pos_;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (pos_ < src_.size() && is_digit(src_[pos_])) {
        is_float = true;
        digits();
      } else {
        pos_ = save;
      }
    }
    std::string text;
    for (size_t i = begin; i < pos_; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    Token t;
    t.text = text;
    set_position(t, begin);
    if (is_float) {
      t.kind = TokenKind::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.kind = TokenKind::kInteger;
      errno = 0;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) error_at(begin, "integer literal out of range: " + text);
    }
    tokens_.push_back(std::move(t));
  }

  void lex_string(char quote) {
    size_t begin = pos_;
    size_t i = pos_ + 1;
    while (i < src_.size() && src_[i] != quote) {
      i += src_[i] == '\\' ? 2 : 1;
    }
    if (i >= src_.size()) error_at(begin, "unterminated string literal");
    push(TokenKind::kString, unescape(src_.substr(begin + 1, i - begin - 1)), begin);
    pos_ = i + 1;
  }

  void lex_operator(std::vector<char>& balance) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        push(TokenKind::kOperator, op, pos_);
        pos_ += 2;
        return;
      }
    }
    char c = src_[pos_];
    if (!std::strchr("+-/*%~[](){}><=.:|,;", c)) {
      error_at(pos_, std::string("unexpected char '") + c + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) error_at(pos_, std::string("unexpected '") + c + "'");
      if (balance.back() != c) {
        error_at(pos_, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      }
      balance.pop_back();
    }
    push(TokenKind::kOperator, std::string(1, c), pos_);
    ++pos_;
  }

  std::string src_;
  LexerOptions options_;
  size_t pos_ = 0;
  std::vector<size_t> newlines_;  // offsets of '\n' in src_, for line/column of tokens
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const LexerOptions& options) {
  return Lexer(normalize_newlines(source), options).run();
}

}  // namespace kiln::jinja
