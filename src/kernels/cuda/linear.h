// Linear layers on the GPU: y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]), bf16 in and out,
// f32 accumulation; w has HF's layout [out_features, in_features]. The CPU twin is
// kiln::cpu::matmul (kernels/cpu) with f32 activations.
//
// Decode steps have few rows (m <= kSkinnyMaxRows): the product is bound by reading w once, and
// cuBLAS reaches only ~63% of the H200's bandwidth at m = 1, so our skinny kernel streams w with
// 16-byte loads. Larger m goes to cuBLASLt, whose algorithm is chosen once per shape.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "kernels/cuda/cuda_context.h"

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

// Chooses the skinny kernel or cuBLASLt by m.
class Linear {
 public:
  explicit Linear(const CudaContext& context) : context_(context), cublaslt_(context) {}
  void run(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
           __nv_bfloat16* y, int m, int n, int k) {
    if (uses_skinny(m, k)) {
      skinny_linear(x, w, bias, y, m, n, k, context_.stream());
    } else {
      cublaslt_.run(x, w, bias, y, m, n, k);
    }
  }
  static bool uses_skinny(int m, int k) { return m <= kSkinnyDispatchMaxRows && k % 8 == 0; }
  CublasLtLinear& cublaslt() { return cublaslt_; }

 private:
  const CudaContext& context_;
  CublasLtLinear cublaslt_;
};

}  // namespace kiln::cuda
