#include "model/cuda/cuda_weights.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "base/byte_size.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/progress_bar.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/fp8_linear_cuda.h"
#include "model/quant/fp8_scales.h"

namespace kiln::cuda {
namespace {

constexpr size_t kAlignment = 256;
constexpr size_t kStagingBytes = size_t{64} << 20;
// Online FP8: bf16 rows land here on the device before the quantization kernel reads them.
constexpr size_t kOnlineChunkBytes = size_t{64} << 20;

size_t align_up(size_t value) { return (value + kAlignment - 1) / kAlignment * kAlignment; }

// Two pinned buffers alternate: the host converts into one while the GPU copies out of the other.
class StagedUploader {
 public:
  StagedUploader(cudaStream_t stream, ProgressBar* progress) : stream_(stream), progress_(progress) {
    for (int i = 0; i < 2; ++i) {
      KILN_CUDA_CHECK(cudaMallocHost(&staging_[i], kStagingBytes));
      KILN_CUDA_CHECK(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
      KILN_CUDA_CHECK(cudaEventRecord(done_[i], stream_));
    }
  }
  ~StagedUploader() {
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int i = 0; i < 2; ++i) {
      cudaFreeHost(staging_[i]);
      cudaEventDestroy(done_[i]);
    }
  }

  // Copies `tensor` as bf16 to `target` (device).
  Status upload(const TensorView& tensor, __nv_bfloat16* target) {
    const size_t count = static_cast<size_t>(tensor.num_elements());
    const size_t element_bytes = dtype_size_bytes(tensor.dtype);
    const size_t chunk_elements = kStagingBytes / 2;
    for (size_t begin = 0; begin < count; begin += chunk_elements) {
      const size_t n = std::min(chunk_elements, count - begin);
      uint16_t* staging = static_cast<uint16_t*>(next_staging());
      const char* source = static_cast<const char*>(tensor.data) + begin * element_bytes;
      switch (tensor.dtype) {
        case DType::kBF16: std::memcpy(staging, source, n * 2); break;
        case DType::kF16: {
          const uint16_t* values = reinterpret_cast<const uint16_t*>(source);
          for (size_t i = 0; i < n; ++i) staging[i] = f32_to_bf16(f16_to_f32(values[i]));
          break;
        }
        case DType::kF32: {
          const float* values = reinterpret_cast<const float*>(source);
          for (size_t i = 0; i < n; ++i) staging[i] = f32_to_bf16(values[i]);
          break;
        }
        default:
          return Status::error("unsupported dtype " + std::string(dtype_name(tensor.dtype)) +
                               " for the CUDA backend");
      }
      copy_staged(target + begin, n * 2, static_cast<int64_t>(n * element_bytes));
    }
    return ok_status();
  }

  // Copies bytes as they are (FP8 codes, f32 scales).
  void upload_bytes(const void* source, size_t bytes, void* target, bool count_progress = true) {
    for (size_t begin = 0; begin < bytes; begin += kStagingBytes) {
      const size_t n = std::min(kStagingBytes, bytes - begin);
      std::memcpy(next_staging(), static_cast<const char*>(source) + begin, n);
      copy_staged(static_cast<char*>(target) + begin, n, count_progress ? static_cast<int64_t>(n) : 0);
    }
  }

 private:
  void* next_staging() {
    KILN_CUDA_CHECK(cudaEventSynchronize(done_[next_]));
    return staging_[next_];
  }
  void copy_staged(void* target, size_t bytes, int64_t source_bytes) {
    KILN_CUDA_CHECK(cudaMemcpyAsync(target, staging_[next_], bytes, cudaMemcpyHostToDevice, stream_));
    KILN_CUDA_CHECK(cudaEventRecord(done_[next_], stream_));
    next_ = 1 - next_;
    if (progress_ && source_bytes > 0) progress_->advance(source_bytes);
  }

  cudaStream_t stream_;
  ProgressBar* progress_;
  void* staging_[2] = {nullptr, nullptr};
  cudaEvent_t done_[2] = {nullptr, nullptr};
  int next_ = 0;
};

// Byte offsets in the one allocation.
class Layout {
 public:
  size_t take(size_t bytes) {
    const size_t offset = total_;
    total_ = align_up(total_ + bytes);
    return offset;
  }
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

// bf16 tensors copied back to back (norms, biases, the embedding).
struct DenseRegion {
  size_t offset = 0;
  size_t elements = 0;
  std::vector<const TensorView*> parts;
};

DenseRegion plan_dense(Layout* layout, std::vector<const TensorView*> parts) {
  DenseRegion region;
  for (const TensorView* part : parts) {
    if (part->empty()) continue;
    region.elements += static_cast<size_t>(part->num_elements());
    region.parts.push_back(part);
  }
  region.offset = layout->take(region.elements * 2);
  return region;
}

// A (possibly fused) linear: its parts' rows stacked, bf16 or FP8.
struct LinearPlan {
  std::vector<std::string> modules;  // HF names, one per part
  std::vector<const TensorView*> weights;
  bool fp8 = false;
  bool online = false;  // FP8 from a bf16/f16/f32 checkpoint: quantized on the device
  int n = 0;
  int k = 0;
  Fp8WeightScaling scaling = Fp8WeightScaling::kPerChannel;
  Fp8ActivationQuant activation = Fp8ActivationQuant::kNone;
  std::vector<float> weight_scale;   // checkpoint FP8: the parts' scales, f32, concatenated
  std::optional<float> input_scale;  // static activations: the largest of the parts'
  size_t offset = 0;                 // bf16 weight, or FP8 codes
  size_t scales_offset = 0;
  size_t input_scale_offset = 0;
};

Result<LinearPlan> plan_linear(const ModelConfig& config, const WeightUploadOptions& options, Layout* layout,
                               const std::vector<std::string>& modules, const std::vector<const TensorView*>& weights,
                               const std::vector<const LinearScales*>& scales) {
  const QuantizationConfig& q = config.quantization;
  LinearPlan plan;
  plan.modules = modules;
  plan.weights = weights;
  plan.k = static_cast<int>(weights.front()->dim(1));
  for (const TensorView* weight : weights) plan.n += static_cast<int>(weight->dim(0));
  plan.fp8 = q.is_quantized(modules.front());
  for (size_t i = 1; i < modules.size(); ++i) {
    if (q.is_quantized(modules[i]) != plan.fp8) {
      return Status::error("config.json: quantization_config quantizes " + (plan.fp8 ? modules.front() : modules[i]) +
                           " but not " + (plan.fp8 ? modules[i] : modules.front()) +
                           "; the CUDA backend runs them as one fused projection, which must be all FP8 or none");
    }
  }
  if (!plan.fp8) {
    plan.offset = layout->take(static_cast<size_t>(plan.n) * plan.k * 2);
    return plan;
  }
  plan.online = !q.checkpoint_is_quantized();
  plan.scaling = fp8_weight_scaling(q);
  plan.activation = options.fp8_weight_only ? Fp8ActivationQuant::kNone : fp8_activation_quant(q);
  if (!plan.online) {
    for (size_t i = 0; i < weights.size(); ++i) {
      const bool last = i + 1 == weights.size();
      if (plan.scaling == Fp8WeightScaling::kBlock && !last && weights[i]->dim(0) % kFp8GroupSize != 0) {
        return Status::error(modules[i] + ".weight: " + std::to_string(weights[i]->dim(0)) +
                             " rows; the CUDA backend fuses block-quantized projections only at multiples of 128 rows");
      }
      KILN_ASSIGN_OR_RETURN(Fp8ScalesF32 converted, fp8_scales_f32(q, *weights[i], *scales[i], modules[i]));
      plan.weight_scale.insert(plan.weight_scale.end(), converted.weight_scale.begin(), converted.weight_scale.end());
      // One scale quantizes the fused input: the largest never saturates a part's values.
      if (converted.input_scale) plan.input_scale = std::max(plan.input_scale.value_or(0.0f), *converted.input_scale);
    }
  }
  Fp8Weight shape;
  shape.n = plan.n;
  shape.k = plan.k;
  shape.weight_scaling = plan.scaling;
  plan.offset = layout->take(static_cast<size_t>(plan.n) * plan.k);
  plan.scales_offset = layout->take(shape.weight_scale_count() * sizeof(float));
  if (plan.input_scale) plan.input_scale_offset = layout->take(sizeof(float));
  return plan;
}

LinearWeight linear_weight(const LinearPlan& plan, char* base) {
  LinearWeight weight;
  if (!plan.fp8) {
    weight.dense = reinterpret_cast<const __nv_bfloat16*>(base + plan.offset);
    return weight;
  }
  Fp8Weight& fp8 = weight.fp8;
  fp8.weight = reinterpret_cast<const uint8_t*>(base + plan.offset);
  fp8.weight_scale = reinterpret_cast<const float*>(base + plan.scales_offset);
  fp8.input_scale = plan.input_scale ? reinterpret_cast<const float*>(base + plan.input_scale_offset) : nullptr;
  fp8.weight_scaling = plan.scaling;
  fp8.activation = plan.activation;
  fp8.n = plan.n;
  fp8.k = plan.k;
  return weight;
}

// Uploads one linear: bf16 rows, FP8 codes and scales, or bf16 rows quantized on the device.
class LinearUploader {
 public:
  LinearUploader(StagedUploader* uploader, char* base, cudaStream_t stream)
      : uploader_(uploader), base_(base), stream_(stream) {}

  Status upload(const LinearPlan& plan) {
    if (!plan.fp8) {
      auto* target = reinterpret_cast<__nv_bfloat16*>(base_ + plan.offset);
      for (const TensorView* part : plan.weights) {
        KILN_RETURN_IF_ERROR(uploader_->upload(*part, target));
        target += part->num_elements();
      }
      return ok_status();
    }
    auto* codes = reinterpret_cast<uint8_t*>(base_ + plan.offset);
    auto* scales = reinterpret_cast<float*>(base_ + plan.scales_offset);
    if (!plan.online) {
      for (const TensorView* part : plan.weights) {
        uploader_->upload_bytes(part->data, part->size_bytes(), codes);
        codes += part->size_bytes();
      }
      uploader_->upload_bytes(plan.weight_scale.data(), plan.weight_scale.size() * sizeof(float), scales, false);
      if (plan.input_scale) {
        uploader_->upload_bytes(&*plan.input_scale, sizeof(float), base_ + plan.input_scale_offset, false);
      }
      return ok_status();
    }
    // Online FP8: rows through a device bf16 buffer, quantized per row into place. The stream
    // orders each chunk's copy after the previous chunk's quantization.
    const int64_t k = plan.k;
    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kOnlineChunkBytes / 2) / k);
    if (rows_.size_bytes() == 0) {
      KILN_ASSIGN_OR_RETURN(rows_, DeviceBuffer::try_allocate(std::max(kOnlineChunkBytes, static_cast<size_t>(k) * 2)));
    }
    for (const TensorView* part : plan.weights) {
      const int64_t part_rows = part->dim(0);
      for (int64_t first = 0; first < part_rows; first += rows_per_chunk) {
        TensorView chunk = *part;
        chunk.shape = {std::min(rows_per_chunk, part_rows - first), k};
        chunk.data = static_cast<const char*>(part->data) + first * k * dtype_size_bytes(part->dtype);
        KILN_RETURN_IF_ERROR(uploader_->upload(chunk, rows_.as<__nv_bfloat16>()));
        quantize_weight_rows_fp8(rows_.as<__nv_bfloat16>(), static_cast<int>(chunk.shape[0]), plan.k, codes, scales,
                                 stream_);
        codes += chunk.shape[0] * k;
        scales += chunk.shape[0];
      }
    }
    return ok_status();
  }

 private:
  StagedUploader* uploader_;
  char* base_;
  cudaStream_t stream_;
  DeviceBuffer rows_;
};

struct LayerPlans {
  DenseRegion input_norm, qkv_bias, post_norm;
  LinearPlan qkv, o, gate_up, down;
};

}  // namespace

std::vector<Fp8Weight> CudaWeights::fp8_linears() const {
  std::vector<Fp8Weight> linears;
  for (const CudaLayerWeights& layer : layers) {
    for (const LinearWeight* weight : {&layer.qkv_proj, &layer.o_proj, &layer.gate_up_proj, &layer.down_proj}) {
      if (weight->is_fp8()) linears.push_back(weight->fp8);
    }
  }
  if (lm_head.is_fp8()) linears.push_back(lm_head.fp8);
  return linears;
}

Result<CudaWeights> upload_weights(const ModelConfig& config, const ModelWeights& weights, cudaStream_t stream,
                                   const WeightUploadOptions& options) {
  const bool tied = weights.lm_head.data == weights.embed_tokens.data;
  if (tied && config.quantization.is_quantized("lm_head")) {
    return Status::error("config.json: quantization_config quantizes lm_head, which is tied to embed_tokens; add "
                         "lm_head to its ignore list");
  }
  Layout layout;
  const DenseRegion embed = plan_dense(&layout, {&weights.embed_tokens});
  std::vector<LayerPlans> layer_plans;
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    const LayerWeights& l = weights.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerPlans plans;
    plans.input_norm = plan_dense(&layout, {&l.input_layernorm});
    KILN_ASSIGN_OR_RETURN(plans.qkv, plan_linear(config, options, &layout,
                                                 {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"},
                                                 {&l.q_proj, &l.k_proj, &l.v_proj},
                                                 {&l.q_proj_scales, &l.k_proj_scales, &l.v_proj_scales}));
    plans.qkv_bias = plan_dense(&layout, {&l.q_bias, &l.k_bias, &l.v_bias});
    KILN_ASSIGN_OR_RETURN(plans.o, plan_linear(config, options, &layout, {p + "self_attn.o_proj"}, {&l.o_proj},
                                               {&l.o_proj_scales}));
    plans.post_norm = plan_dense(&layout, {&l.post_attention_layernorm});
    KILN_ASSIGN_OR_RETURN(plans.gate_up,
                          plan_linear(config, options, &layout, {p + "mlp.gate_proj", p + "mlp.up_proj"},
                                      {&l.gate_proj, &l.up_proj}, {&l.gate_proj_scales, &l.up_proj_scales}));
    KILN_ASSIGN_OR_RETURN(plans.down, plan_linear(config, options, &layout, {p + "mlp.down_proj"}, {&l.down_proj},
                                                  {&l.down_proj_scales}));
    layer_plans.push_back(std::move(plans));
  }
  const DenseRegion norm = plan_dense(&layout, {&weights.norm});
  std::optional<LinearPlan> lm_head;
  if (!tied) {
    KILN_ASSIGN_OR_RETURN(lm_head, plan_linear(config, options, &layout, {"lm_head"}, {&weights.lm_head},
                                               {&weights.lm_head_scales}));
  }

  CudaWeights result;
  KILN_ASSIGN_OR_RETURN(result.storage, DeviceBuffer::try_allocate(layout.total()));
  result.size_bytes = static_cast<int64_t>(layout.total());
  char* base = result.storage.as<char>();
  auto dense_pointer = [&](const DenseRegion& region) -> const __nv_bfloat16* {
    return region.elements ? reinterpret_cast<const __nv_bfloat16*>(base + region.offset) : nullptr;
  };

  // What the progress bar counts: the checkpoint bytes read.
  int64_t source_bytes = 0;
  std::vector<const DenseRegion*> dense_regions = {&embed, &norm};
  std::vector<const LinearPlan*> linear_plans;
  for (const LayerPlans& plans : layer_plans) {
    dense_regions.insert(dense_regions.end(), {&plans.input_norm, &plans.qkv_bias, &plans.post_norm});
    linear_plans.insert(linear_plans.end(), {&plans.qkv, &plans.o, &plans.gate_up, &plans.down});
  }
  if (lm_head) linear_plans.push_back(&*lm_head);
  for (const DenseRegion* region : dense_regions) {
    for (const TensorView* part : region->parts) source_bytes += static_cast<int64_t>(part->size_bytes());
  }
  int num_fp8 = 0;
  for (const LinearPlan* plan : linear_plans) {
    for (const TensorView* part : plan->weights) source_bytes += static_cast<int64_t>(part->size_bytes());
    num_fp8 += plan->fp8;
  }

  const double start = monotonic_seconds();
  {
    ProgressBar progress(options.progress_label, source_bytes, ProgressUnit::kBytes, options.show_progress);
    StagedUploader uploader(stream, &progress);
    LinearUploader linear_uploader(&uploader, base, stream);
    for (const DenseRegion* region : dense_regions) {
      auto* target = reinterpret_cast<__nv_bfloat16*>(base + region->offset);
      for (const TensorView* part : region->parts) {
        KILN_RETURN_IF_ERROR(uploader.upload(*part, target));
        target += part->num_elements();
      }
    }
    for (const LinearPlan* plan : linear_plans) KILN_RETURN_IF_ERROR(linear_uploader.upload(*plan));
  }
  KILN_LOG(Info) << "Loading model weights took " << format_gib(static_cast<int64_t>(layout.total())) << " and "
                 << static_cast<int>((monotonic_seconds() - start) * 100) / 100.0 << " seconds"
                 << (num_fp8 == 0 ? std::string()
                                  : " (" + std::to_string(num_fp8) + " FP8 linears" +
                                        (config.quantization.checkpoint_is_quantized() ? "" : ", quantized on the GPU") +
                                        (options.fp8_weight_only ? ", weight-only" : "") + ")");

  result.embed_tokens = dense_pointer(embed);
  for (const LayerPlans& plans : layer_plans) {
    CudaLayerWeights layer;
    layer.input_layernorm = dense_pointer(plans.input_norm);
    layer.qkv_proj = linear_weight(plans.qkv, base);
    layer.qkv_bias = dense_pointer(plans.qkv_bias);
    layer.o_proj = linear_weight(plans.o, base);
    layer.post_attention_layernorm = dense_pointer(plans.post_norm);
    layer.gate_up_proj = linear_weight(plans.gate_up, base);
    layer.down_proj = linear_weight(plans.down, base);
    result.layers.push_back(layer);
  }
  result.norm = dense_pointer(norm);
  if (lm_head) {
    result.lm_head = linear_weight(*lm_head, base);
  } else {
    result.lm_head.dense = result.embed_tokens;
  }
  return result;
}

}  // namespace kiln::cuda
