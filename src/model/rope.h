// Rotary position embedding tables, computed as HF transformers computes them
// (modeling_rope_utils.py: inv_freq in float32, then cos/sin of position * inv_freq in float32)
// for the rope types kiln supports: default, linear, llama3 and yarn.
#pragma once

#include <vector>

#include "base/status.h"
#include "model/model_config.h"

namespace kiln {

struct RopeParameters {
  std::vector<float> inv_freq;     // [head_dim / 2]
  float attention_scaling = 1.0f;  // multiplies cos and sin (yarn's mscale; 1 otherwise)
};

// Errors name the config field at fault (e.g. llama3 without original_max_position_embeddings).
Result<RopeParameters> compute_rope_parameters(const ModelConfig& config);

// A growing cos|sin table in the layout the rope kernels read: row p is
// cos(p * inv_freq[i]) * scaling for i < head_dim/2, then sin(p * inv_freq[i]) * scaling.
class RopeTable {
 public:
  RopeTable(RopeParameters params, int head_dim);

  // Makes rows 0..num_positions-1 available (grows by doubling).
  void reserve(int num_positions);
  const float* data() const { return table_.data(); }  // [num_positions(), head_dim]
  int num_positions() const { return num_positions_; }
  int head_dim() const { return head_dim_; }

 private:
  RopeParameters params_;
  int head_dim_;
  int num_positions_ = 0;
  std::vector<float> table_;
};

}  // namespace kiln
