// The HF transformers golden fixtures of tests/golden/model/ as the CPU and CUDA golden tests
// read them: the model list, one fixture's model re-created with the synth library, its
// prompts as one mixed ForwardBatch, and log-softmax over a logits row.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "model/forward_batch.h"
#include "model/model_loader.h"

namespace kiln::testing {

std::filesystem::path golden_model_dir();
std::vector<std::string> golden_model_names();
nlohmann::json read_golden_fixture(const std::string& name);  // null when the file is missing

// Synthesizes the fixture's model (f32, its seed and std) under `work_dir` and loads it.
Result<std::unique_ptr<LoadedModel>> synth_golden_model(const nlohmann::json& fixture,
                                                        const std::filesystem::path& work_dir);

// Every prompt of the fixture as its own sequence with logits at every position.
ForwardBatch golden_prompts_batch(const nlohmann::json& fixture, int block_size, int* num_blocks);

// log p(id) for every id of a logits row, in double.
std::vector<double> log_softmax_row(const float* logits, size_t vocab);

}  // namespace kiln::testing
