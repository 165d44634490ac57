#include "model/quant/synth_fp8.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "base/check.h"
#include "kernels/fp8_linear.h"
#include "model/weight_rng.h"

namespace kiln {
namespace {

float round_to(float value, DType dtype) {
  switch (dtype) {
    case DType::kBF16: return bf16_to_f32(f32_to_bf16(value));
    case DType::kF16: return f16_to_f32(f32_to_f16(value));
    default: return value;
  }
}

// Runs fn(begin, end) over [0, count) split in `num_threads` contiguous ranges.
template <typename Fn>
void parallel_ranges(int64_t count, int num_threads, const Fn& fn) {
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, count)));
  const int64_t per_thread = (count + threads - 1) / threads;
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) {
    const int64_t begin = std::min(count, per_thread * t), end = std::min(count, begin + per_thread);
    if (begin < end) workers.emplace_back(fn, begin, end);
  }
  fn(int64_t{0}, std::min(count, per_thread));
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

SynthFp8Matrix plan_synth_fp8_matrix(uint64_t key, double stddev, int64_t rows, int64_t cols, DType value_dtype,
                                     const QuantizationConfig& quantization, DType scale_dtype, int num_threads) {
  SynthFp8Matrix matrix;
  matrix.key = key;
  matrix.stddev = stddev;
  matrix.rows = rows;
  matrix.cols = cols;
  matrix.value_dtype = value_dtype;
  matrix.scale_kind = quantization.weight_scale;
  if (matrix.scale_kind == WeightScaleKind::kBlock) {
    KILN_CHECK(quantization.block_rows == quantization.block_cols) << "square blocks only";
    matrix.block_size = quantization.block_rows;
  }
  const int64_t b = matrix.block_size;
  const int64_t row_blocks = (rows + b - 1) / b, col_blocks = (cols + b - 1) / b;

  // Absmax per row (channel, tensor) or per block, computed over rows split between threads: a
  // block's rows stay on one thread.
  std::vector<float> absmax(matrix.scale_kind == WeightScaleKind::kBlock ? static_cast<size_t>(row_blocks * col_blocks)
                                                                         : static_cast<size_t>(rows),
                            0.0f);
  const int64_t units = matrix.scale_kind == WeightScaleKind::kBlock ? row_blocks : rows;
  parallel_ranges(units, num_threads, [&](int64_t begin, int64_t end) {
    std::vector<float> values(static_cast<size_t>(cols));
    const int64_t first_row = matrix.scale_kind == WeightScaleKind::kBlock ? begin * b : begin;
    const int64_t last_row = matrix.scale_kind == WeightScaleKind::kBlock ? std::min(rows, end * b) : end;
    for (int64_t r = first_row; r < last_row; ++r) {
      fill_normal(key, static_cast<uint64_t>(r * cols), static_cast<size_t>(cols), 0.0, stddev, values.data());
      for (int64_t c = 0; c < cols; ++c) {
        const float magnitude = std::fabs(round_to(values[static_cast<size_t>(c)], value_dtype));
        float& slot = matrix.scale_kind == WeightScaleKind::kBlock
                          ? absmax[static_cast<size_t>((r / b) * col_blocks + c / b)]
                          : absmax[static_cast<size_t>(r)];
        slot = std::max(slot, magnitude);
      }
    }
  });
  if (matrix.scale_kind == WeightScaleKind::kTensor) {
    absmax = {*std::max_element(absmax.begin(), absmax.end())};
  }
  matrix.scales.resize(absmax.size());
  for (size_t i = 0; i < absmax.size(); ++i) matrix.scales[i] = round_to(fp8_scale_for_absmax(absmax[i]), scale_dtype);
  return matrix;
}

void SynthFp8Matrix::quantize(uint64_t first, size_t count, uint8_t* out) const {
  constexpr size_t kBatch = 4096;
  float values[kBatch];
  const int64_t col_blocks = (cols + block_size - 1) / block_size;
  for (size_t done = 0; done < count; done += kBatch) {
    const size_t n = std::min(kBatch, count - done);
    fill_normal(key, first + done, n, 0.0, stddev, values);
    for (size_t i = 0; i < n; ++i) {
      const int64_t index = static_cast<int64_t>(first + done + i);
      const int64_t r = index / cols, c = index % cols;
      const float scale = scale_kind == WeightScaleKind::kTensor  ? scales[0]
                          : scale_kind == WeightScaleKind::kChannel ? scales[static_cast<size_t>(r)]
                                                                    : scales[static_cast<size_t>(
                                                                          (r / block_size) * col_blocks + c / block_size)];
      out[done + i] = fp8_quantize(round_to(values[i], value_dtype), scale);
    }
  }
}

}  // namespace kiln
