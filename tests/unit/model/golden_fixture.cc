#include "golden_fixture.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "model/synth_model.h"
#include "test_model.h"

namespace kiln::testing {

namespace fs = std::filesystem;

fs::path golden_model_dir() { return fs::path(KILN_SOURCE_DIR) / "tests" / "golden" / "model"; }

nlohmann::json read_golden_fixture(const std::string& name) {
  std::ifstream in(golden_model_dir() / (name + ".json"));
  if (!in) return nlohmann::json();
  return nlohmann::json::parse(in);
}

std::vector<std::string> golden_model_names() {
  std::vector<std::string> names;
  std::ifstream in(golden_model_dir() / "manifest.json");
  if (!in) return names;
  const nlohmann::json manifest = nlohmann::json::parse(in);
  for (const auto& item : manifest["models"].items()) names.push_back(item.key());
  return names;
}

Result<std::unique_ptr<LoadedModel>> synth_golden_model(const nlohmann::json& fixture, const fs::path& work_dir) {
  fs::remove_all(work_dir);
  SynthOptions synth;
  synth.config_path = golden_model_dir() / "configs" / fixture.at("config").get<std::string>();
  synth.out_dir = work_dir;
  synth.seed = fixture.at("seed").get<uint64_t>();
  synth.stddev = fixture.at("std").get<double>();
  synth.dtype = DType::kF32;
  synth.show_progress = false;
  const auto synthesized = synth_model(synth);
  if (!synthesized.ok()) return synthesized.status();
  LoadOptions load_options;
  load_options.prefault = false;
  load_options.show_progress = false;
  return load_model(work_dir, load_options);
}

ForwardBatch golden_prompts_batch(const nlohmann::json& fixture, int block_size, int* num_blocks) {
  std::vector<SeqStep> seqs;
  int next_block = 0;
  for (const nlohmann::json& prompt : fixture.at("prompts")) {
    SeqStep seq;
    seq.tokens = prompt.at("ids").get<std::vector<int32_t>>();
    seq.num_new = static_cast<int>(seq.tokens.size());
    seq.all_logits = true;
    for (int b = 0; b < (seq.num_new + block_size - 1) / block_size; ++b) seq.blocks.push_back(next_block++);
    seqs.push_back(seq);
  }
  *num_blocks = next_block;
  return make_batch(seqs, block_size);
}

std::vector<double> log_softmax_row(const float* logits, size_t vocab) {
  const double max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (size_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - max_logit);
  const double log_z = max_logit + std::log(sum);
  std::vector<double> out(vocab);
  for (size_t v = 0; v < vocab; ++v) out[v] = static_cast<double>(logits[v]) - log_z;
  return out;
}

}  // namespace kiln::testing
