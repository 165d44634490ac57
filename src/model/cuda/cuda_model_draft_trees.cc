// Speculative draft trees on the CUDA backend (KILN_CUDA_SPEC_TREES=1): before a step's kernels,
// the K/V entries of an earlier tree step's accepted nodes move to their sequences' consecutive
// slots (ForwardBatch::kv_move_*), layer by layer with cuda::move_kv, on the model's stream so that
// they follow the step that wrote them and precede every read. The tree mask itself is the prefill
// attention's (kernels/cuda/prefill_attention.cu), fed ForwardBatch::tree_parents by upload_batch.
#include <cstring>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ops_cuda.h"
#include "model/cuda/cuda_model.h"

namespace kiln::cuda {

void CudaModel::move_accepted_kv(const ForwardBatch& batch) {
  const int num_moves = static_cast<int>(batch.kv_move_from.size());
  if (num_moves == 0) return;
  // The moves' slots through the launch slot's pinned mirror, as upload_batch stages its arrays.
  char* host = static_cast<char*>(launch_slot().inputs_host);
  const char* device = step_inputs_.as<char>();
  cudaStream_t stream = context_->stream();
  for (auto [target, source] : {std::pair{kv_move_from_, &batch.kv_move_from}, std::pair{kv_move_to_, &batch.kv_move_to}}) {
    char* mirror = host + (reinterpret_cast<const char*>(target) - device);
    std::memcpy(mirror, source->data(), source->size() * sizeof(int64_t));
    KILN_CUDA_CHECK(cudaMemcpyAsync(target, mirror, source->size() * sizeof(int64_t), cudaMemcpyHostToDevice, stream));
  }
  const bool fp8_cache = options_.kv_cache_dtype == DType::kF8E4M3;
  const int64_t row_bytes = static_cast<int64_t>(local_.kv_size()) * (fp8_cache ? 1 : 2);
  for (int l = 0; l < local_.num_hidden_layers; ++l) {
    void* k = nullptr;
    void* v = nullptr;
    if (fp8_cache) {
      const Fp8KvCacheLayer layer = fp8_kv_layer(l);
      k = layer.k;
      v = layer.v;
    } else {
      bf16* layer_k = kv_cache_.as<bf16>() + 2 * static_cast<size_t>(l) * kv_layer_elements_;
      k = layer_k;
      v = layer_k + kv_layer_elements_;
    }
    move_kv(k, v, row_bytes, kv_move_from_, kv_move_to_, num_moves, stream);
  }
  profiler_.mark("kv_moves");
}

}  // namespace kiln::cuda
