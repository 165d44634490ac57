// The model's weights on the GPU in bf16, in one allocation, with the projections that run
// together fused: q|k|v rows into one [q + 2 kv, hidden] matrix (and their biases), gate|up rows
// into one [2 * intermediate, hidden] matrix, so a layer runs 4 GEMMs instead of 7.
//
// Upload streams each tensor from the memory-mapped checkpoint through two pinned staging
// buffers (one filling while the other copies), converting f16/f32 checkpoints to bf16 on the
// way, with a progress bar.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "kernels/cuda/device_buffer.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace kiln::cuda {

struct CudaLayerWeights {
  const __nv_bfloat16* input_layernorm = nullptr;           // [hidden]
  const __nv_bfloat16* qkv_proj = nullptr;                  // [q + 2 kv, hidden]
  const __nv_bfloat16* qkv_bias = nullptr;                  // [q + 2 kv] or null
  const __nv_bfloat16* o_proj = nullptr;                    // [hidden, q]
  const __nv_bfloat16* post_attention_layernorm = nullptr;  // [hidden]
  const __nv_bfloat16* gate_up_proj = nullptr;              // [2 * intermediate, hidden]
  const __nv_bfloat16* down_proj = nullptr;                 // [hidden, intermediate]
};

struct CudaWeights {
  DeviceBuffer storage;
  const __nv_bfloat16* embed_tokens = nullptr;  // [vocab, hidden]
  std::vector<CudaLayerWeights> layers;
  const __nv_bfloat16* norm = nullptr;     // [hidden]
  const __nv_bfloat16* lm_head = nullptr;  // [vocab, hidden]; embed_tokens when tied
  int64_t size_bytes = 0;
};

// Errors: out of GPU memory (with the size needed), unsupported dtype (names the tensor).
Result<CudaWeights> upload_weights(const ModelConfig& config, const ModelWeights& weights,
                                   cudaStream_t stream);

}  // namespace kiln::cuda
