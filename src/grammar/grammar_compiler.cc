#include "grammar/grammar_compiler.h"

#include <chrono>

namespace kiln::grammar {

GrammarCompiler::GrammarCompiler(std::shared_ptr<const Vocabulary> vocabulary, GrammarCompilerConfig config)
    : vocabulary_(std::move(vocabulary)),
      config_(std::move(config)),
      shared_classes_(std::make_shared<TokenClassCache>(config_.max_shared_class_bytes)) {
  for (int i = 0; i < std::max(1, config_.num_threads); ++i) workers_.emplace_back([this] { worker(); });
  if (config_.warm_up) {
    GrammarSpec any_object;
    any_object.kind = GrammarKind::kJsonObject;
    compile_async(any_object, [](const CompileResult& result) {
      if (result.ok()) (*result)->classify_all_states();
    });
  }
}

GrammarCompiler::~GrammarCompiler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void GrammarCompiler::worker() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

CompileResult GrammarCompiler::compile_now(const GrammarSpec& spec) {
  const auto start = std::chrono::steady_clock::now();
  CompileResult result = [&]() -> CompileResult {
    KILN_ASSIGN_OR_RETURN(Grammar grammar, build_grammar(spec, config_.json));
    KILN_ASSIGN_OR_RETURN(Automaton automaton, Automaton::build(grammar, config_.limits));
    auto compiled = std::make_shared<const CompiledGrammar>(std::move(automaton), vocabulary_, shared_classes_);
    // The first mask needs the start state's classes: have them ready before the first step.
    const Automaton& a = compiled->automaton();
    const int32_t start_state = a.rule_start(a.root());
    if (a.has_byte_edges(start_state)) compiled->state_tokens(start_state);
    return std::shared_ptr<const CompiledGrammar>(std::move(compiled));
  }();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.compiles;
  stats_.compile_seconds += seconds;
  if (!result.ok()) ++stats_.failures;
  return result;
}

void GrammarCompiler::compile_async(const GrammarSpec& spec, std::function<void(const CompileResult&)> done) {
  const std::string key = spec.cache_key();
  std::shared_future<CompileResult> future;
  std::shared_ptr<std::promise<CompileResult>> promise;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      ++stats_.cache_hits;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      future = it->second.result;
    } else {
      promise = std::make_shared<std::promise<CompileResult>>();
      future = promise->get_future().share();
      lru_.push_front(key);
      cache_.emplace(key, Entry{future, lru_.begin()});
      while (cache_.size() > config_.max_cached_grammars) {
        cache_.erase(lru_.back());
        lru_.pop_back();
      }
    }
    if (promise) {
      queue_.push_back([this, spec, promise, future, done = std::move(done)] {
        promise->set_value(compile_now(spec));
        done(future.get());
      });
    }
  }
  if (promise) {
    work_ready_.notify_one();
    return;
  }
  // Cached, or being compiled for another request: wait for it off this thread unless ready.
  if (future.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    done(future.get());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back([future, done = std::move(done)] { done(future.get()); });
  }
  work_ready_.notify_one();
}

CompileResult GrammarCompiler::compile(const GrammarSpec& spec) {
  std::promise<CompileResult> promise;
  auto future = promise.get_future();
  compile_async(spec, [&promise](const CompileResult& result) { promise.set_value(result); });
  return future.get();
}

GrammarCompilerStats GrammarCompiler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace kiln::grammar
