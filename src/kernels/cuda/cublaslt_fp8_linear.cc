// cuBLASLt's FP8 GEMM with the scaling modes of CUDA 12.9+ on Hopper: outer-vector scaling (one
// f32 per row of A and per column of B) for per-channel weights x per-token activations, and
// 128 x 128 block scaling of A with 1 x 128 scaling of B for the block format.
//
// As CublasLtLinear (cublaslt_linear.cc), row-major y[m, n] = x . w^T is the column-major "TN"
// GEMM D[n, m] = A^T B with A = w (k x n, op T) and B = xq (k x m, op N). So A's scales are the
// weight's (per channel: [n]; blocks: [ceil(n/128), ceil(k/128)], K-blocks contiguous) and B's
// the activations' (per token: [m]; 1 x 128: [ceil(k/128), m], tokens contiguous), the layouts
// PyTorch's _scaled_mm hands cuBLASLt for rowwise and blockwise scaling. Shapes the heuristic
// has no algorithm for are remembered, and Linear runs them weight-only instead.
#include <vector>

#include "base/check.h"
#include "base/log.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/fp8_linear_cuda.h"

namespace kiln::cuda {

struct CublasLtFp8Linear::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

CublasLtFp8Linear::~CublasLtFp8Linear() {
  for (auto& [key, plan] : plans_) {
    if (!plan) continue;
    cublasLtMatrixLayoutDestroy(plan->a);
    cublasLtMatrixLayoutDestroy(plan->b);
    cublasLtMatrixLayoutDestroy(plan->d);
    cublasLtMatmulDescDestroy(plan->desc);
    delete plan;
  }
}

CublasLtFp8Linear::Plan* CublasLtFp8Linear::plan_for(int m, int n, int k, Fp8WeightScaling scaling) {
  const auto key = std::make_tuple(m, n, k, static_cast<int>(scaling));
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  const bool blocks = scaling == Fp8WeightScaling::kBlock;
  if (context_.info().compute_capability < 90 || k % 16 != 0 ||
      (blocks && (n % kFp8GroupSize != 0 || k % (4 * kFp8GroupSize) != 0))) {
    plans_.emplace(key, nullptr);
    return nullptr;
  }
  auto* plan = new Plan();
  KILN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof(no_transpose)));
  const cublasLtMatmulMatrixScale_t a_mode =
      blocks ? CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F : CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
  const cublasLtMatmulMatrixScale_t b_mode =
      blocks ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F : CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &a_mode, sizeof(a_mode)));
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &b_mode, sizeof(b_mode)));
  // The heuristic looks at the scale pointers' presence; real ones are set per run.
  const void* placeholder = context_.workspace();
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &placeholder, sizeof(placeholder)));
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &placeholder, sizeof(placeholder)));
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_8F_E4M3, k, n, k));
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_8F_E4M3, k, m, k));
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, CUDA_R_16BF, n, m, n));

  cublasLtMatmulPreference_t preference = nullptr;
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const size_t workspace_bytes = context_.workspace_bytes();
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &workspace_bytes, sizeof(workspace_bytes)));
  cublasLtMatmulHeuristicResult_t heuristic = {};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(context_.cublaslt(), plan->desc, plan->a, plan->b,
                                                               plan->d, plan->d, preference, 1, &heuristic, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0 || heuristic.state != CUBLAS_STATUS_SUCCESS) {
    KILN_LOG(Info) << "cuBLASLt has no FP8 " << (blocks ? "block-scaled" : "channel-scaled") << " GEMM for m=" << m
                   << " n=" << n << " k=" << k << "; that shape runs weight-only (bf16 GEMM)";
    cublasLtMatrixLayoutDestroy(plan->a);
    cublasLtMatrixLayoutDestroy(plan->b);
    cublasLtMatrixLayoutDestroy(plan->d);
    cublasLtMatmulDescDestroy(plan->desc);
    delete plan;
    plans_.emplace(key, nullptr);
    return nullptr;
  }
  plan->algo = heuristic.algo;
  plans_.emplace(key, plan);
  return plan;
}

bool CublasLtFp8Linear::supports(int m, int n, int k, Fp8WeightScaling scaling) {
  return plan_for(m, n, k, scaling) != nullptr;
}

void CublasLtFp8Linear::run(const uint8_t* xq, const float* x_scales, const Fp8Weight& w, __nv_bfloat16* y, int m) {
  Plan* plan = plan_for(m, w.n, w.k, w.weight_scaling);
  KILN_CHECK(plan != nullptr) << "CublasLtFp8Linear::run without a plan for m=" << m << " n=" << w.n << " k=" << w.k;
  const void* a_scale = w.weight_scale;
  const void* b_scale = x_scales;
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof(a_scale)));
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof(b_scale)));
  const float alpha = 1.0f, beta = 0.0f;
  KILN_CUBLAS_CHECK(cublasLtMatmul(context_.cublaslt(), plan->desc, &alpha, w.weight, plan->a, xq, plan->b, &beta, y,
                                   plan->d, y, plan->d, &plan->algo, context_.workspace(), context_.workspace_bytes(),
                                   context_.stream()));
}

}  // namespace kiln::cuda
