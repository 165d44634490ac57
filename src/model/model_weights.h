// Views of a Llama/Qwen2 checkpoint's tensors, by role, with HF's shapes (out_features first).
// The views point into memory the loader keeps alive (memory-mapped safetensors on the host, or
// device buffers for the CUDA backend).
#pragma once

#include <vector>

#include "tensor/tensor_view.h"

namespace kiln {

struct LayerWeights {
  TensorView input_layernorm;           // [hidden]
  TensorView q_proj;                    // [num_heads * head_dim, hidden]
  TensorView k_proj;                    // [num_kv_heads * head_dim, hidden]
  TensorView v_proj;                    // [num_kv_heads * head_dim, hidden]
  TensorView q_bias;                    // [num_heads * head_dim]; Qwen2 only, else empty
  TensorView k_bias;                    // [num_kv_heads * head_dim]; Qwen2 only
  TensorView v_bias;                    // [num_kv_heads * head_dim]; Qwen2 only
  TensorView o_proj;                    // [hidden, num_heads * head_dim]
  TensorView post_attention_layernorm;  // [hidden]
  TensorView gate_proj;                 // [intermediate, hidden]
  TensorView up_proj;                   // [intermediate, hidden]
  TensorView down_proj;                 // [hidden, intermediate]
};

struct ModelWeights {
  TensorView embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  TensorView norm;     // [hidden]
  TensorView lm_head;  // [vocab, hidden]; the same view as embed_tokens when tied
};

}  // namespace kiln
