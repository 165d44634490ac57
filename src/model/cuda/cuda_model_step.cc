// CudaModel's steps that sample on the device, and the CUDA graphs of decode steps.
//
// A decode step of B sequences launches ~10 kernels per layer; at batch 1 on the 8B model the
// kernels themselves take ~5 ms and the launches' gaps add up. A graph per (padded batch size,
// block-table stride) replays the whole step — layers, lm_head and sampling — in one launch. The
// step's inputs go to the same device addresses every time (upload_batch's fixed layout), padded
// rows have no KV slot (-1), no keys (seq_len 0) and a greedy sampling row whose token is ignored.
#include <algorithm>
#include <cstring>

#include "base/byte_size.h"
#include "base/log.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/cuda/sampling_cuda.h"
#include "model/cuda/cuda_model.h"
#include "model/kv_cache_scales.h"

namespace kiln::cuda {
namespace {

// Batch sizes graphs are captured for: 1, 2, 4, 8, then multiples of 16.
int graph_batch_bucket(int num_seqs) {
  if (num_seqs <= 8) {
    int bucket = 1;
    while (bucket < num_seqs) bucket *= 2;
    return bucket;
  }
  return (num_seqs + 15) / 16 * 16;
}

// Block-table strides: powers of two from 16 blocks.
int graph_stride_bucket(int max_blocks_per_seq) {
  int stride = 16;
  while (stride < max_blocks_per_seq) stride *= 2;
  return stride;
}

}  // namespace

cudaGraphExec_t CudaModel::capture_decode_graph(int padded, int stride) {
  const ModelConfig& c = config_;
  cudaStream_t stream = context_->stream();
  const int max_seq_len = std::min(stride * options_.block_size, max_model_len_);
  // The kernels' host-side shape: one new token in each of `padded` rows.
  num_seqs_ = padded;
  max_blocks_per_seq_ = stride;
  max_query_len_ = 1;
  cudaGraph_t graph = nullptr;
  KILN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  run_layers(padded, max_seq_len, /*feed_sampled=*/true);
  compute_logits(padded, 0, padded);
  if (samples()) {
    sample_rows(logits_.as<bf16>(), c.vocab_size, 0, sampling_rows_.as<SamplingRowParams>(), padded,
                adjustments_.as<LogitAdjustment>(), sampling_workspace_.as<float>(), sampled_.as<SampledRow>(), stream,
                bitmasks_.as<uint32_t>());
  }
  KILN_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  KILN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  KILN_CUDA_CHECK(cudaGraphDestroy(graph));
  return exec;
}

int64_t CudaModel::measure_graph_bytes(int* num_graphs) {
  *num_graphs = 0;
  if (options_.enforce_eager) return 0;
  // Every (batch bucket, block-table stride) a decode step can take.
  const int largest_batch = graph_padded_batch(options_.max_num_seqs);
  const int capacity = (max_model_len_ + options_.block_size - 1) / options_.block_size;
  int batches = 0, strides = 0;
  for (int n = 1; n <= largest_batch;) {
    ++batches;
    const int bucket = graph_padded_batch(n);
    n = bucket + 1;
  }
  for (int blocks = 1; blocks <= capacity;) {
    ++strides;
    blocks = graph_block_stride(blocks) + 1;
  }
  *num_graphs = batches * strides;
  // The largest graph, captured, instantiated and uploaded, then dropped: what one takes.
  context_->synchronize();
  size_t free_before = 0, total = 0, free_after = 0;
  KILN_CUDA_CHECK(cudaMemGetInfo(&free_before, &total));
  cudaGraphExec_t exec = capture_decode_graph(largest_batch, graph_block_stride(capacity));
  KILN_CUDA_CHECK(cudaGraphUpload(exec, context_->stream()));
  context_->synchronize();
  KILN_CUDA_CHECK(cudaMemGetInfo(&free_after, &total));
  KILN_CUDA_CHECK(cudaGraphExecDestroy(exec));
  const int64_t one = std::max<int64_t>(0, static_cast<int64_t>(free_before) - static_cast<int64_t>(free_after));
  KILN_LOG(Debug) << "a decode graph of " << largest_batch << " rows takes " << format_bytes(one) << "; up to "
                  << *num_graphs << " graphs";
  return one * *num_graphs;
}

void CudaModel::release_graphs() {
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
}

Status CudaModel::check_sampling(const ForwardBatch& batch, std::span<const SamplingRowParams> rows,
                                 std::span<const LogitAdjustment> adjustments, std::span<const uint32_t> bitmasks) const {
  const size_t words = static_cast<size_t>(sampling_bitmask_words(config_.vocab_size));
  if (static_cast<int>(rows.size()) > max_sampled_rows_) {
    return Status::error("sampling: " + std::to_string(rows.size()) + " rows exceed the " +
                         std::to_string(max_sampled_rows_) + " a step may sample");
  }
  const int num_logits = static_cast<int>(batch.logits_indices.size());
  int previous = -1;
  for (const SamplingRowParams& row : rows) {
    if (row.logits_row <= previous || row.logits_row >= num_logits) {
      return Status::error("sampling: logits_row " + std::to_string(row.logits_row) +
                           " is out of order or outside the step's " + std::to_string(num_logits) + " logits rows");
    }
    previous = row.logits_row;
    if (row.adjustments_begin < 0 || row.num_adjustments < 0 ||
        static_cast<size_t>(row.adjustments_begin) + static_cast<size_t>(row.num_adjustments) > adjustments.size()) {
      return Status::error("sampling: a row's adjustments lie outside the adjustments array");
    }
    if (!row.greedy && !(row.temperature > 0.0f)) {
      return Status::error("sampling: a non-greedy row needs a positive temperature");
    }
    if (row.bitmask_row >= 0 && (static_cast<size_t>(row.bitmask_row) + 1) * words > bitmasks.size()) {
      return Status::error("sampling: a row's token mask lies outside the bitmasks");
    }
  }
  if (bitmasks.size() % words != 0 || bitmasks.size() / words > rows.size()) {
    return Status::error("sampling: " + std::to_string(bitmasks.size()) + " bitmask words are not one mask of " +
                         std::to_string(words) + " words per sampled row at most");
  }
  return ok_status();
}

Status CudaModel::stage_sampling(std::span<const SamplingRowParams> rows, std::span<const LogitAdjustment> adjustments,
                                 int padded_rows, std::span<const uint32_t> bitmasks) {
  cudaStream_t stream = context_->stream();
  if (adjustments.size() > adjustments_capacity_) {
    // Steps in flight may still read the old buffers.
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
    size_t capacity = adjustments_capacity_;
    while (capacity < adjustments.size()) capacity *= 2;
    KILN_ASSIGN_OR_RETURN(DeviceBuffer grown, DeviceBuffer::try_allocate(capacity * sizeof(LogitAdjustment)));
    for (StepSlot& slot : slots_) {
      LogitAdjustment* grown_host = nullptr;
      if (cudaMallocHost(&grown_host, capacity * sizeof(LogitAdjustment)) != cudaSuccess) {
        return Status::error("sampling: no pinned host memory for " + std::to_string(capacity) + " logit adjustments");
      }
      cudaFreeHost(slot.adjustments_host);
      slot.adjustments_host = grown_host;
    }
    adjustments_ = std::move(grown);
    adjustments_capacity_ = capacity;
    release_graphs();  // they captured the old address
    KILN_LOG(Debug) << "sampling: room for " << capacity << " logit adjustments";
  }
  StepSlot& slot = launch_slot();
  std::copy(rows.begin(), rows.end(), slot.rows_host);
  for (int r = static_cast<int>(rows.size()); r < padded_rows; ++r) {
    SamplingRowParams pad;
    pad.logits_row = r;
    slot.rows_host[r] = pad;
  }
  const int staged_rows = std::max<int>(padded_rows, static_cast<int>(rows.size()));
  if (staged_rows > 0) {
    KILN_CUDA_CHECK(cudaMemcpyAsync(sampling_rows_.data(), slot.rows_host, staged_rows * sizeof(SamplingRowParams),
                                    cudaMemcpyHostToDevice, stream));
  }
  if (!adjustments.empty()) {
    std::copy(adjustments.begin(), adjustments.end(), slot.adjustments_host);
    KILN_CUDA_CHECK(cudaMemcpyAsync(adjustments_.data(), slot.adjustments_host,
                                    adjustments.size() * sizeof(LogitAdjustment), cudaMemcpyHostToDevice, stream));
  }
  if (!bitmasks.empty()) {
    std::copy(bitmasks.begin(), bitmasks.end(), slot.bitmasks_host);
    KILN_CUDA_CHECK(cudaMemcpyAsync(bitmasks_.data(), slot.bitmasks_host, bitmasks.size() * sizeof(uint32_t),
                                    cudaMemcpyHostToDevice, stream));
  }
  return ok_status();
}

bool CudaModel::graph_eligible(const ForwardBatch& batch, size_t num_sampled) const {
  // Decode only: one new token per sequence, each sampling, no prompt logprobs.
  const int n = batch.num_seqs();
  return !options_.enforce_eager && n > 0 && batch.num_tokens() == n && static_cast<int>(num_sampled) == n &&
         static_cast<int>(batch.logits_indices.size()) == n;
}

int CudaModel::graph_padded_batch(int num_seqs) const {
  // The step-input arrays hold max_num_seqs sequences and max_num_batched_tokens tokens.
  return std::min(graph_batch_bucket(num_seqs), std::min(options_.max_num_seqs, options_.max_num_batched_tokens));
}

int CudaModel::graph_block_stride(int max_blocks_per_seq) const {
  const int capacity = (max_model_len_ + options_.block_size - 1) / options_.block_size;
  return std::min(graph_stride_bucket(max_blocks_per_seq), capacity);
}

void CudaModel::run_graph_step(const ForwardBatch& batch, std::span<const int32_t> token_source, int num_sampled) {
  cudaStream_t stream = context_->stream();
  const int n = batch.num_seqs();
  const int padded = graph_padded_batch(n);
  const int stride = graph_block_stride(batch.max_blocks_per_seq);

  // The step's inputs, padded to the bucket, at upload_batch's fixed addresses.
  ForwardBatch padded_batch;
  padded_batch.token_ids = batch.token_ids;
  padded_batch.positions = batch.positions;
  padded_batch.slot_mapping = batch.slot_mapping;
  padded_batch.seq_lens = batch.seq_lens;
  padded_batch.token_ids.resize(padded, 0);
  padded_batch.positions.resize(padded, 0);
  padded_batch.slot_mapping.resize(padded, -1);
  padded_batch.seq_lens.resize(padded, 0);
  padded_batch.query_start.resize(padded + 1);
  padded_batch.logits_indices.resize(padded);
  for (int i = 0; i <= padded; ++i) padded_batch.query_start[i] = i;
  for (int i = 0; i < padded; ++i) padded_batch.logits_indices[i] = i;
  padded_batch.max_blocks_per_seq = stride;
  padded_batch.block_tables.assign(static_cast<size_t>(padded) * stride, -1);
  for (int s = 0; s < n; ++s) {
    std::copy_n(batch.block_tables.begin() + static_cast<size_t>(s) * batch.max_blocks_per_seq,
                batch.max_blocks_per_seq, padded_batch.block_tables.begin() + static_cast<size_t>(s) * stride);
  }
  // Every graph feeds sampled tokens: rows without a source (-1) keep their uploaded id.
  std::vector<int32_t> sources(static_cast<size_t>(padded), -1);
  std::copy(token_source.begin(), token_source.end(), sources.begin());
  upload_batch(padded_batch, sources);

  const auto key = std::make_pair(padded, stride);
  auto found = graphs_.find(key);
  if (found == graphs_.end()) {
    found = graphs_.emplace(key, capture_decode_graph(padded, stride)).first;
    KILN_LOG(Debug) << "captured the decode graph for batch " << padded << ", block-table stride " << stride;
  }
  KILN_CUDA_CHECK(cudaGraphLaunch(found->second, stream));
  ++num_graph_steps_;
  if (samples()) {
    KILN_CUDA_CHECK(cudaMemcpyAsync(launch_slot().sampled_host, sampled_.data(), num_sampled * sizeof(SampledRow),
                                    cudaMemcpyDeviceToHost, stream));
  }
}

Status CudaModel::launch_sampled(const ForwardBatch& batch, std::span<const int32_t> token_source,
                                 std::span<const SamplingRowParams> rows, std::span<const LogitAdjustment> adjustments,
                                 std::span<const uint32_t> bitmasks) {
  const ModelConfig& c = config_;
  if (num_uncollected_steps() >= 2) return Status::error("launch_sampled: two launched steps are uncollected");
  int max_seq_len = 0;
  KILN_RETURN_IF_ERROR(check_batch(batch, &max_seq_len, token_source));
  KILN_RETURN_IF_ERROR(check_sampling(batch, rows, adjustments, bitmasks));
  cudaStream_t stream = context_->stream();
  const int num_sampled = static_cast<int>(rows.size());
  const int num_logits = static_cast<int>(batch.logits_indices.size());
  StepSlot& slot = launch_slot();
  slot.num_sampled = num_sampled;
  slot.other_logits.clear();
  KILN_CUDA_CHECK(cudaEventRecord(slot.begin, stream));
  const bool profiled = profiler_.begin(stream);

  // The first step of a cache whose scales are to be calculated runs eagerly and sets them.
  const bool calculate_kv_scales = kv_scales_pending_;
  kv_scales_pending_ = false;
  move_accepted_kv(batch);  // before the graph or the eager kernels read the cache
  if (!profiled && !calculate_kv_scales && graph_eligible(batch, rows.size())) {
    KILN_RETURN_IF_ERROR(stage_sampling(rows, adjustments, graph_padded_batch(batch.num_seqs()), bitmasks));
    run_graph_step(batch, token_source, num_sampled);
  } else {
    KILN_RETURN_IF_ERROR(stage_sampling(rows, adjustments, 0, bitmasks));
    upload_batch(batch, token_source);
    profiler_.mark("upload");
    run_layers(batch.num_tokens(), max_seq_len, /*feed_sampled=*/!token_source.empty(), calculate_kv_scales);
    std::vector<bool> is_sampled(static_cast<size_t>(num_logits), false);
    for (const SamplingRowParams& row : rows) is_sampled[static_cast<size_t>(row.logits_row)] = true;
    int next_sampled = 0;
    for (int begin = 0; begin < num_logits; begin += max_logit_rows_) {
      const int count = std::min(max_logit_rows_, num_logits - begin);
      compute_logits(batch.num_tokens(), begin, count);
      if (!samples()) continue;  // rank 0 samples and returns the logits
      const int first_sampled = next_sampled;
      while (next_sampled < num_sampled && rows[static_cast<size_t>(next_sampled)].logits_row < begin + count) {
        ++next_sampled;
      }
      sample_rows(logits_.as<bf16>(), c.vocab_size, begin, sampling_rows_.as<SamplingRowParams>() + first_sampled,
                  next_sampled - first_sampled, adjustments_.as<LogitAdjustment>(), sampling_workspace_.as<float>(),
                  sampled_.as<SampledRow>() + first_sampled, stream, bitmasks_.as<uint32_t>());
      profiler_.mark("sampling");
      // The rows that do not sample (prompt logprobs) come back whole, before this returns: the
      // staging buffer is shared by every step.
      int host_rows = 0;
      for (int r = begin; r < begin + count; ++r) {
        if (is_sampled[static_cast<size_t>(r)]) continue;
        KILN_CUDA_CHECK(cudaMemcpyAsync(logits_host_ + static_cast<size_t>(host_rows) * c.vocab_size,
                                        logits_.as<bf16>() + static_cast<size_t>(r - begin) * c.vocab_size,
                                        static_cast<size_t>(c.vocab_size) * 2, cudaMemcpyDeviceToHost, stream));
        ++host_rows;
      }
      if (host_rows == 0) continue;
      KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
      const size_t values = static_cast<size_t>(host_rows) * c.vocab_size;
      const size_t offset = slot.other_logits.size();
      slot.other_logits.resize(offset + values);
      for (size_t i = 0; i < values; ++i) slot.other_logits[offset + i] = bf16_to_f32(logits_host_[i]);
    }
    if (num_sampled > 0 && samples()) {
      KILN_CUDA_CHECK(cudaMemcpyAsync(slot.sampled_host, sampled_.data(), num_sampled * sizeof(SampledRow),
                                      cudaMemcpyDeviceToHost, stream));
    }
  }
  if (kv_saturated_.data() != nullptr) {
    KILN_CUDA_CHECK(cudaMemcpyAsync(slot.kv_saturated_host, kv_saturated_.data(), sizeof(int32_t),
                                    cudaMemcpyDeviceToHost, stream));
  }
  if (profiled) profiler_.end(batch.num_tokens(), batch.num_seqs());
  KILN_CUDA_CHECK(cudaEventRecord(slot.end, stream));
  // A step that samples nothing leaves the previous samples in sampled_, but no later step may
  // feed from them: sources always name the step launched just before.
  num_previous_sampled_ = num_sampled;
  ++num_launched_;
  return ok_status();
}

Status CudaModel::collect_sampled(std::vector<SampledRow>* sampled, std::vector<float>* other_logits) {
  if (num_uncollected_steps() == 0) return Status::error("collect_sampled: no launched step");
  StepSlot& slot = slots_[num_collected_ % 2];
  KILN_CUDA_CHECK(cudaEventSynchronize(slot.end));
  add_busy_time(slot);
  if (samples()) {
    sampled->assign(slot.sampled_host, slot.sampled_host + slot.num_sampled);
  } else {
    sampled->clear();  // rank 0 returns the step's samples
  }
  *other_logits = std::move(slot.other_logits);
  slot.other_logits.clear();
  ++num_collected_;
  if (*slot.kv_saturated_host && !warned_kv_saturation_) {
    warned_kv_saturation_ = true;
    warn_kv_cache_saturation();
  }
  if (!kv_scales_logged_ && !kv_scales_pending_) {
    kv_scales_logged_ = true;
    std::vector<float> scales(2 * static_cast<size_t>(config_.num_hidden_layers));
    KILN_CUDA_CHECK(cudaMemcpy(scales.data(), kv_scales_.data(), scales.size() * sizeof(float), cudaMemcpyDeviceToHost));
    if (samples()) log_calculated_kv_scales(scales);  // under tensor parallelism, rank 0's KV heads
  }
  return ok_status();
}

Status CudaModel::forward_sampled(const ForwardBatch& batch, std::span<const SamplingRowParams> rows,
                                  std::span<const LogitAdjustment> adjustments, std::vector<float>* other_logits,
                                  std::vector<SampledRow>* sampled) {
  KILN_RETURN_IF_ERROR(launch_sampled(batch, {}, rows, adjustments));
  return collect_sampled(sampled, other_logits);
}

}  // namespace kiln::cuda
