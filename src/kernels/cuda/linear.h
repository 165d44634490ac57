// Linear layers on the GPU: y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]), bf16 in and out,
// f32 accumulation; w has HF's layout [out_features, in_features]. The CPU twin is
// kiln::cpu::matmul (kernels/cpu) with f32 activations.
//
// Decode steps have few rows (m <= kSkinnyMaxRows): the product is bound by reading w once, and
// cuBLAS reaches only ~63% of the H200's bandwidth at m = 1, so our skinny kernel streams w with
// 16-byte loads. Larger m goes to cuBLASLt, whose algorithm is chosen once per shape.
//
// FP8 weights (LinearWeight::fp8, kernels/cuda/fp8_linear_cuda.h) take the skinny FP8 kernel at
// decode sizes, cuBLASLt's scaled FP8 GEMM above (Hopper), and weight-only layers or shapes that
// GEMM lacks a dequantization into a bf16 scratch and the bf16 GEMM.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "base/status.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/fp8_linear_cuda.h"

namespace kiln::cuda {

inline constexpr int kSkinnyMaxRows = 8;
// Below this many rows Linear::run uses the skinny kernel; measured crossover on the H200
// (bench/cuda/NOTES.md): at m >= 4 cuBLASLt is faster on every 8B shape.
inline constexpr int kSkinnyDispatchMaxRows = 2;

// The skinny kernel alone (m in 1..kSkinnyMaxRows; k a multiple of 8).
void skinny_linear(const __nv_bfloat16* x,     // [m, k]
                   const __nv_bfloat16* w,     // [n, k]
                   const __nv_bfloat16* bias,  // [n] or nullptr
                   __nv_bfloat16* y,           // [m, n]
                   int m, int n, int k, cudaStream_t stream);

// The skinny kernel over a fused [gate; up] weight of 2n rows, with SwiGLU in its epilogue:
// y[m, n] = silu(x . gate^T) * (x . up^T), bitwise what skinny_linear then silu_and_mul give.
// Saves a kernel and the [m, 2n] round trip per MLP at decode.
void skinny_linear_silu_mul(const __nv_bfloat16* x,        // [m, k]
                            const __nv_bfloat16* gate_up,  // [2n, k]
                            __nv_bfloat16* y,              // [m, n]
                            int m, int n, int k, cudaStream_t stream);

// One tiling of the skinny kernel, for bench/cuda/kernel_lab to compare: rows_per_block 2, 4 or
// 8 with unroll 1 or 2 (and 2 x 4), m 1, 2, 4 or 8, no bias. False when that tiling is not built.
bool skinny_linear_variant(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int n, int k,
                           int rows_per_block, int unroll, cudaStream_t stream);

// cuBLASLt GEMMs with a per-shape algorithm cache. One per CudaContext; not thread-safe (the
// engine thread owns it).
class CublasLtLinear {
 public:
  explicit CublasLtLinear(const CudaContext& context) : context_(context) {}
  ~CublasLtLinear();
  CublasLtLinear(const CublasLtLinear&) = delete;
  CublasLtLinear& operator=(const CublasLtLinear&) = delete;

  void run(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
           __nv_bfloat16* y, int m, int n, int k);

  // For bench/cuda/kernel_lab: the algorithms cuBLASLt's heuristic offers for a shape without
  // bias (run uses the first), and a run with the index-th.
  int algorithm_count(int m, int n, int k);
  void run_with_algorithm(int index, const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int n,
                          int k);

 private:
  struct Plan;
  Plan& plan_for(int m, int n, int k, bool has_bias);

  const CudaContext& context_;
  std::map<std::tuple<int, int, int, bool>, Plan*> plans_;
};

// Below this many rows FP8 layers run the skinny FP8 kernel. Not yet measured against cuBLASLt's
// FP8 GEMM (kernel_lab --fp8 does): the CUDA-core kernel's f32 multiply-adds grow with m while
// the bytes stay, so the crossover is expected between 4 and 16.
inline constexpr int kFp8SkinnyDispatchMaxRows = 4;

// A linear layer's weight on the device: bf16, or FP8 codes with their scales.
struct LinearWeight {
  const __nv_bfloat16* dense = nullptr;  // [n, k] bf16, when not FP8
  Fp8Weight fp8;                         // device pointers; an FP8 layer when fp8.weight is set

  bool is_fp8() const { return !fp8.empty(); }
};

// Chooses the skinny kernel or cuBLASLt by m, and the FP8 path of FP8 weights.
class Linear {
 public:
  explicit Linear(const CudaContext& context) : context_(context), cublaslt_(context), cublaslt_fp8_(context) {}
  void run(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
           __nv_bfloat16* y, int m, int n, int k) {
    if (uses_skinny(m, k)) {
      skinny_linear(x, w, bias, y, m, n, k, context_.stream());
    } else {
      cublaslt_.run(x, w, bias, y, m, n, k);
    }
  }
  // y[m, n] = x[m, k] . w^T (+ bias) for a bf16 or FP8 weight.
  void run(const __nv_bfloat16* x, const LinearWeight& w, const __nv_bfloat16* bias, __nv_bfloat16* y, int m, int n,
           int k);
  // Whether run_silu_mul computes the MLP's gate/up projection and SwiGLU in one kernel for m rows.
  bool fuses_silu_mul(const LinearWeight& gate_up, int m, int k) const;
  // y[m, inter] = silu(x . gate^T) * (x . up^T) over a fused [gate; up] weight of 2 * inter rows;
  // only where fuses_silu_mul says so.
  void run_silu_mul(const __nv_bfloat16* x, const LinearWeight& gate_up, __nv_bfloat16* y, int m, int inter, int k);

  // Sizes the FP8 paths' scratch for steps of up to max_rows rows over `weights` (the model's
  // FP8 layers): quantized activations and their scales, and a bf16 copy of the largest weight
  // that runs weight-only at cuBLASLt sizes. Call before the memory plan's profile.
  Status reserve_fp8(const std::vector<Fp8Weight>& weights, int max_rows);
  size_t fp8_scratch_bytes() const;

  static bool uses_skinny(int m, int k) { return m <= kSkinnyDispatchMaxRows && k % 8 == 0; }
  CublasLtLinear& cublaslt() { return cublaslt_; }
  CublasLtFp8Linear& cublaslt_fp8() { return cublaslt_fp8_; }

 private:
  void run_fp8(const __nv_bfloat16* x, const Fp8Weight& w, const __nv_bfloat16* bias, __nv_bfloat16* y, int m);

  const CudaContext& context_;
  CublasLtLinear cublaslt_;
  CublasLtFp8Linear cublaslt_fp8_;
  int fp8_max_rows_ = 0;
  DeviceBuffer fp8_activations_;  // [max_rows, max_k] codes
  DeviceBuffer fp8_scales_;       // [max_rows * ceil(max_k/128)] f32
  DeviceBuffer fp8_dequantized_;  // [largest weight-only n * k] bf16
};

}  // namespace kiln::cuda
