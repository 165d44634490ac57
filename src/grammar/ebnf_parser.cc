#include "grammar/ebnf_parser.h"

#include <cctype>
#include <string>
#include <vector>

#include "grammar/utf8_ranges.h"

namespace kiln::grammar {
namespace {

constexpr int kMaxRepeat = 100000;

class EbnfParser {
 public:
  EbnfParser(std::string_view text, Grammar* g) : text_(text), g_(g) {}

  Status parse() {
    skip_space();
    while (ok() && pos_ < text_.size()) {
      parse_rule();
      skip_space();
    }
    if (!ok()) return error_;
    for (RuleId r = 0; r < g_->num_rules(); ++r) {
      if (g_->rule(r).body < 0) {
        return Status::error("rule '" + g_->rule(r).name + "' is used at line " +
                             std::to_string(first_use_line_[static_cast<size_t>(r)]) + " but never defined");
      }
    }
    return ok_status();
  }

 private:
  bool ok() const { return error_.ok(); }

  void fail(const std::string& message) {
    if (!ok()) return;
    int line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error_ = Status::error("line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message);
  }

  int current_line() const {
    int line = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) line += text_[i] == '\n';
    return line;
  }

  char peek(size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }

  void skip_space() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  static bool name_char(char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (!first && (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'));
  }

  std::string read_name() {
    const size_t start = pos_;
    while (pos_ < text_.size() && name_char(text_[pos_], pos_ == start)) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // At `name ::=`: the next rule starts here.
  bool at_rule_start() const {
    size_t p = pos_;
    if (p >= text_.size() || !name_char(text_[p], true)) return false;
    while (p < text_.size() && name_char(text_[p], p == pos_)) ++p;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t' || text_[p] == '\n' || text_[p] == '\r')) ++p;
    return text_.substr(p, 3) == "::=";
  }

  RuleId rule_named(const std::string& name) {
    RuleId r = g_->find_rule(name);
    if (r < 0) {
      r = g_->add_rule(name);
      first_use_line_.resize(static_cast<size_t>(g_->num_rules()), 0);
      first_use_line_[static_cast<size_t>(r)] = current_line();
    }
    return r;
  }

  void parse_rule() {
    if (!name_char(peek(), true)) return fail("expected a rule name");
    const std::string name = read_name();
    skip_space();
    if (text_.substr(pos_, 3) != "::=") return fail("expected '::=' after rule name '" + name + "'");
    pos_ += 3;
    const RuleId rule = rule_named(name);
    if (g_->rule(rule).body >= 0) return fail("rule '" + name + "' is defined twice");
    const ExprId body = parse_alternatives();
    if (!ok()) return;
    g_->set_body(rule, body);
    skip_space();
    if (peek() == '(' && peek(1) == '=') {  // XGrammar's lookahead assertion: not needed here
      pos_ += 2;
      parse_alternatives();
      skip_space();
      if (peek() != ')') return fail("expected ')' to close the lookahead assertion");
      ++pos_;
    }
  }

  ExprId parse_alternatives() {
    std::vector<ExprId> alternatives{parse_sequence()};
    skip_space();
    while (ok() && peek() == '|') {
      ++pos_;
      alternatives.push_back(parse_sequence());
      skip_space();
    }
    return g_->choice(std::move(alternatives));
  }

  ExprId parse_sequence() {
    std::vector<ExprId> items;
    while (ok()) {
      skip_space();
      const char c = peek();
      if (c == '\0' || c == '|' || c == ')' || (c == '(' && peek(1) == '=') || at_rule_start()) break;
      ExprId item = parse_primary();
      if (!ok()) break;
      items.push_back(parse_quantifier(item));
    }
    return g_->sequence(std::move(items));
  }

  ExprId parse_primary() {
    const char c = peek();
    if (c == '"' || c == '\'') return parse_string(c);
    if (c == '[') return parse_class();
    if (c == '.') {
      ++pos_;
      return g_->char_class({{0, kMaxCodepoint}});
    }
    if (c == '(') {
      ++pos_;
      const ExprId inner = parse_alternatives();
      skip_space();
      if (peek() != ')') {
        fail("expected ')'");
        return inner;
      }
      ++pos_;
      return inner;
    }
    if (name_char(c, true)) {
      const std::string name = read_name();
      if (peek() == '(') {
        fail("'" + name + "(...)' is not supported: only rules, strings, classes and groups are");
        return g_->empty();
      }
      return g_->ref(rule_named(name));
    }
    fail(std::string("unexpected '") + c + "'");
    return g_->empty();
  }

  // One escape after the backslash at pos_; returns the code point.
  uint32_t parse_escape() {
    ++pos_;  // the backslash
    const char c = peek();
    ++pos_;
    switch (c) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'v': return '\v';
      case '0': return 0;
      case 'x': return parse_hex(2);
      case 'u': return parse_hex(4);
      case 'U': return parse_hex(8);
      case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': case '.':
      case '(': case ')': case '|': case '*': case '+': case '?': case '{': case '}':
        return static_cast<unsigned char>(c);
      default:
        pos_ -= 2;
        fail(std::string("unknown escape '\\") + c + "'");
        return 0;
    }
  }

  uint32_t parse_hex(int digits) {
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const char c = peek();
      if (!std::isxdigit(static_cast<unsigned char>(c))) {
        fail("expected " + std::to_string(digits) + " hex digits");
        return 0;
      }
      value = value * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10));
      ++pos_;
    }
    if (value > kMaxCodepoint || (value >= 0xD800 && value <= 0xDFFF)) fail("escape is not a Unicode scalar value");
    return value;
  }

  // One code point of a literal or class at pos_ (UTF-8 or an escape).
  uint32_t parse_char() {
    if (peek() == '\\') return parse_escape();
    char32_t c = 0;
    const std::string rest(text_.substr(pos_, 4));
    size_t used = 0;
    if (!decode_utf8(rest, &used, &c)) {
      fail("invalid UTF-8");
      return 0;
    }
    pos_ += used;
    return c;
  }

  ExprId parse_string(char quote) {
    ++pos_;
    std::string bytes;
    while (ok()) {
      if (pos_ >= text_.size() || peek() == '\n') {
        fail("unterminated string");
        break;
      }
      if (peek() == quote) {
        ++pos_;
        break;
      }
      append_utf8(parse_char(), &bytes);
    }
    return g_->bytes(bytes);
  }

  ExprId parse_class() {
    ++pos_;
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<CodepointRange> ranges;
    while (ok()) {
      if (pos_ >= text_.size()) {
        fail("unterminated character class");
        break;
      }
      if (peek() == ']') {
        ++pos_;
        break;
      }
      const uint32_t first = parse_char();
      uint32_t last = first;
      if (peek() == '-' && peek(1) != ']' && peek(1) != '\0') {
        ++pos_;
        last = parse_char();
        if (last < first) fail("character range is out of order");
      }
      ranges.push_back({first, last});
    }
    if (negated) ranges = complement_ranges(ranges, true);
    return g_->char_class(std::move(ranges));
  }

  int parse_count() {
    int64_t value = 0;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) {
      fail("expected a number");
      return 0;
    }
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      value = value * 10 + (peek() - '0');
      ++pos_;
      if (value > kMaxRepeat) {
        fail("repetition count is larger than " + std::to_string(kMaxRepeat));
        return 0;
      }
    }
    return static_cast<int>(value);
  }

  ExprId parse_quantifier(ExprId item) {
    const char c = peek();
    if (c == '*') { ++pos_; return g_->star(item); }
    if (c == '+') { ++pos_; return g_->repeat(item, 1, kUnbounded); }
    if (c == '?') { ++pos_; return g_->optional(item); }
    if (c != '{') return item;
    ++pos_;
    skip_space();
    int min = 0, max;
    if (peek() != ',') min = parse_count();
    skip_space();
    if (peek() == ',') {
      ++pos_;
      skip_space();
      max = peek() == '}' ? kUnbounded : parse_count();
    } else {
      max = min;
    }
    skip_space();
    if (peek() != '}') {
      fail("expected '}'");
      return item;
    }
    ++pos_;
    if (max != kUnbounded && max < min) fail("repetition {" + std::to_string(min) + "," + std::to_string(max) + "} has max < min");
    return g_->repeat(item, min, max);
  }

  std::string_view text_;
  Grammar* g_;
  size_t pos_ = 0;
  Status error_;
  std::vector<int> first_use_line_;
};

}  // namespace

Result<Grammar> parse_ebnf(std::string_view text, std::string_view root_rule) {
  Grammar g;
  EbnfParser parser(text, &g);
  KILN_RETURN_IF_ERROR(parser.parse());
  const RuleId root = g.find_rule(root_rule);
  if (root < 0) return Status::error("the grammar has no rule named '" + std::string(root_rule) + "'");
  g.set_root(root);
  return g;
}

}  // namespace kiln::grammar
