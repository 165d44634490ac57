#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace kiln {
namespace {

// HF _compute_default_rope_parameters: 1 / base^(arange(0, dim, 2) / dim), all float32.
std::vector<float> default_inv_freq(double theta, int dim) {
  std::vector<float> inv_freq(static_cast<size_t>(dim / 2));
  for (int i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  return inv_freq;
}

// HF _compute_llama3_parameters, elementwise in float32.
void apply_llama3(const RopeScaling& s, std::vector<float>* inv_freq) {
  const float factor = static_cast<float>(s.factor);
  const float low = static_cast<float>(s.low_freq_factor);
  const float high = static_cast<float>(s.high_freq_factor);
  const float old_context = static_cast<float>(s.original_max_position_embeddings);
  const float low_freq_wavelen = old_context / low;
  const float high_freq_wavelen = old_context / high;
  for (float& f : *inv_freq) {
    const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / f;
    float llama = wavelen > low_freq_wavelen ? f / factor : f;
    const float smooth = (old_context / wavelen - low) / (high - low);
    const float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
    const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    if (medium) llama = smoothed;
    f = llama;
  }
}

// HF _compute_yarn_parameters (no mscale/mscale_all_dim; truncate = true).
float apply_yarn(const RopeScaling& s, double theta, int dim, int max_position_embeddings,
                 std::vector<float>* inv_freq) {
  const double factor = s.factor;
  const int original = s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings
                                                              : max_position_embeddings;
  const float attention =
      s.attention_factor ? static_cast<float>(*s.attention_factor)
                         : static_cast<float>(factor <= 1 ? 1.0 : 0.1 * std::log(factor) + 1.0);
  auto correction_dim = [&](double rotations) {
    return (dim * std::log(original / (rotations * 2 * std::numbers::pi))) / (2 * std::log(theta));
  };
  double low = std::max(std::floor(correction_dim(s.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(s.beta_slow)), static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  for (int i = 0; i < dim / 2; ++i) {
    const float pos_freq =
        std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / static_cast<float>(dim));
    const float extrapolation = 1.0f / pos_freq;
    const float interpolation = 1.0f / (static_cast<float>(factor) * pos_freq);
    const float ramp = std::clamp(
        (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low), 0.0f,
        1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    (*inv_freq)[static_cast<size_t>(i)] =
        interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
  return attention;
}

}  // namespace

Result<RopeParameters> compute_rope_parameters(const ModelConfig& config) {
  const int dim = config.head_dim;
  if (dim <= 0 || dim % 2 != 0) {
    return Status::error("config.json: head_dim " + std::to_string(dim) +
                         " must be positive and even for rotary embeddings");
  }
  if (config.rope_theta <= 0) return Status::error("config.json: rope_theta must be positive");
  const RopeScaling& s = config.rope_scaling;
  RopeParameters params;
  params.inv_freq = default_inv_freq(config.rope_theta, dim);
  if (s.type != RopeType::kDefault && s.factor <= 0) {
    return Status::error("config.json: rope_scaling.factor must be positive");
  }
  switch (s.type) {
    case RopeType::kDefault:
      break;
    case RopeType::kLinear:
      for (float& f : params.inv_freq) f /= static_cast<float>(s.factor);
      break;
    case RopeType::kLlama3:
      if (s.original_max_position_embeddings <= 0) {
        return Status::error(
            "config.json: rope_scaling of type llama3 needs original_max_position_embeddings");
      }
      if (s.high_freq_factor <= s.low_freq_factor) {
        return Status::error(
            "config.json: rope_scaling.high_freq_factor must exceed low_freq_factor");
      }
      apply_llama3(s, &params.inv_freq);
      break;
    case RopeType::kYarn:
      params.attention_scaling =
          apply_yarn(s, config.rope_theta, dim, config.max_position_embeddings, &params.inv_freq);
      break;
  }
  return params;
}

RopeTable::RopeTable(RopeParameters params, int head_dim)
    : params_(std::move(params)), head_dim_(head_dim) {}

void RopeTable::reserve(int num_positions) {
  if (num_positions <= num_positions_) return;
  int grown = std::max(num_positions_, 256);
  while (grown < num_positions) grown *= 2;
  const int half = head_dim_ / 2;
  table_.resize(static_cast<size_t>(grown) * head_dim_);
  for (int p = num_positions_; p < grown; ++p) {
    float* row = table_.data() + static_cast<size_t>(p) * head_dim_;
    for (int i = 0; i < half; ++i) {
      // HF: freqs = inv_freq.float() @ position.float() (one f32 product), then cos/sin of it.
      const float angle = params_.inv_freq[static_cast<size_t>(i)] * static_cast<float>(p);
      row[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * params_.attention_scaling;
      row[half + i] =
          static_cast<float>(std::sin(static_cast<double>(angle))) * params_.attention_scaling;
    }
  }
  num_positions_ = grown;
}

}  // namespace kiln
