// Helpers for the CPU kernel tests: random inputs (never zeros), weights in each dtype with
// their exact f32 values for the double-precision references, and a context per ISA.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace kiln::cpu::testing {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = dist(rng);
    } while (x == 0.0f);
  }
  return v;
}

// A weight tensor in `dtype` and the f32 values it holds exactly.
struct TestWeight {
  std::vector<float> f32;      // exact values
  std::vector<uint16_t> bits;  // storage for bf16/f16
  TensorView view;
};

inline TestWeight make_weight(std::vector<int64_t> shape, DType dtype, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  TestWeight w;
  w.f32 = random_floats(static_cast<size_t>(n), seed);
  if (dtype != DType::kF32) {
    w.bits.resize(w.f32.size());
    for (size_t i = 0; i < w.f32.size(); ++i) {
      w.bits[i] = dtype == DType::kBF16 ? f32_to_bf16(w.f32[i]) : f32_to_f16(w.f32[i]);
      w.f32[i] = dtype == DType::kBF16 ? bf16_to_f32(w.bits[i]) : f16_to_f32(w.bits[i]);
    }
    w.view.data = w.bits.data();
  } else {
    w.view.data = w.f32.data();
  }
  w.view.dtype = dtype;
  w.view.shape = std::move(shape);
  return w;
}

// Both code paths where the CPU has AVX2; the scalar one everywhere.
inline std::vector<Isa> isas_to_test() {
  std::vector<Isa> isas = {Isa::kScalar};
  if (detect_isa() == Isa::kAvx2) isas.push_back(Isa::kAvx2);
  return isas;
}

}  // namespace kiln::cpu::testing
