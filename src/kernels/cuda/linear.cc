#include "kernels/cuda/linear.h"

#include <algorithm>

#include "base/check.h"
#include "base/log.h"

namespace kiln::cuda {

void Linear::run(const __nv_bfloat16* x, const LinearWeight& w, const __nv_bfloat16* bias, __nv_bfloat16* y, int m,
                 int n, int k) {
  if (!w.is_fp8()) return run(x, w.dense, bias, y, m, n, k);
  KILN_CHECK(w.fp8.n == n && w.fp8.k == k) << "Linear: FP8 weight [" << w.fp8.n << ", " << w.fp8.k << "] for n=" << n
                                           << " k=" << k;
  run_fp8(x, w.fp8, bias, y, m);
}

void Linear::run_fp8(const __nv_bfloat16* x, const Fp8Weight& w, const __nv_bfloat16* bias, __nv_bfloat16* y, int m) {
  if (m <= 0) return;
  cudaStream_t stream = context_.stream();
  const bool skinny_shape = w.k % 16 == 0;
  if (m <= kFp8SkinnyDispatchMaxRows && skinny_shape) return fp8_skinny_linear(x, m, w, bias, y, stream);
  const bool fits = m <= fp8_max_rows_;
  if (w.activation != Fp8ActivationQuant::kNone && fits && cublaslt_fp8_.supports(m, w.n, w.k, w.weight_scaling)) {
    auto* codes = fp8_activations_.as<uint8_t>();
    auto* scales = fp8_scales_.as<float>();
    quantize_activations_fp8(x, m, w.k, w.activation, w.input_scale, codes, scales, stream);
    cublaslt_fp8_.run(codes, scales, w, y, m);
    if (bias) add_bias(y, bias, m, w.n, stream);
    return;
  }
  if (fp8_dequantized_.size_bytes() >= static_cast<size_t>(w.n) * w.k * 2) {
    auto* dequantized = fp8_dequantized_.as<__nv_bfloat16>();
    dequantize_fp8_weight(w, dequantized, stream);
    cublaslt_.run(x, dequantized, bias, y, m, w.n, w.k);
    return;
  }
  // No scratch for this shape (reserve_fp8 found cuBLASLt's FP8 GEMM for it at its largest m):
  // the skinny kernel, 16 rows at a time, is always there.
  KILN_CHECK(skinny_shape) << "Linear: no FP8 path for n=" << w.n << " k=" << w.k << " (k % 16 != 0)";
  for (int first = 0; first < m; first += kFp8SkinnyMaxRows) {
    const int rows = std::min(kFp8SkinnyMaxRows, m - first);
    fp8_skinny_linear(x + static_cast<size_t>(first) * w.k, rows, w, bias, y + static_cast<size_t>(first) * w.n,
                      stream);
  }
}

bool Linear::fuses_silu_mul(const LinearWeight& gate_up, int m, int k) const {
  if (gate_up.is_fp8()) return m <= kFp8SkinnyDispatchMaxRows && k % 16 == 0;
  return uses_skinny(m, k);
}

void Linear::run_silu_mul(const __nv_bfloat16* x, const LinearWeight& gate_up, __nv_bfloat16* y, int m, int inter,
                          int k) {
  KILN_CHECK(fuses_silu_mul(gate_up, m, k)) << "Linear::run_silu_mul for m=" << m << " k=" << k;
  if (gate_up.is_fp8()) {
    KILN_CHECK(gate_up.fp8.n == 2 * inter && gate_up.fp8.k == k) << "Linear::run_silu_mul: weight shape";
    fp8_skinny_linear_silu_mul(x, m, gate_up.fp8, y, context_.stream());
  } else {
    skinny_linear_silu_mul(x, gate_up.dense, y, m, inter, k, context_.stream());
  }
}

Status Linear::reserve_fp8(const std::vector<Fp8Weight>& weights, int max_rows) {
  int max_k = 0;
  size_t dequantized_elements = 0;
  for (const Fp8Weight& w : weights) {
    max_k = std::max(max_k, w.k);
    const bool w8a8 = w.activation != Fp8ActivationQuant::kNone &&
                      cublaslt_fp8_.supports(max_rows, w.n, w.k, w.weight_scaling);
    if (!w8a8 && max_rows > kFp8SkinnyDispatchMaxRows) {
      dequantized_elements = std::max(dequantized_elements, static_cast<size_t>(w.n) * w.k);
    }
  }
  fp8_max_rows_ = weights.empty() ? 0 : max_rows;
  if (weights.empty()) return ok_status();
  const size_t rows = static_cast<size_t>(max_rows);
  const size_t groups = static_cast<size_t>((max_k + kFp8GroupSize - 1) / kFp8GroupSize);
  KILN_ASSIGN_OR_RETURN(fp8_activations_, DeviceBuffer::try_allocate(std::max<size_t>(rows * max_k, 16)));
  KILN_ASSIGN_OR_RETURN(fp8_scales_, DeviceBuffer::try_allocate(std::max<size_t>(rows * groups, 1) * sizeof(float)));
  if (dequantized_elements > 0) {
    KILN_ASSIGN_OR_RETURN(fp8_dequantized_, DeviceBuffer::try_allocate(dequantized_elements * 2));
  } else {
    fp8_dequantized_.reset();
  }
  return ok_status();
}

size_t Linear::fp8_scratch_bytes() const {
  return fp8_activations_.size_bytes() + fp8_scales_.size_bytes() + fp8_dequantized_.size_bytes();
}

}  // namespace kiln::cuda
