#include "grammar/json_syntax_builder.h"

#include <algorithm>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "grammar/json_number_range.h"

namespace kiln::grammar {
namespace {

constexpr int kEscapeLetter = -1;  // after a backslash in a key: the escape's letter is due

}  // namespace

ExprId JsonSyntaxBuilder::whitespace() {
  return g_->repeat(g_->char_class({{' ', ' '}, {'\n', '\n'}, {'\t', '\t'}}), 0, max_whitespace_);
}

ExprId JsonSyntaxBuilder::separator(const char* text) { return g_->sequence({whitespace(), g_->bytes(text), whitespace()}); }

ExprId JsonSyntaxBuilder::hex_digit() { return g_->char_class({{'0', '9'}, {'A', 'F'}, {'a', 'f'}}); }

ExprId JsonSyntaxBuilder::escape_letter() {
  return g_->char_class({{'"', '"'}, {'\\', '\\'}, {'/', '/'}, {'b', 'b'}, {'f', 'f'}, {'n', 'n'}, {'r', 'r'}, {'t', 't'}});
}

ExprId JsonSyntaxBuilder::string_char() {
  const ExprId hex = hex_digit();
  // \u escapes of surrogates are left out, so that every escape is exactly one character.
  const ExprId unicode = g_->sequence({g_->bytes("u"), g_->choice({g_->sequence({g_->char_class({{'0', '9'}, {'A', 'C'}, {'E', 'F'}, {'a', 'c'}, {'e', 'f'}}), hex, hex, hex}),
                                                                   g_->sequence({g_->char_class({{'D', 'D'}, {'d', 'd'}}), g_->char_class({{'0', '7'}}), hex, hex})})});
  const ExprId escape = g_->sequence({g_->bytes("\\"), g_->choice({escape_letter(), unicode})});
  return g_->choice({g_->char_class({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, kMaxCodepoint}}), escape});
}

ExprId JsonSyntaxBuilder::string(int32_t min_length, int32_t max_length) {
  const auto key = std::make_pair(min_length, max_length);
  if (auto it = string_rules_.find(key); it != string_rules_.end()) return g_->ref(it->second);
  const RuleId rule = g_->add_rule(min_length == 0 && max_length == kUnbounded ? "string" : "string_with_length");
  g_->set_keep(rule);
  string_rules_[key] = rule;
  g_->set_body(rule, g_->sequence({g_->bytes("\""), g_->repeat(string_char(), min_length, max_length), g_->bytes("\"")}));
  return g_->ref(rule);
}

ExprId JsonSyntaxBuilder::number() {
  const ExprId digit = g_->char_class({{'0', '9'}});
  return g_->sequence({integer_range(g_, std::nullopt, std::nullopt),
                       g_->optional(g_->sequence({g_->bytes("."), g_->repeat(digit, 1, kUnbounded)})),
                       g_->optional(g_->sequence({g_->char_class({{'E', 'E'}, {'e', 'e'}}), g_->optional(g_->char_class({{'+', '+'}, {'-', '-'}})),
                                                  g_->repeat(digit, 1, kUnbounded)}))});
}

// One recursive rule shared by every place that allows anything.
ExprId JsonSyntaxBuilder::any_value() {
  if (any_value_rule_ < 0) {
    any_value_rule_ = g_->add_rule("value");
    const ExprId v = g_->ref(any_value_rule_);
    const ExprId object = g_->sequence({g_->bytes("{"), whitespace(),
                                        g_->optional(g_->sequence({string(0, kUnbounded), separator(":"), v,
                                                                   g_->star(g_->sequence({separator(","), string(0, kUnbounded), separator(":"), v}))})),
                                        whitespace(), g_->bytes("}")});
    const ExprId array = g_->sequence({g_->bytes("["), whitespace(), g_->optional(g_->sequence({v, g_->star(g_->sequence({separator(","), v}))})), whitespace(), g_->bytes("]")});
    g_->set_body(any_value_rule_, g_->choice({object, array, string(0, kUnbounded), number(), g_->bytes("true"),
                                              g_->bytes("false"), g_->bytes("null")}));
  }
  return g_->ref(any_value_rule_);
}

ExprId JsonSyntaxBuilder::any_object() {
  return g_->sequence({g_->bytes("{"), whitespace(),
                       g_->optional(g_->sequence({string(0, kUnbounded), separator(":"), any_value(),
                                                  g_->star(g_->sequence({separator(","), string(0, kUnbounded), separator(":"), any_value()}))})),
                       whitespace(), g_->bytes("}")});
}

ExprId JsonSyntaxBuilder::key_not_in(const std::vector<std::string>& names) {
  struct Node {
    std::map<unsigned char, Node> children;
    bool is_name = false;
  };
  Node trie;
  for (const std::string& name : names) {
    const std::string encoded = nlohmann::ordered_json(name).dump();  // the key as JSON writes it, quotes included
    Node* n = &trie;
    for (size_t i = 1; i + 1 < encoded.size(); ++i) n = &n->children[static_cast<unsigned char>(encoded[i])];
    n->is_name = true;
  }
  // Any content byte sequence that leaves the trie is free to go on as any string.
  const RuleId rest_rule = g_->add_rule("key_rest");
  g_->set_body(rest_rule, g_->sequence({g_->star(string_char()), g_->bytes("\"")}));
  // `pending`: bytes still owed by the character or escape under way; inside one only the
  // names' own bytes may follow (so a key never ends mid-character or mid-escape).
  std::function<ExprId(const Node&, int)> build = [&](const Node& n, int pending) -> ExprId {
    std::vector<ExprId> choices;
    std::vector<CodepointRange> used;
    for (const auto& [byte, child] : n.children) {
      used.push_back({byte, byte});
      int next_pending = pending > 0 ? pending - 1 : 0;
      if (pending == kEscapeLetter) next_pending = byte == 'u' ? 4 : 0;
      else if (pending == 0 && byte == '\\') next_pending = kEscapeLetter;
      else if (pending == 0 && byte >= 0xF0) next_pending = 3;
      else if (pending == 0 && byte >= 0xE0) next_pending = 2;
      else if (pending == 0 && byte >= 0xC0) next_pending = 1;
      choices.push_back(g_->sequence({g_->byte_class({{byte, byte}}), build(child, next_pending)}));
    }
    if (pending != 0) return g_->choice(std::move(choices));
    if (!n.is_name) choices.push_back(g_->bytes("\""));
    // A different next character (or an escape) leaves the names behind. Bytes the names use
    // here are excluded as first bytes, so the two branches never overlap.
    auto taken = [&](uint32_t b) {
      for (const CodepointRange& r : used) {
        if (b == r.first) return true;
      }
      return false;
    };
    std::vector<ExprId> leave;
    std::vector<CodepointRange> plain;
    for (uint32_t c = 0x20; c < 0x80; ++c) {
      if (c != '"' && c != '\\' && !taken(c)) plain.push_back({c, c});
    }
    for (uint32_t lead = 0xC2; lead <= 0xF4; ++lead) {  // multi-byte characters by lead byte
      if (taken(lead)) continue;
      const uint32_t first = lead < 0xE0 ? ((lead & 0x1F) << 6) : lead < 0xF0 ? ((lead & 0x0F) << 12) : ((lead & 0x07) << 18);
      const uint32_t span = lead < 0xE0 ? 0x40 : lead < 0xF0 ? 0x1000 : 0x40000;
      const uint32_t smallest = lead < 0xE0 ? 0x80 : lead < 0xF0 ? 0x800 : 0x10000;  // no overlong forms
      plain.push_back({std::max(first, smallest), first + span - 1});
    }
    if (!plain.empty()) leave.push_back(g_->char_class(plain));
    if (!taken('\\')) leave.push_back(g_->sequence({g_->bytes("\\"), g_->choice({escape_letter(),
                                                                                 g_->sequence({g_->bytes("u"), g_->repeat(hex_digit(), 4, 4)})})}));
    if (!leave.empty()) choices.push_back(g_->sequence({g_->choice(std::move(leave)), g_->ref(rest_rule)}));
    return g_->choice(std::move(choices));
  };
  return g_->sequence({g_->bytes("\""), build(trie, 0)});
}

}  // namespace kiln::grammar
