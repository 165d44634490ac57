// Random walks through the token masks of every entry of a corpus, over the real vocabulary.
// Entries with a "schema" are written as JSON lines for tests/grammar/validate.mjs to check with
// a JSON Schema validator; entries with a "regex" are checked here with PCRE2 (anchored, UTF),
// entries with a "choice" against the list itself.
//   grammar_corpus_walk CORPUS.json TOKENIZER.json OUT.jsonl [--walks N] [--seed S]
// A walk picks uniformly among the allowed tokens for a while, then finishes: it prefers the
// tokens after which the output is closest to complete (shortest way to an accepting end,
// computed on the automaton), so every walk ends with the stop token. Exit 1 when a schema
// fails to compile or a walk cannot finish.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "grammar/grammar_compiler.h"
#include "grammar/grammar_matcher.h"
#include "tokenizer/tokenizer.h"

namespace kiln::grammar {
namespace {

using Json = nlohmann::ordered_json;
constexpr int32_t kEos = 128001;
constexpr int64_t kFar = std::numeric_limits<int32_t>::max();

// Shortest number of bytes from each state to an accepting state of its rule; a reference costs
// its rule's shortest string.
std::vector<int64_t> distances_to_end(const Automaton& a) {
  std::vector<int64_t> dist(static_cast<size_t>(a.num_states()), kFar);
  for (int32_t s = 0; s < a.num_states(); ++s) {
    if (a.accepting(s)) dist[static_cast<size_t>(s)] = 0;
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t s = 0; s < a.num_states(); ++s) {
      int64_t best = dist[static_cast<size_t>(s)];
      for (int b = 0; b < 256; ++b) {
        const int32_t t = a.next(s, static_cast<uint8_t>(b));
        if (t >= 0) best = std::min(best, 1 + dist[static_cast<size_t>(t)]);
      }
      for (const RefEdge& e : a.refs(s)) {
        best = std::min(best, dist[static_cast<size_t>(a.rule_start(e.rule))] + dist[static_cast<size_t>(e.target)]);
      }
      if (best < dist[static_cast<size_t>(s)]) {
        dist[static_cast<size_t>(s)] = best;
        changed = true;
      }
    }
  }
  return dist;
}

// Bytes still needed, at least, to complete the matcher's output.
int64_t completion_cost(const GrammarMatcher& m, const std::vector<int64_t>& dist) {
  const EarleyRunner& r = m.runner();
  const Automaton& a = r.automaton();
  std::map<std::pair<int32_t, int32_t>, int64_t> memo;
  std::function<int64_t(EarleyItem, int)> item_cost = [&](EarleyItem item, int depth) -> int64_t {
    if (depth > 200) return kFar;
    auto key = std::make_pair(item.state, item.origin);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
    memo[key] = kFar;
    int64_t cost = dist[static_cast<size_t>(item.state)];
    if (cost < kFar && item.origin != EarleyRunner::kFrame) {
      int64_t rest = kFar;
      const RuleId rule = a.rule_of(item.state);
      for (const EarleyItem& caller : r.set(item.origin)) {
        const int32_t t = a.ref_target(caller.state, rule);
        if (t >= 0) rest = std::min(rest, item_cost(EarleyItem{t, caller.origin}, depth + 1));
      }
      cost = rest >= kFar ? kFar : cost + rest;
    }
    return memo[key] = cost;
  };
  int64_t best = kFar;
  for (const EarleyItem& item : r.last_set()) best = std::min(best, item_cost(item, 0));
  return best;
}

struct WalkResult {
  std::string text;
  bool complete = false;
  int tokens = 0;
};

WalkResult walk(const std::shared_ptr<const CompiledGrammar>& grammar, const std::vector<int64_t>& dist, std::mt19937* rng) {
  const Vocabulary& vocab = grammar->vocabulary();
  GrammarMatcher matcher(grammar);
  std::vector<uint32_t> words(static_cast<size_t>(vocab.bitmask_words()));
  WalkResult out;
  const int free_steps = static_cast<int>((*rng)() % 150);
  for (int step = 0; step < 3000; ++step) {
    matcher.fill_next_token_bitmask(words);
    std::vector<int32_t> allowed;
    bool stop_allowed = false;
    for (int32_t id = 0; id < vocab.size(); ++id) {
      if (!((words[static_cast<size_t>(id) / 32] >> (id % 32)) & 1)) continue;
      if (vocab.is_stop(id)) stop_allowed = true;
      else allowed.push_back(id);
    }
    const bool finishing = step >= free_steps;
    if (stop_allowed && (allowed.empty() || finishing || (*rng)() % 8 == 0)) {
      out.complete = matcher.accept_token(kEos);
      return out;
    }
    if (allowed.empty()) return out;  // a dead end: reported by the caller
    int32_t next = allowed[(*rng)() % allowed.size()];
    if (finishing) {
      // Among a sample of the allowed tokens (all single bytes included), one that leaves the
      // least to write; ties broken at random.
      std::vector<int32_t> candidates;
      for (int32_t id : allowed) {
        if (vocab.bytes(id).size() == 1) candidates.push_back(id);
      }
      for (int i = 0; i < 200; ++i) candidates.push_back(allowed[(*rng)() % allowed.size()]);
      int64_t best = kFar;
      for (int32_t id : candidates) {
        if (!matcher.accept_token(id)) continue;
        const int64_t cost = completion_cost(matcher, dist) + static_cast<int64_t>((*rng)() % 2);
        matcher.rollback(1);
        if (cost < best) {
          best = cost;
          next = id;
        }
      }
    }
    if (!matcher.accept_token(next)) return out;
    out.text += vocab.bytes(next);
    ++out.tokens;
  }
  return out;
}

// Whether `text` is a whole match of `pattern` (PCRE2, UTF, anchored at both ends).
bool pcre2_full_match(const std::string& pattern, const std::string& text) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &error, &offset, nullptr);
  if (!code) return false;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code, nullptr);
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, data, nullptr);
  pcre2_match_data_free(data);
  pcre2_code_free(code);
  return rc >= 0;
}

int run(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: grammar_corpus_walk CORPUS.json TOKENIZER.json OUT.jsonl [--walks N] [--seed S]\n";
    return 2;
  }
  int walks = 4;
  unsigned seed = 1;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--walks") walks = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--seed") seed = static_cast<unsigned>(std::atoi(argv[i + 1]));
  }
  std::ifstream corpus_file(argv[1]);
  if (!corpus_file) {
    std::cerr << argv[1] << ": cannot read\n";
    return 2;
  }
  const Json corpus = Json::parse(corpus_file);
  auto tokenizer = tokenizer::Tokenizer::load(argv[2]);
  if (!tokenizer.ok()) {
    std::cerr << tokenizer.message() << "\n";
    return 2;
  }
  std::vector<std::string> bytes;
  std::vector<int32_t> special;
  for (int32_t id = 0; id < (*tokenizer)->vocab_size(); ++id) {
    bytes.push_back((*tokenizer)->token_bytes(id));
    if ((*tokenizer)->is_special(id)) special.push_back(id);
  }
  GrammarCompilerConfig config;
  config.warm_up = false;
  GrammarCompiler compiler(Vocabulary::create(std::move(bytes), special, {kEos}), config);
  std::ofstream out(argv[3]);
  std::mt19937 rng(seed);
  int failures = 0;
  for (const Json& entry : corpus) {
    const std::string name = entry["name"].get<std::string>();
    GrammarSpec spec;
    if (entry.contains("regex")) {
      spec.kind = GrammarKind::kRegex;
      spec.text = entry["regex"].get<std::string>();
    } else if (entry.contains("choice")) {
      spec.kind = GrammarKind::kChoice;
      spec.choices = entry["choice"].get<std::vector<std::string>>();
    } else {
      spec.kind = GrammarKind::kJsonSchema;
      spec.text = entry["schema"].dump();
    }
    auto compiled = compiler.compile(spec);
    if (!compiled.ok()) {
      std::cerr << name << ": does not compile: " << compiled.message() << "\n";
      ++failures;
      continue;
    }
    const std::vector<int64_t> dist = distances_to_end((*compiled)->automaton());
    for (int w = 0; w < walks; ++w) {
      const WalkResult result = walk(*compiled, dist, &rng);
      if (!result.complete) {
        std::cerr << name << " walk " << w << ": did not finish after " << result.tokens << " tokens: " << result.text.substr(0, 200) << "\n";
        ++failures;
      } else if (spec.kind == GrammarKind::kRegex && !pcre2_full_match(spec.text, result.text)) {
        std::cerr << name << " walk " << w << ": PCRE2 does not match " << Json(result.text).dump() << "\n";
        ++failures;
      } else if (spec.kind == GrammarKind::kChoice &&
                 std::find(spec.choices.begin(), spec.choices.end(), result.text) == spec.choices.end()) {
        std::cerr << name << " walk " << w << ": not one of the choices: " << Json(result.text).dump() << "\n";
        ++failures;
      }
      if (spec.kind != GrammarKind::kJsonSchema) continue;
      Json line = {{"name", name}, {"walk", w}, {"complete", result.complete}, {"tokens", result.tokens}, {"text", result.text}};
      out << line.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    }
  }
  std::cerr << "grammar_corpus_walk: " << corpus.size() << " schemas, " << walks << " walks each, " << failures << " failures\n";
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace kiln::grammar

int main(int argc, char** argv) { return kiln::grammar::run(argc, argv); }
