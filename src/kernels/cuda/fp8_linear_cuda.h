// The CUDA twins of the FP8 kernels of kernels/fp8_linear.h: the same arguments with bf16
// activations (device pointers) and a stream; Fp8Weight's pointers are device pointers. The
// activation quantizer gives the CPU twin's codes and scales bit for bit (IEEE division,
// cvt.rn.satfinite); products and sums are in f32 as there, in another order.
//
// Which path a layer takes (Linear in linear.h decides): decode-sized batches run
// fp8_skinny_linear, which quantizes the activations itself; larger ones quantize with
// quantize_activations_fp8 and run cuBLASLt's FP8 GEMM with per-channel x per-token scales
// (outer-vector scaling) or 128 x 128 x 1 x 128 block scaling (CublasLtFp8Linear), both Hopper
// features; weight-only layers (Ampere, Ada, shapes cuBLASLt's FP8 GEMM does not take) dequantize
// into a bf16 scratch for the bf16 GEMM. The weight's `activation` field picks W8A8 or W8A16.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "kernels/cuda/cuda_context.h"
#include "kernels/fp8_linear.h"

namespace kiln::cuda {

// Rows the skinny FP8 kernel takes (decode of up to 16 sequences).
inline constexpr int kFp8SkinnyMaxRows = 16;

// As cpu::quantize_activations_fp8: codes q[m, k] and scales (kDynamicPerToken and
// kStaticPerTensor: [m]; kDynamicPerTokenGroup: [ceil(k/128), m]). k % 8 == 0.
void quantize_activations_fp8(const __nv_bfloat16* x /*[m, k]*/, int m, int k, Fp8ActivationQuant quant,
                              const float* input_scale, uint8_t* q /*[m, k]*/, float* scales, cudaStream_t stream);

// As cpu::fp8_linear for m in 1..kFp8SkinnyMaxRows: streams the FP8 weight once with 16-byte
// loads (requested before the programmatic-launch wait, as skinny_linear does), quantizing each
// row of x as w.activation says inside the kernel (the block reduces a row's absmax from the
// chunks its threads read anyway). k % 16 == 0. bias: [n] or nullptr.
void fp8_skinny_linear(const __nv_bfloat16* x /*[m, k]*/, int m, const Fp8Weight& w, const __nv_bfloat16* bias,
                       __nv_bfloat16* y /*[m, n]*/, cudaStream_t stream);

// The same over a fused [gate; up] FP8 weight of 2 * inter rows (gate_up.n = 2 * inter), with
// SwiGLU in the epilogue: y = silu(x . gate^T) * (x . up^T), rounded as fp8_skinny_linear then
// silu_and_mul round, so both paths give the same bits.
void fp8_skinny_linear_silu_mul(const __nv_bfloat16* x /*[m, k]*/, int m, const Fp8Weight& gate_up,
                                __nv_bfloat16* y /*[m, inter]*/, cudaStream_t stream);

// As cpu::quantize_weight_rows_fp8 over bf16 rows (online FP8 at load). k % 8 == 0.
void quantize_weight_rows_fp8(const __nv_bfloat16* w /*[n, k]*/, int n, int k, uint8_t* q /*[n, k]*/,
                              float* scales /*[n]*/, cudaStream_t stream);

// As cpu::dequantize_fp8_weight, rounded to bf16 (the weight-only GEMM's operand). k % 8 == 0.
void dequantize_fp8_weight(const Fp8Weight& w, __nv_bfloat16* out /*[n, k]*/, cudaStream_t stream);

// y[t, j] = bf16(y[t, j] + bias[j]) (bias of FP8 GEMMs, which cuBLASLt's scaled modes run without).
void add_bias(__nv_bfloat16* y /*[m, n]*/, const __nv_bfloat16* bias /*[n]*/, int m, int n, cudaStream_t stream);

// cuBLASLt's FP8 GEMM, y = (codes x codes) scaled per channel and token or per block, bf16 out,
// f32 accumulation, with a per-shape plan. One per CudaContext; not thread-safe.
class CublasLtFp8Linear {
 public:
  explicit CublasLtFp8Linear(const CudaContext& context) : context_(context) {}
  ~CublasLtFp8Linear();
  CublasLtFp8Linear(const CublasLtFp8Linear&) = delete;
  CublasLtFp8Linear& operator=(const CublasLtFp8Linear&) = delete;

  // Whether cuBLASLt on this device runs the shape: the scaling modes need Hopper (sm_90), block
  // scaling here also n % 128 == 0 and k % 512 == 0 (whole 128-blocks and scale rows a
  // multiple of 4, so no layout padding question arises). Decided once per shape.
  bool supports(int m, int n, int k, Fp8WeightScaling scaling);

  // xq: codes of x [m, k]; x_scales as quantize_activations_fp8 writes them for the weight's
  // scaling (per token [m] with per-channel weights; [ceil(k/128), m] with blocks).
  void run(const uint8_t* xq, const float* x_scales, const Fp8Weight& w, __nv_bfloat16* y, int m);

 private:
  struct Plan;
  Plan* plan_for(int m, int n, int k, Fp8WeightScaling scaling);

  const CudaContext& context_;
  std::map<std::tuple<int, int, int, int>, Plan*> plans_;  // null: no algorithm for the shape
};

}  // namespace kiln::cuda
