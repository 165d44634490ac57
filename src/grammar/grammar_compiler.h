// Compiles grammar specs for one vocabulary on worker threads, off the engine thread, and keeps
// the most recently used compiled grammars (LRU) so that a schema sent again compiles once.
// Equal specs that arrive while one compiles share that compilation. Failures are cached too,
// so a bad schema sent in a loop costs one compile. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "grammar/automaton.h"
#include "grammar/compiled_grammar.h"
#include "grammar/grammar_spec.h"
#include "grammar/vocabulary.h"

namespace kiln::grammar {

struct GrammarCompilerConfig {
  size_t max_cached_grammars = 512;
  size_t max_shared_class_bytes = size_t{256} << 20;  // token classes shared across grammars
  int num_threads = 1;
  JsonSchemaOptions json;
  AutomatonLimits limits;
  // Classify the states of a JSON string and of any JSON object on a worker at start, so that
  // the first request's strings find their token classes shared (about 10 ms of one thread).
  bool warm_up = true;
};

using CompileResult = Result<std::shared_ptr<const CompiledGrammar>>;

struct GrammarCompilerStats {
  int64_t compiles = 0;       // specs compiled (cache misses)
  int64_t cache_hits = 0;
  int64_t failures = 0;       // compiles that ended in an error
  double compile_seconds = 0; // total time spent compiling
};

class GrammarCompiler {
 public:
  GrammarCompiler(std::shared_ptr<const Vocabulary> vocabulary, GrammarCompilerConfig config = {});
  ~GrammarCompiler();  // finishes the compiles under way
  GrammarCompiler(const GrammarCompiler&) = delete;
  GrammarCompiler& operator=(const GrammarCompiler&) = delete;

  // Compiles on a worker thread; `done` is called there (or at once, from the cache) with the
  // result. `done` must not block.
  void compile_async(const GrammarSpec& spec, std::function<void(const CompileResult&)> done);
  // Waits for the result (on a worker thread or from the cache).
  CompileResult compile(const GrammarSpec& spec);

  const Vocabulary& vocabulary() const { return *vocabulary_; }
  const TokenClassCache& shared_classes() const { return *shared_classes_; }
  GrammarCompilerStats stats() const;

 private:
  struct Entry {
    std::shared_future<CompileResult> result;
    std::list<std::string>::iterator lru;
  };

  CompileResult compile_now(const GrammarSpec& spec);
  void worker();

  std::shared_ptr<const Vocabulary> vocabulary_;
  GrammarCompilerConfig config_;
  std::shared_ptr<TokenClassCache> shared_classes_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::unordered_map<std::string, Entry> cache_;
  std::list<std::string> lru_;  // most recent first
  GrammarCompilerStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace kiln::grammar
