// The FP8 tensors `kiln synth` writes for a quantized config: a matrix's values are the ones the
// unquantized synth would write (the same normal stream, rounded to the checkpoint's dtype), and
// its codes are those values quantized with scales from their absmax, per channel, per tensor or
// per 128 x 128 block. Each scale is rounded to the dtype its tensor is stored in before the
// codes use it, so that code x stored scale is what a reader dequantizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/quant/quantization_config.h"
#include "tensor/dtype.h"

namespace kiln {

struct SynthFp8Matrix {
  uint64_t key = 0;       // the tensor's normal stream (weight_rng.h)
  double stddev = 0;
  int64_t rows = 0;       // [rows, cols]: HF's [out_features, in_features]
  int64_t cols = 0;
  DType value_dtype = DType::kBF16;  // the unquantized values' dtype
  WeightScaleKind scale_kind = WeightScaleKind::kChannel;
  int block_size = 128;   // kBlock: rows and columns per block
  std::vector<float> scales;  // as stored, widened: [rows], [1] or [ceil(rows/128), ceil(cols/128)]

  // Codes of elements [first, first + count) (row-major) into out.
  void quantize(uint64_t first, size_t count, uint8_t* out) const;
};

// Computes the scales of one matrix (a pass over its values on `num_threads` threads).
SynthFp8Matrix plan_synth_fp8_matrix(uint64_t key, double stddev, int64_t rows, int64_t cols, DType value_dtype,
                                     const QuantizationConfig& quantization, DType scale_dtype, int num_threads);

// The static activation scale synth writes for every quantized linear with static activations:
// room for activations up to 8 in magnitude (RMSNorm outputs of random models stay below).
inline constexpr float kSynthInputScale = 8.0f / kFp8E4M3Max;

// The k_scale and v_scale synth writes for a config with a kv_cache_scheme: keys and values up to
// 16 in magnitude (the projections of random models stay below) keep to the E4M3 range.
inline constexpr float kSynthKvCacheScale = 16.0f / kFp8E4M3Max;

}  // namespace kiln
