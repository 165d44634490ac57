#include "dist/rank_order_sum.h"

#include "tensor/dtype.h"

namespace kiln::dist {

void rank_order_sum(const float* const* inputs, int num_inputs, size_t begin, size_t end, float* out) {
  for (size_t i = begin; i < end; ++i) {
    float sum = inputs[0][i];
    for (int r = 1; r < num_inputs; ++r) sum += inputs[r][i];
    out[i] = sum;
  }
}

void rank_order_sum_bf16(const uint16_t* const* inputs, int num_inputs, size_t begin, size_t end, uint16_t* out) {
  for (size_t i = begin; i < end; ++i) {
    float sum = bf16_to_f32(inputs[0][i]);
    for (int r = 1; r < num_inputs; ++r) sum += bf16_to_f32(inputs[r][i]);
    out[i] = f32_to_bf16(sum);
  }
}

}  // namespace kiln::dist
