#include <string>
#include <vector>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/linear.h"

namespace kiln::cuda {

// cuBLASLt is column-major. Row-major y[m, n] is column-major y^T [n, m] = w [n, k] x^T [k, m];
// row-major w [n, k] is column-major [k, n], so A = w with op T, B = x (column-major [k, m])
// with op N: the "TN" GEMM, with the bias broadcast along C's rows (its n dimension).
struct CublasLtLinear::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  std::vector<cublasLtMatmulAlgo_t> candidates;  // the heuristic's list, best first (algo = [0])
};

CublasLtLinear::~CublasLtLinear() {
  for (auto& [key, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan->a);
    cublasLtMatrixLayoutDestroy(plan->b);
    cublasLtMatrixLayoutDestroy(plan->c);
    cublasLtMatmulDescDestroy(plan->desc);
    delete plan;
  }
}

CublasLtLinear::Plan& CublasLtLinear::plan_for(int m, int n, int k, bool has_bias) {
  const auto key = std::make_tuple(m, n, k, has_bias);
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  auto* plan = new Plan();
  KILN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                   &transpose, sizeof(transpose)));
  KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                   &no_transpose, sizeof(no_transpose)));
  if (has_bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                     &epilogue, sizeof(epilogue)));
    const cudaDataType_t bias_type = CUDA_R_16BF;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
        plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
  }
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, k, n, k));
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, k, m, k));
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_16BF, n, m, n));

  cublasLtMatmulPreference_t preference = nullptr;
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  const size_t workspace_bytes = context_.workspace_bytes();
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes, sizeof(workspace_bytes)));
  constexpr int kMaxCandidates = 16;
  cublasLtMatmulHeuristicResult_t heuristics[kMaxCandidates] = {};
  int found = 0;
  KILN_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(context_.cublaslt(), plan->desc, plan->a, plan->b, plan->c,
                                                   plan->c, preference, kMaxCandidates, heuristics, &found));
  cublasLtMatmulPreferenceDestroy(preference);
  KILN_CHECK(found > 0) << "cuBLASLt has no algorithm for a bf16 GEMM of m=" << m << " n=" << n
                        << " k=" << k;
  for (int i = 0; i < found; ++i) {
    if (heuristics[i].state == CUBLAS_STATUS_SUCCESS) plan->candidates.push_back(heuristics[i].algo);
  }
  KILN_CHECK(!plan->candidates.empty()) << "cuBLASLt offers no usable algorithm for m=" << m << " n=" << n;
  plan->algo = plan->candidates.front();
  plans_.emplace(key, plan);
  return *plan;
}

int CublasLtLinear::algorithm_count(int m, int n, int k) {
  return static_cast<int>(plan_for(m, n, k, false).candidates.size());
}

void CublasLtLinear::run_with_algorithm(int index, const __nv_bfloat16* x, const __nv_bfloat16* w,
                                        __nv_bfloat16* y, int m, int n, int k) {
  Plan& plan = plan_for(m, n, k, false);
  KILN_CHECK(index >= 0 && index < static_cast<int>(plan.candidates.size())) << "no algorithm " << index;
  const float alpha = 1.0f, beta = 0.0f;
  KILN_CUBLAS_CHECK(cublasLtMatmul(context_.cublaslt(), plan.desc, &alpha, w, plan.a, x, plan.b, &beta, y, plan.c, y,
                                   plan.c, &plan.candidates[index], context_.workspace(), context_.workspace_bytes(),
                                   context_.stream()));
}

void CublasLtLinear::run(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                         __nv_bfloat16* y, int m, int n, int k) {
  Plan& plan = plan_for(m, n, k, bias != nullptr);
  if (bias) {
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &bias, sizeof(bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  KILN_CUBLAS_CHECK(cublasLtMatmul(context_.cublaslt(), plan.desc, &alpha, w, plan.a, x, plan.b, &beta,
                                   y, plan.c, y, plan.c, &plan.algo, context_.workspace(),
                                   context_.workspace_bytes(), context_.stream()));
}

}  // namespace kiln::cuda
