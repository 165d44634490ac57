#include "model/cuda/cuda_weights.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/byte_size.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/progress_bar.h"
#include "kernels/cuda/cuda_check.h"

namespace kiln::cuda {
namespace {

constexpr size_t kAlignment = 256;
constexpr size_t kStagingBytes = size_t{64} << 20;

size_t align_up(size_t value) { return (value + kAlignment - 1) / kAlignment * kAlignment; }

// One destination region and the source tensors copied into it back to back.
struct Region {
  size_t offset = 0;
  size_t elements = 0;
  std::vector<const TensorView*> parts;
};

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
      KILN_CUDA_CHECK(cudaEventSynchronize(done_[next_]));
      uint16_t* staging = static_cast<uint16_t*>(staging_[next_]);
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
      KILN_CUDA_CHECK(cudaMemcpyAsync(target + begin, staging, n * 2, cudaMemcpyHostToDevice, stream_));
      KILN_CUDA_CHECK(cudaEventRecord(done_[next_], stream_));
      next_ = 1 - next_;
      if (progress_) progress_->advance(static_cast<int64_t>(n * element_bytes));
    }
    return ok_status();
  }

 private:
  cudaStream_t stream_;
  ProgressBar* progress_;
  void* staging_[2] = {nullptr, nullptr};
  cudaEvent_t done_[2] = {nullptr, nullptr};
  int next_ = 0;
};

}  // namespace

Result<CudaWeights> upload_weights(const ModelConfig& config, const ModelWeights& weights,
                                   cudaStream_t stream) {
  const bool tied = weights.lm_head.data == weights.embed_tokens.data;
  std::vector<Region> regions;
  size_t total = 0;
  auto add = [&](std::vector<const TensorView*> parts) -> size_t {
    Region region;
    region.offset = total;
    for (const TensorView* part : parts) {
      if (!part->empty()) {
        region.elements += static_cast<size_t>(part->num_elements());
        region.parts.push_back(part);
      }
    }
    total = align_up(total + region.elements * 2);
    regions.push_back(region);
    return regions.size() - 1;
  };
  const size_t embed = add({&weights.embed_tokens});
  struct LayerRegions {
    size_t input_norm, qkv, qkv_bias, o, post_norm, gate_up, down;
  };
  std::vector<LayerRegions> layer_regions;
  for (const LayerWeights& layer : weights.layers) {
    LayerRegions r{};
    r.input_norm = add({&layer.input_layernorm});
    r.qkv = add({&layer.q_proj, &layer.k_proj, &layer.v_proj});
    r.qkv_bias = add({&layer.q_bias, &layer.k_bias, &layer.v_bias});
    r.o = add({&layer.o_proj});
    r.post_norm = add({&layer.post_attention_layernorm});
    r.gate_up = add({&layer.gate_proj, &layer.up_proj});
    r.down = add({&layer.down_proj});
    layer_regions.push_back(r);
  }
  const size_t norm = add({&weights.norm});
  const size_t lm_head = tied ? embed : add({&weights.lm_head});

  CudaWeights result;
  KILN_ASSIGN_OR_RETURN(result.storage, DeviceBuffer::try_allocate(total));
  result.size_bytes = static_cast<int64_t>(total);
  auto* base = result.storage.as<__nv_bfloat16>();
  auto pointer = [&](size_t index) -> const __nv_bfloat16* {
    return regions[index].elements ? base + regions[index].offset / 2 : nullptr;
  };

  int64_t source_bytes = 0;
  for (const Region& region : regions) {
    for (const TensorView* part : region.parts) source_bytes += static_cast<int64_t>(part->size_bytes());
  }
  const double start = monotonic_seconds();
  {
    ProgressBar progress("Loading weights to GPU", source_bytes, ProgressUnit::kBytes);
    StagedUploader uploader(stream, &progress);
    for (const Region& region : regions) {
      __nv_bfloat16* target = base + region.offset / 2;
      for (const TensorView* part : region.parts) {
        KILN_RETURN_IF_ERROR(uploader.upload(*part, target));
        target += part->num_elements();
      }
    }
  }
  KILN_LOG(Info) << "Loading model weights took " << format_gib(static_cast<int64_t>(total)) << " and "
                 << static_cast<int>((monotonic_seconds() - start) * 100) / 100.0 << " seconds";

  result.embed_tokens = pointer(embed);
  for (const LayerRegions& r : layer_regions) {
    result.layers.push_back(CudaLayerWeights{pointer(r.input_norm), pointer(r.qkv),
                                             pointer(r.qkv_bias), pointer(r.o), pointer(r.post_norm),
                                             pointer(r.gate_up), pointer(r.down)});
  }
  result.norm = pointer(norm);
  result.lm_head = pointer(lm_head);
  (void)config;
  return result;
}

}  // namespace kiln::cuda
