// Views of a Llama/Qwen2 checkpoint's tensors, by role, with HF's shapes (out_features first).
// The views point into memory the loader keeps alive (memory-mapped safetensors on the host, or
// device buffers for the CUDA backend).
#pragma once

#include <vector>

#include "tensor/tensor_view.h"

namespace kiln {

// The scales of a linear whose weight is FP8 (F8_E4M3 codes) in the checkpoint; both empty for
// bf16/f16/f32 weights. Their dtype is the checkpoint's (bf16, f16 or f32).
struct LinearScales {
  // [out, 1] or [out] per channel; [] or [1] per tensor; [ceil(out/128), ceil(in/128)] per block
  // (the fp8 format's weight_scale_inv).
  TensorView weight_scale;
  TensorView input_scale;  // [] or [1]: the static activation scale; empty when dynamic
};

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
  // FP8 checkpoints: each projection's scales (empty where the projection is not quantized).
  LinearScales q_proj_scales, k_proj_scales, v_proj_scales, o_proj_scales;
  LinearScales gate_proj_scales, up_proj_scales, down_proj_scales;
  // Checkpoints calibrated for an FP8 KV cache (compressed-tensors kv_cache_scheme):
  // self_attn.k_scale and v_scale, [] or [1] each; empty otherwise.
  TensorView k_cache_scale, v_cache_scale;
};

struct ModelWeights {
  TensorView embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  TensorView norm;     // [hidden]
  TensorView lm_head;  // [vocab, hidden]; the same view as embed_tokens when tied
  LinearScales lm_head_scales;  // when an FP8 checkpoint quantizes the head (rare: most ignore it)
};

}  // namespace kiln
