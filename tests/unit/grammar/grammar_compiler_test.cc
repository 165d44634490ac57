// The compiler's cache and threads: equal specs compile once (also when they arrive together),
// least recently used grammars are dropped, failures are cached with their message, and results
// reach callbacks on the worker thread.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "grammar/grammar_compiler.h"
#include "walk_check.h"

namespace kiln::grammar {
namespace {

GrammarSpec regex(const std::string& pattern) {
  GrammarSpec spec;
  spec.kind = GrammarKind::kRegex;
  spec.text = pattern;
  return spec;
}

TEST(GrammarCompiler, EqualSpecsCompileOnce) {
  GrammarCompilerConfig config;
  config.warm_up = false;
  GrammarCompiler compiler(testing::make_vocabulary({"a", "b"}), config);
  auto first = compiler.compile(regex("a+b"));
  auto second = compiler.compile(regex("a+b"));
  ASSERT_TRUE(first.ok()) << first.message();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(compiler.stats().compiles, 1);
  EXPECT_EQ(compiler.stats().cache_hits, 1);
}

TEST(GrammarCompiler, ConcurrentRequestsShareOneCompile) {
  GrammarCompilerConfig config;
  config.num_threads = 2;
  config.warm_up = false;
  GrammarCompiler compiler(testing::make_vocabulary({"a"}), config);
  std::vector<std::thread> threads;
  std::vector<const CompiledGrammar*> seen(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto result = compiler.compile(regex("(ab|cd){1,40}"));
      seen[static_cast<size_t>(i)] = result.ok() ? result->get() : nullptr;
    });
  }
  for (auto& t : threads) t.join();
  for (const CompiledGrammar* g : seen) EXPECT_EQ(g, seen[0]);
  EXPECT_NE(seen[0], nullptr);
  EXPECT_EQ(compiler.stats().compiles, 1);
}

TEST(GrammarCompiler, LeastRecentlyUsedAreDropped) {
  GrammarCompilerConfig config;
  config.max_cached_grammars = 2;
  config.warm_up = false;
  GrammarCompiler compiler(testing::make_vocabulary({"a"}), config);
  ASSERT_TRUE(compiler.compile(regex("a")).ok());
  ASSERT_TRUE(compiler.compile(regex("b")).ok());
  ASSERT_TRUE(compiler.compile(regex("a")).ok());  // a is now the most recent
  ASSERT_TRUE(compiler.compile(regex("c")).ok());  // drops b
  EXPECT_EQ(compiler.stats().compiles, 3);
  ASSERT_TRUE(compiler.compile(regex("a")).ok());
  EXPECT_EQ(compiler.stats().compiles, 3);
  ASSERT_TRUE(compiler.compile(regex("b")).ok());
  EXPECT_EQ(compiler.stats().compiles, 4);
}

TEST(GrammarCompiler, FailuresAreCachedWithTheirMessage) {
  GrammarCompilerConfig config;
  config.warm_up = false;
  GrammarCompiler compiler(testing::make_vocabulary({"a"}), config);
  GrammarSpec bad;
  bad.kind = GrammarKind::kJsonSchema;
  bad.text = R"({"type":"integer","multipleOf":2})";
  for (int i = 0; i < 3; ++i) {
    auto result = compiler.compile(bad);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.message(), "schema at the root: unsupported keyword 'multipleOf'");
  }
  EXPECT_EQ(compiler.stats().compiles, 1);
  EXPECT_EQ(compiler.stats().failures, 1);
}

TEST(GrammarCompiler, AsyncCallbackRunsOnAWorker) {
  GrammarCompiler compiler(testing::make_vocabulary({"a"}));
  std::promise<std::thread::id> where;
  GrammarSpec choice;
  choice.kind = GrammarKind::kChoice;
  choice.choices = {"yes", "no"};
  compiler.compile_async(choice, [&](const CompileResult& result) {
    EXPECT_TRUE(result.ok());
    where.set_value(std::this_thread::get_id());
  });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
}

TEST(GrammarSpec, ChoicesMatchExactly) {
  GrammarSpec spec;
  spec.kind = GrammarKind::kChoice;
  spec.choices = {"red", "green", "re"};
  auto grammar = build_grammar(spec, {});
  ASSERT_TRUE(grammar.ok());
  auto compiled = testing::compile(*grammar, testing::make_vocabulary({"x"}));
  for (const char* text : {"red", "green", "re"}) {
    GrammarMatcher matcher(compiled);
    EXPECT_TRUE(matcher.accept_bytes(text) && matcher.is_complete()) << text;
  }
  GrammarMatcher matcher(compiled);
  EXPECT_FALSE(matcher.accept_bytes("gree") && matcher.is_complete());
  spec.choices.clear();
  EXPECT_EQ(build_grammar(spec, {}).message(), "choice needs at least one option");
}

TEST(GrammarCompiler, WarmUpSharesStringClassesWithLaterGrammars) {
  GrammarCompiler compiler(testing::make_vocabulary({"a", "\"", "ab\"", "\\n"}));
  GrammarSpec string_schema;
  string_schema.kind = GrammarKind::kJsonSchema;
  string_schema.text = R"({"type":"string"})";
  auto compiled = compiler.compile(string_schema);  // queued behind the warm-up
  ASSERT_TRUE(compiled.ok()) << compiled.message();
  const size_t shared_before = compiler.shared_classes().size();
  EXPECT_GT(shared_before, 0u);
  GrammarMatcher matcher(*compiled);
  std::vector<uint32_t> words(1);
  ASSERT_TRUE(matcher.accept_bytes("\""));
  matcher.fill_next_token_bitmask(words);  // the string's content state: found, not added
  EXPECT_EQ(compiler.shared_classes().size(), shared_before);
  EXPECT_EQ(words[0], 0b11110u);
}

}  // namespace
}  // namespace kiln::grammar
