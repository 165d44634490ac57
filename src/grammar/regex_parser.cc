#include "grammar/regex_parser.h"

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "grammar/utf8_ranges.h"

namespace kiln::grammar {
namespace {

using Ranges = std::vector<CodepointRange>;

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpaceNarrow = {{'\t', '\r'}, {' ', ' '}};
// ECMAScript's \s: the widest of the three dialects.
const Ranges kSpaceWide = {{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                           {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                           {0xFEFF, 0xFEFF}};

class RegexParser {
 public:
  RegexParser(std::string_view pattern, Grammar* g, const RegexOptions& options)
      : p_(pattern), g_(g), options_(options) {}

  Result<ExprId> parse() {
    ExprId e = parse_alternatives(true);
    if (error_.ok() && pos_ < p_.size()) fail("unbalanced ')'");
    if (!error_.ok()) return error_;
    return e;
  }

 private:
  void fail(const std::string& message) {
    if (error_.ok()) error_ = Status::error("at offset " + std::to_string(pos_) + ": " + message);
  }
  bool done() const { return pos_ >= p_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : '\0'; }

  ExprId char_class(const Ranges& ranges) {
    return options_.json_string ? json_string_char_class(g_, ranges) : g_->char_class(ranges);
  }

  ExprId literal(uint32_t c) { return char_class({{c, c}}); }

  // top: anchors ^ and $ are allowed at the ends of each top-level alternative.
  ExprId parse_alternatives(bool top) {
    std::vector<ExprId> alternatives{parse_sequence(top)};
    while (error_.ok() && peek() == '|') {
      ++pos_;
      alternatives.push_back(parse_sequence(top));
    }
    return g_->choice(std::move(alternatives));
  }

  ExprId parse_sequence(bool top) {
    std::vector<ExprId> items;
    const size_t start = pos_;
    while (error_.ok() && !done() && peek() != '|' && peek() != ')') {
      const char c = peek();
      if (c == '^') {
        if (!(top && pos_ == start)) fail("'^' is supported only at the start of the pattern");
        ++pos_;
        continue;
      }
      if (c == '$') {
        ++pos_;
        if (!(top && (done() || peek() == '|'))) fail("'$' is supported only at the end of the pattern");
        continue;
      }
      ExprId atom = parse_atom();
      if (!error_.ok()) break;
      items.push_back(parse_quantifiers(atom));
    }
    return g_->sequence(std::move(items));
  }

  ExprId parse_atom() {
    const char c = peek();
    if (c == '(') return parse_group();
    if (c == '[') return parse_class();
    if (c == '.') {
      ++pos_;
      return char_class(complement_ranges({{'\n', '\n'}}, true));
    }
    if (c == '\\') {
      Ranges ranges;
      if (parse_escape(&ranges, false)) return char_class(ranges);
      return g_->empty();
    }
    if (c == '*' || c == '+' || c == '?' || c == '{') {
      if (c == '{' && !std::isdigit(static_cast<unsigned char>(peek(1))) && peek(1) != ',') {
        ++pos_;
        return literal('{');
      }
      fail(std::string("nothing to repeat before '") + c + "'");
      return g_->empty();
    }
    return literal(next_codepoint());
  }

  uint32_t next_codepoint() {
    char32_t c = 0;
    const std::string rest(p_.substr(pos_, 4));
    size_t used = 0;
    if (!decode_utf8(rest, &used, &c)) {
      fail("invalid UTF-8");
      ++pos_;
      return 0;
    }
    pos_ += used;
    return c;
  }

  ExprId parse_group() {
    ++pos_;
    if (peek() == '?') {
      const char kind = peek(1);
      if (kind == ':') {
        pos_ += 2;
      } else if (kind == 'P' && peek(2) == '<') {
        pos_ += 3;
        skip_group_name();
      } else if (kind == '<' && peek(2) != '=' && peek(2) != '!') {
        pos_ += 2;
        skip_group_name();
      } else if (kind == '=' || kind == '!' || kind == '<') {
        fail("lookaround assertions are not supported");
        return g_->empty();
      } else {
        fail(std::string("group '(?") + kind + "' (inline flags or extensions) is not supported");
        return g_->empty();
      }
    }
    ExprId inner = parse_alternatives(false);
    if (error_.ok() && peek() != ')') fail("missing ')'");
    ++pos_;
    return inner;
  }

  void skip_group_name() {
    while (!done() && peek() != '>') ++pos_;
    if (done()) fail("unterminated group name");
    ++pos_;
  }

  uint32_t parse_hex_digits(size_t count, bool braced) {
    uint32_t value = 0;
    size_t n = 0;
    while (!done() && (braced ? peek() != '}' : n < count)) {
      const char c = peek();
      if (!std::isxdigit(static_cast<unsigned char>(c))) break;
      value = value * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
      ++pos_;
      if (++n > 8) break;
    }
    if (braced) {
      if (peek() != '}' || n == 0) fail("bad \\x{...} or \\u{...} escape");
      ++pos_;
    } else if (n != count) {
      fail("expected " + std::to_string(count) + " hex digits");
    }
    if (value > kMaxCodepoint || (value >= 0xD800 && value <= 0xDFFF)) fail("escape is not a Unicode scalar value");
    return value;
  }

  // An escape at pos_ ('\\'): a class (\d) or one character. Returns false on error. Inside a
  // negated class the spaces of \s are read wide and those of \S narrow, so that after the
  // negation the class stays within what every dialect matches.
  bool parse_escape(Ranges* out, bool in_class, bool class_negated = false) {
    ++pos_;
    if (done()) {
      fail("pattern ends with '\\'");
      return false;
    }
    const char c = peek();
    ++pos_;
    auto one = [&](uint32_t cp) {
      out->push_back({cp, cp});
      return true;
    };
    auto add = [&](const Ranges& r) {
      out->insert(out->end(), r.begin(), r.end());
      return true;
    };
    switch (c) {
      case 'd': return add(kDigit);
      case 'D': return add(complement_ranges(kDigit, true));
      case 'w': return add(kWord);
      case 'W': return add(complement_ranges(kWord, true));
      case 's': return add(class_negated ? kSpaceWide : kSpaceNarrow);
      case 'S': return add(complement_ranges(class_negated ? kSpaceNarrow : kSpaceWide, true));
      case 'n': return one('\n');
      case 'r': return one('\r');
      case 't': return one('\t');
      case 'f': return one('\f');
      case 'v': return one('\v');
      case '0': return one(0);
      case 'x':
        if (peek() == '{') {
          ++pos_;
          return one(parse_hex_digits(0, true));
        }
        return one(parse_hex_digits(2, false));
      case 'u':
        if (peek() == '{') {
          ++pos_;
          return one(parse_hex_digits(0, true));
        }
        return one(parse_hex_digits(4, false));
      case 'b':
        if (in_class) return one('\b');
        fail("word boundary \\b is not supported");
        return false;
      case 'B': case 'A': case 'Z': case 'z': case 'G':
        fail(std::string("anchor \\") + c + " is not supported");
        return false;
      case 'p': case 'P':
        fail(std::string("Unicode property class \\") + c + " is not supported");
        return false;
      default:
        if (std::isdigit(static_cast<unsigned char>(c))) {
          fail("backreferences are not supported");
          return false;
        }
        if (std::isalnum(static_cast<unsigned char>(c))) {
          fail(std::string("unknown escape \\") + c);
          return false;
        }
        --pos_;
        return one(next_codepoint());
    }
  }

  ExprId parse_class() {
    ++pos_;
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++pos_;
    }
    Ranges ranges;
    bool first = true;
    while (error_.ok()) {
      if (done()) {
        fail("unterminated character class");
        break;
      }
      if (peek() == ']' && !first) {
        ++pos_;
        break;
      }
      if (peek() == '[' && peek(1) == ':') {
        fail("POSIX classes like [:alpha:] are not supported");
        break;
      }
      first = false;
      Ranges item;
      if (peek() == '\\') {
        if (!parse_escape(&item, true, negated)) break;
      } else {
        const uint32_t c = next_codepoint();
        item.push_back({c, c});
      }
      // A range a-b between two single characters.
      if (item.size() == 1 && item[0].first == item[0].last && peek() == '-' && peek(1) != ']' && peek(1) != '\0') {
        ++pos_;
        Ranges upper;
        if (peek() == '\\') {
          if (!parse_escape(&upper, true)) break;
        } else {
          const uint32_t c = next_codepoint();
          upper.push_back({c, c});
        }
        if (upper.size() != 1 || upper[0].first != upper[0].last) {
          fail("a class like \\d cannot end a range");
          break;
        }
        if (upper[0].first < item[0].first) {
          fail("character range is out of order");
          break;
        }
        item[0].last = upper[0].first;
      }
      ranges.insert(ranges.end(), item.begin(), item.end());
    }
    if (negated) ranges = complement_ranges(ranges, true);
    if (normalize_ranges(ranges, true).empty()) fail("character class matches nothing");
    return char_class(ranges);
  }

  bool parse_count(int* out) {
    int64_t value = 0;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) return false;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      value = value * 10 + (peek() - '0');
      ++pos_;
      if (value > options_.max_repeat) {
        fail("repetition count is larger than " + std::to_string(options_.max_repeat));
        return false;
      }
    }
    *out = static_cast<int>(value);
    return true;
  }

  ExprId parse_quantifiers(ExprId atom) {
    while (error_.ok()) {
      const char c = peek();
      int min, max;
      if (c == '*') {
        min = 0;
        max = kUnbounded;
        ++pos_;
      } else if (c == '+') {
        min = 1;
        max = kUnbounded;
        ++pos_;
      } else if (c == '?') {
        min = 0;
        max = 1;
        ++pos_;
      } else if (c == '{' && (std::isdigit(static_cast<unsigned char>(peek(1))) || peek(1) == ',')) {
        const size_t start = pos_;
        ++pos_;
        min = 0;
        const bool has_min = parse_count(&min);
        if (peek() == ',') {
          ++pos_;
          if (!parse_count(&max)) max = kUnbounded;
        } else {
          max = min;
          if (!has_min) {
            pos_ = start;
            return atom;
          }
        }
        if (peek() != '}') {
          fail("expected '}' in a repetition");
          return atom;
        }
        ++pos_;
        if (max != kUnbounded && max < min) {
          fail("repetition has max < min");
          return atom;
        }
      } else {
        return atom;
      }
      if (peek() == '?') ++pos_;  // lazy: the same strings
      if (peek() == '+') {
        fail("possessive quantifiers are not supported");
        return atom;
      }
      atom = g_->repeat(atom, min, max);
    }
    return atom;
  }

  std::string_view p_;
  Grammar* g_;
  const RegexOptions& options_;
  size_t pos_ = 0;
  Status error_;
};

}  // namespace

ExprId json_string_char_class(Grammar* g, const std::vector<CodepointRange>& ranges) {
  const Ranges normalized = normalize_ranges(ranges, true);
  Ranges plain;
  std::vector<ExprId> escaped;
  auto add_escape = [&](uint32_t c) {
    switch (c) {
      case '"': escaped.push_back(g->bytes("\\\"")); return;
      case '\\': escaped.push_back(g->bytes("\\\\")); return;
      case '\b': escaped.push_back(g->bytes("\\b")); return;
      case '\f': escaped.push_back(g->bytes("\\f")); return;
      case '\n': escaped.push_back(g->bytes("\\n")); return;
      case '\r': escaped.push_back(g->bytes("\\r")); return;
      case '\t': escaped.push_back(g->bytes("\\t")); return;
      default: break;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02x", c);
    escaped.push_back(g->sequence({g->bytes("\\u00"), g->char_class({{static_cast<uint32_t>(hex[0]), static_cast<uint32_t>(hex[0])}}),
                                   g->char_class({{static_cast<uint32_t>(std::tolower(hex[1])), static_cast<uint32_t>(std::tolower(hex[1]))},
                                                  {static_cast<uint32_t>(std::toupper(hex[1])), static_cast<uint32_t>(std::toupper(hex[1]))}})}));
  };
  for (const CodepointRange& r : normalized) {
    uint32_t first = r.first;
    for (uint32_t c = r.first; c <= r.last && c < 0x5D; ++c) {
      if (c < 0x20 || c == '"' || c == '\\') {
        if (c > first) plain.push_back({first, c - 1});
        add_escape(c);
        first = c + 1;
      }
    }
    if (first <= r.last) plain.push_back({first, r.last});
  }
  std::vector<ExprId> choices;
  if (!plain.empty()) choices.push_back(g->char_class(plain));
  choices.insert(choices.end(), escaped.begin(), escaped.end());
  return g->choice(std::move(choices));
}

Result<ExprId> parse_regex(std::string_view pattern, Grammar* grammar, const RegexOptions& options) {
  auto result = RegexParser(pattern, grammar, options).parse();
  if (!result.ok()) return result.status().with_context("regex");
  return result;
}

Result<Grammar> regex_to_grammar(std::string_view pattern) {
  Grammar g;
  const RuleId root = g.add_rule("root");
  KILN_ASSIGN_OR_RETURN(ExprId body, parse_regex(pattern, &g));
  g.set_body(root, body);
  g.set_root(root);
  return g;
}

}  // namespace kiln::grammar
