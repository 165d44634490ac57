// The model's weights on the GPU, in one allocation, with the projections that run together
// fused: q|k|v rows into one [q + 2 kv, hidden] matrix (and their biases), gate|up rows into one
// [2 * intermediate, hidden] matrix, so a layer runs 4 GEMMs instead of 7.
//
// Linears are bf16, or FP8 (LinearWeight, kernels/cuda/linear.h) where config.quantization says:
// an FP8 checkpoint's codes are copied as they are with their scales widened to f32 per row (or
// per block; fused projections' scales concatenate, so a per-tensor checkpoint becomes per row);
// online FP8 (--quantization fp8) uploads the bf16 rows and quantizes them on the GPU
// (quantize_weight_rows_fp8), so loading costs what bf16 loading costs.
//
// Upload streams each tensor from the memory-mapped checkpoint through two pinned staging
// buffers (one filling while the other copies), converting f16/f32 checkpoints to bf16 on the
// way, with a progress bar.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/linear.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace kiln::cuda {

struct CudaLayerWeights {
  const __nv_bfloat16* input_layernorm = nullptr;           // [hidden]
  LinearWeight qkv_proj;                                    // [q + 2 kv, hidden]
  const __nv_bfloat16* qkv_bias = nullptr;                  // [q + 2 kv] or null
  LinearWeight o_proj;                                      // [hidden, q]
  const __nv_bfloat16* post_attention_layernorm = nullptr;  // [hidden]
  LinearWeight gate_up_proj;                                // [2 * intermediate, hidden]
  LinearWeight down_proj;                                   // [hidden, intermediate]
};

struct CudaWeights {
  DeviceBuffer storage;
  const __nv_bfloat16* embed_tokens = nullptr;  // [vocab, hidden]
  std::vector<CudaLayerWeights> layers;
  const __nv_bfloat16* norm = nullptr;  // [hidden]
  LinearWeight lm_head;                 // [vocab, hidden]; embed_tokens when tied
  int64_t size_bytes = 0;

  // Every FP8 linear (for Linear::reserve_fp8).
  std::vector<Fp8Weight> fp8_linears() const;
};

struct WeightUploadOptions {
  // FP8 linears run weight-only (W8A16: bf16 activations), as GPUs without FP8 tensor cores
  // must; the checkpoint's activation scheme is then ignored.
  bool fp8_weight_only = false;
  // The progress bar's label, and whether it draws (tensor-parallel ranks load side by side: one
  // bar, rank 0's, stands for them all).
  std::string progress_label = "Loading weights to GPU";
  bool show_progress = true;
};

// Errors: out of GPU memory (with the size needed), unsupported dtype or scale (names the
// tensor), fused projections that cannot share one FP8 layout.
Result<CudaWeights> upload_weights(const ModelConfig& config, const ModelWeights& weights, cudaStream_t stream,
                                   const WeightUploadOptions& options = {});

}  // namespace kiln::cuda
