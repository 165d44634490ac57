// Paged attention over the KV cache, split-KV (flash-decoding) style.
//
// Grid: (query token, KV head x head chunk, split). A block takes one query token and the
// query heads of one KV group (kHeads of them, the group split into equal chunks of <= 8),
// and walks its split's key range in chunks of kChunkKeys: scores into shared memory (8 lanes
// per key, 16 dims per lane, two 16-byte loads), then an online-softmax update and P.V with
// one thread per head dimension. With one split the block writes the bf16 output; with several,
// f32 partials (unnormalised output, running max, running sum) that combine_kernel merges.
//
// It is correct for any query lengths but re-reads the prefix per query token without tensor
// cores, so paged_attention() sends sequences with several new tokens to prefill_attention
// (prefill_attention.cu), decode steps to decode_attention (decode_attention.cu), and keeps
// this kernel for the decode tokens of mixed steps and the group sizes decode_attention lacks.
// In decode_only mode the grid runs over sequences instead of tokens and skips those with more
// than one new token. The cache is bf16 or FP8 (codes with a scale per tensor: K's joins the
// queries' scale, V's multiplies the output).
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cfloat>

#include "base/check.h"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/ops_cuda.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kChunkKeys = 256;
constexpr int kMaxHeadsPerBlock = 8;
constexpr int kMaxSplits = 64;
// The combine's block: head_dim x (512 / head_dim) threads, so that at batch 1 the 32 blocks
// still have many records in flight.
constexpr int kCombineThreads = 512;
constexpr int kMaxCombineSplits = 256;
constexpr int kMinKeysPerSplit = 256;
constexpr int kDimsPerLane = 16;

__device__ __forceinline__ float cache_value(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float cache_value(uint8_t code) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(code), __NV_E4M3)));
}

__device__ __forceinline__ void load16(const uint8_t* source, float* target) {
  const uint4 packed = *reinterpret_cast<const uint4*>(source);
  const uint16_t* pairs = reinterpret_cast<const uint16_t*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const __half2_raw raw = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pairs[i]), __NV_E4M3);
    const float2 f = __half22float2(__half2(raw));
    target[2 * i] = f.x;
    target[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ void load16(const bf16* source, float* target) {
  const uint4 a = *reinterpret_cast<const uint4*>(source);
  const uint4 b = *reinterpret_cast<const uint4*>(source + 8);
  const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 fa = __bfloat1622float2(a2[i]);
    const float2 fb = __bfloat1622float2(b2[i]);
    target[2 * i] = fa.x;
    target[2 * i + 1] = fa.y;
    target[8 + 2 * i] = fb.x;
    target[8 + 2 * i + 1] = fb.y;
  }
}

template <typename Cache, int kHeadDim, int kHeads>
__global__ void __launch_bounds__(kThreads)
    paged_attention_kernel(const bf16* __restrict__ q, const Cache* __restrict__ k_cache,
                           const Cache* __restrict__ v_cache, const float* __restrict__ k_scale,
                           const float* __restrict__ v_scale, const int32_t* __restrict__ query_start,
                           const int32_t* __restrict__ seq_lens,
                           const int32_t* __restrict__ block_tables, int num_seqs,
                           int max_blocks_per_seq, int block_size, int num_heads, int num_kv_heads,
                           int head_chunks, float scale, int keys_per_split, int q_stride,
                           bool decode_only, bf16* __restrict__ out, float* __restrict__ partial) {
  constexpr int kLanesPerKey = kHeadDim / kDimsPerLane;
  constexpr int kKeysPerPass = kThreads / kLanesPerKey;
  static_assert(kHeadDim <= kThreads, "one thread per head dimension in P.V");

  __shared__ float q_shared[kHeads][kHeadDim];
  __shared__ float scores[kHeads][kChunkKeys];
  __shared__ float head_stats[kHeads][2];  // running max, running sum
  __shared__ float chunk_scale[kHeads];

  // slot: the grid row, a token or (decode_only) a sequence; partials are indexed by it.
  const int slot = blockIdx.x;
  int token, seq;
  if (decode_only) {
    seq = slot;
    token = query_start[seq];
    if (query_start[seq + 1] - token != 1) return;
  } else {
    token = slot;
    seq = find_sequence(query_start, num_seqs, token);
  }
  const int kv_head = blockIdx.y / head_chunks;
  const int head0 = kv_head * (num_heads / num_kv_heads) + (blockIdx.y % head_chunks) * kHeads;
  const int split = blockIdx.z;
  const int num_new = query_start[seq + 1] - query_start[seq];
  const int position = seq_lens[seq] - num_new + (token - query_start[seq]);
  const int key_begin = split * keys_per_split;
  const int key_end = min(key_begin + keys_per_split, position + 1);
  const int32_t* block_table = block_tables + static_cast<size_t>(seq) * max_blocks_per_seq;
  const size_t kv_row_stride = static_cast<size_t>(num_kv_heads) * kHeadDim;

  const float q_scale = scale * (k_scale != nullptr ? *k_scale : 1.0f);
  const float value_scale = v_scale != nullptr ? *v_scale : 1.0f;
  for (int i = threadIdx.x; i < kHeads * kHeadDim; i += kThreads) {
    const int h = i / kHeadDim, d = i % kHeadDim;
    q_shared[h][d] =
        __bfloat162float(q[static_cast<size_t>(token) * q_stride + (head0 + h) * kHeadDim + d]) * q_scale;
  }
  if (threadIdx.x < kHeads) {
    head_stats[threadIdx.x][0] = -FLT_MAX;
    head_stats[threadIdx.x][1] = 0.0f;
  }
  __syncthreads();

  const int lane_in_key = threadIdx.x % kLanesPerKey;
  const int key_slot = threadIdx.x / kLanesPerKey;
  float q_regs[kHeads][kDimsPerLane];
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
#pragma unroll
    for (int i = 0; i < kDimsPerLane; ++i) q_regs[h][i] = q_shared[h][lane_in_key * kDimsPerLane + i];
  }
  float acc[kHeads];
#pragma unroll
  for (int h = 0; h < kHeads; ++h) acc[h] = 0.0f;
  const int dim = threadIdx.x;

  for (int chunk_begin = key_begin; chunk_begin < key_end; chunk_begin += kChunkKeys) {
    const int chunk_len = min(kChunkKeys, key_end - chunk_begin);
    // Scores: kLanesPerKey lanes per key, kKeysPerPass keys per pass over the block.
    for (int base = 0; base < chunk_len; base += kKeysPerPass) {
      const int local = base + key_slot;
      float dot[kHeads];
#pragma unroll
      for (int h = 0; h < kHeads; ++h) dot[h] = 0.0f;
      if (local < chunk_len) {
        const int key = chunk_begin + local;
        const int block = block_table[key / block_size];
        const size_t row = static_cast<size_t>(block) * block_size + key % block_size;
        float k_values[kDimsPerLane];
        load16(k_cache + row * kv_row_stride + kv_head * kHeadDim + lane_in_key * kDimsPerLane, k_values);
#pragma unroll
        for (int h = 0; h < kHeads; ++h) {
#pragma unroll
          for (int i = 0; i < kDimsPerLane; ++i) dot[h] = fmaf(q_regs[h][i], k_values[i], dot[h]);
        }
      }
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
#pragma unroll
        for (int offset = kLanesPerKey / 2; offset > 0; offset /= 2) {
          dot[h] += __shfl_xor_sync(0xffffffffu, dot[h], offset);
        }
      }
      if (lane_in_key == 0 && local < chunk_len) {
#pragma unroll
        for (int h = 0; h < kHeads; ++h) scores[h][local] = dot[h];
      }
    }
    __syncthreads();
    // Online softmax: warp w (< kHeads) updates head w's max and sum over this chunk.
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int h = warp; h < kHeads; h += kThreads / 32) {
      float chunk_max = -FLT_MAX;
      for (int i = lane; i < chunk_len; i += 32) chunk_max = fmaxf(chunk_max, scores[h][i]);
      for (int offset = 16; offset > 0; offset /= 2) chunk_max = fmaxf(chunk_max, __shfl_xor_sync(0xffffffffu, chunk_max, offset));
      const float old_max = head_stats[h][0];
      const float new_max = fmaxf(old_max, chunk_max);
      float chunk_sum = 0.0f;
      for (int i = lane; i < chunk_len; i += 32) {
        const float p = __expf(scores[h][i] - new_max);
        scores[h][i] = p;
        chunk_sum += p;
      }
      for (int offset = 16; offset > 0; offset /= 2) chunk_sum += __shfl_xor_sync(0xffffffffu, chunk_sum, offset);
      if (lane == 0) {
        const float rescale = __expf(old_max - new_max);
        chunk_scale[h] = rescale;
        head_stats[h][0] = new_max;
        head_stats[h][1] = head_stats[h][1] * rescale + chunk_sum;
      }
    }
    __syncthreads();
    if (dim < kHeadDim) {
#pragma unroll
      for (int h = 0; h < kHeads; ++h) acc[h] *= chunk_scale[h];
      for (int i = 0; i < chunk_len; ++i) {
        const int key = chunk_begin + i;
        const int block = block_table[key / block_size];
        const size_t row = static_cast<size_t>(block) * block_size + key % block_size;
        const float value = cache_value(v_cache[row * kv_row_stride + kv_head * kHeadDim + dim]);
#pragma unroll
        for (int h = 0; h < kHeads; ++h) acc[h] = fmaf(scores[h][i], value, acc[h]);
      }
    }
    __syncthreads();
  }

  if (dim >= kHeadDim) return;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) acc[h] *= value_scale;
  if (gridDim.z == 1) {
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      const float sum = head_stats[h][1];
      out[(static_cast<size_t>(token) * num_heads + head0 + h) * kHeadDim + dim] =
          __float2bfloat16(sum > 0 ? acc[h] / sum : 0.0f);
    }
    return;
  }
  // Partials: [slot][head][split] records of kHeadDim outputs, then max and sum.
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    float* record = partial + ((static_cast<size_t>(slot) * num_heads + head0 + h) * gridDim.z + split) * (kHeadDim + 2);
    record[dim] = acc[h];
    if (dim == 0) {
      record[kHeadDim] = key_begin < key_end ? head_stats[h][0] : -FLT_MAX;
      record[kHeadDim + 1] = key_begin < key_end ? head_stats[h][1] : 0.0f;
    }
  }
}

// Grid: slots x heads. decode_query_start: null when slots are tokens; in decode_only mode the
// sequences' query_start, so that slots (sequences) map to their token and multi-token ones skip.
// The block first reads every split's (max, sum) in parallel into shared memory, then
// 512 / head_dim threads share each dimension's pass over the splits: with one thread walking
// a dimension's records serially, 128 splits at batch 1 took longer than the attention itself.
__global__ void __launch_bounds__(kCombineThreads)
    combine_kernel(const float* __restrict__ partial, int num_splits, int head_dim, int num_heads,
                   const int32_t* __restrict__ decode_query_start, bf16* __restrict__ out) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  __shared__ float split_max[kMaxCombineSplits];
  __shared__ float split_weight[kMaxCombineSplits];
  __shared__ float split_sum[kMaxCombineSplits];
  __shared__ float warp_max[kCombineThreads / 32];
  __shared__ float part_numerator[kCombineThreads];
  const int slot = blockIdx.x / num_heads, head = blockIdx.x % num_heads;
  int token = slot;
  if (decode_query_start != nullptr) {
    token = decode_query_start[slot];
    if (decode_query_start[slot + 1] - token != 1) return;
  }
  const size_t token_head = static_cast<size_t>(token) * num_heads + head;
  const float* records = partial + static_cast<size_t>(blockIdx.x) * num_splits * (head_dim + 2);
  float local_max = -FLT_MAX;
  for (int s = threadIdx.x; s < num_splits; s += blockDim.x) {
    const float* record = records + static_cast<size_t>(s) * (head_dim + 2);
    split_max[s] = record[head_dim];
    split_sum[s] = record[head_dim + 1];
    local_max = fmaxf(local_max, split_max[s]);
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, offset));
  }
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = local_max;
  __syncthreads();
  float global_max = -FLT_MAX;
  for (int w = 0; w < kCombineThreads / 32; ++w) global_max = fmaxf(global_max, warp_max[w]);
  for (int s = threadIdx.x; s < num_splits; s += blockDim.x) {
    split_weight[s] = split_sum[s] == 0.0f ? 0.0f : __expf(split_max[s] - global_max);
  }
  __syncthreads();
  // Thread t sums split s = t / head_dim, + parts, ... of dimension t % head_dim; the parts are
  // then added in a fixed order.
  const int parts = blockDim.x / head_dim;
  const int d = threadIdx.x % head_dim, part = threadIdx.x / head_dim;
  float numerator = 0.0f;
  if (part < parts) {
#pragma unroll 8
    for (int s = part; s < num_splits; s += parts) {
      numerator += split_weight[s] * records[static_cast<size_t>(s) * (head_dim + 2) + d];
    }
  }
  if (part < parts) part_numerator[part * head_dim + d] = numerator;
  __syncthreads();
  if (part != 0) return;
  float total = 0.0f, denominator = 0.0f;
  for (int p = 0; p < parts; ++p) total += part_numerator[p * head_dim + d];
  for (int s = 0; s < num_splits; ++s) denominator += split_weight[s] * split_sum[s];
  out[token_head * head_dim + d] = __float2bfloat16(denominator > 0 ? total / denominator : 0.0f);
}

int heads_per_block(int group_size) {
  for (int heads = std::min(group_size, kMaxHeadsPerBlock); heads > 1; --heads) {
    if (group_size % heads == 0) return heads;
  }
  return 1;
}

template <typename Cache, int kHeadDim, int kHeads>
void launch(const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale, const float* v_scale,
            const PagedAttentionMetadata& meta, int rows, const AttentionShape& shape, int head_chunks, float scale,
            int splits, int keys_per_split, int q_stride, bool decode_only, bf16* out, float* partial,
            cudaStream_t stream) {
  const dim3 grid(rows, shape.num_kv_heads * head_chunks, splits);
  paged_attention_kernel<Cache, kHeadDim, kHeads><<<grid, kThreads, 0, stream>>>(
      q, k_cache, v_cache, k_scale, v_scale, meta.query_start, meta.seq_lens, meta.block_tables, meta.num_seqs,
      meta.max_blocks_per_seq, meta.block_size, shape.num_heads, shape.num_kv_heads, head_chunks,
      scale, keys_per_split, q_stride, decode_only, out, partial);
  KILN_CUDA_CHECK_LAUNCH();
}

template <typename Cache, int kHeadDim>
void dispatch_heads(int heads, const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale,
                    const float* v_scale, const PagedAttentionMetadata& meta, int rows, const AttentionShape& shape,
                    int head_chunks, float scale, int splits, int keys_per_split, int q_stride,
                    bool decode_only, bf16* out, float* partial, cudaStream_t stream) {
#define KILN_ATTENTION_CASE(n)                                                                          \
  case n:                                                                                              \
    return launch<Cache, kHeadDim, n>(q, k_cache, v_cache, k_scale, v_scale, meta, rows, shape, head_chunks, \
                                      scale, splits, keys_per_split, q_stride, decode_only, out, partial, stream);
  switch (heads) {
    KILN_ATTENTION_CASE(1)
    KILN_ATTENTION_CASE(2)
    KILN_ATTENTION_CASE(3)
    KILN_ATTENTION_CASE(4)
    KILN_ATTENTION_CASE(5)
    KILN_ATTENTION_CASE(6)
    KILN_ATTENTION_CASE(7)
    KILN_ATTENTION_CASE(8)
  }
#undef KILN_ATTENTION_CASE
  KILN_CHECK(false) << "no attention kernel for " << heads << " heads per block";
}

}  // namespace

void combine_attention_splits(const float* partial, int num_splits, int head_dim, int num_heads, int num_slots,
                              const int32_t* decode_query_start, bf16* out, cudaStream_t stream) {
  if (num_slots == 0) return;
  KILN_CHECK(head_dim <= kCombineThreads && kCombineThreads % head_dim == 0)
      << "combine_attention_splits: unsupported head_dim " << head_dim;
  KILN_CHECK(num_splits <= kMaxCombineSplits) << "combine_attention_splits takes at most " << kMaxCombineSplits
                                              << " splits, got " << num_splits;
  launch_with_grid_dependency(combine_kernel, dim3(num_slots * num_heads), dim3(kCombineThreads), 0, stream, partial,
                              num_splits, head_dim, num_heads, decode_query_start, out);
  KILN_CUDA_CHECK_LAUNCH();
}

size_t paged_attention_workspace_bytes(int num_sms, const AttentionShape& shape) {
  // This file's kernel splits only while tokens x KV heads x splits stays within 4 blocks per
  // SM (4 x num_sms x kMaxHeadsPerBlock records); decode_attention needs more.
  const size_t records = std::max(static_cast<size_t>(4) * num_sms * kMaxHeadsPerBlock, attention_split_records(num_sms));
  return records * (shape.head_dim + 2) * sizeof(float);
}

namespace {

template <typename Cache>
void launch_split_kv_attention(const bf16* q, const Cache* k_cache, const Cache* v_cache, const float* k_scale,
                               const float* v_scale, const PagedAttentionMetadata& meta, const AttentionShape& shape,
                               float scale, bf16* out, void* workspace, int num_sms, cudaStream_t stream,
                               int q_token_stride, bool decode_only) {
  const int num_tokens = meta.num_tokens, max_seq_len = meta.max_seq_len;
  if (num_tokens == 0) return;
  const int q_stride = q_token_stride ? q_token_stride : shape.num_heads * shape.head_dim;
  KILN_CHECK(shape.head_dim == 64 || shape.head_dim == 128)
      << "paged_attention supports head_dim 64 and 128, got " << shape.head_dim;
  const int rows = decode_only ? meta.num_seqs : num_tokens;
  const int group_size = shape.num_heads / shape.num_kv_heads;
  const int heads = heads_per_block(group_size);
  const int head_chunks = group_size / heads;
  const int blocks_without_split = rows * shape.num_kv_heads * head_chunks;
  int splits = 1;
  if (blocks_without_split < 4 * num_sms) {
    const int wanted = (4 * num_sms) / blocks_without_split;
    const int useful = (max_seq_len + kMinKeysPerSplit - 1) / kMinKeysPerSplit;
    splits = std::max(1, std::min({wanted, useful, kMaxSplits}));
  }
  const int keys_per_split = (max_seq_len + splits - 1) / splits;
  float* partial = static_cast<float*>(workspace);
  if (shape.head_dim == 64) {
    dispatch_heads<Cache, 64>(heads, q, k_cache, v_cache, k_scale, v_scale, meta, rows, shape, head_chunks, scale,
                              splits, keys_per_split, q_stride, decode_only, out, partial, stream);
  } else {
    dispatch_heads<Cache, 128>(heads, q, k_cache, v_cache, k_scale, v_scale, meta, rows, shape, head_chunks, scale,
                               splits, keys_per_split, q_stride, decode_only, out, partial, stream);
  }
  if (splits > 1) {
    combine_attention_splits(partial, splits, shape.head_dim, shape.num_heads, rows,
                             decode_only ? meta.query_start : nullptr, out, stream);
  }
}

}  // namespace

void split_kv_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache,
                        const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                        bf16* out, void* workspace, int num_sms, cudaStream_t stream,
                        int q_token_stride, bool decode_only) {
  launch_split_kv_attention<bf16>(q, k_cache, v_cache, nullptr, nullptr, meta, shape, scale, out, workspace, num_sms,
                                  stream, q_token_stride, decode_only);
}

void split_kv_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                        const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                        cudaStream_t stream, int q_token_stride, bool decode_only) {
  launch_split_kv_attention<uint8_t>(q, cache.k, cache.v, cache.k_scale, cache.v_scale, meta, shape, scale, out,
                                     workspace, num_sms, stream, q_token_stride, decode_only);
}

void paged_attention(const bf16* q, const bf16* k_cache, const bf16* v_cache,
                     const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale,
                     bf16* out, void* workspace, int num_sms, cudaStream_t stream,
                     int q_token_stride) {
  if (meta.num_tokens == 0) return;
  if (meta.max_query_len != 1 && prefill_attention_supports(shape)) {
    prefill_attention(q, k_cache, v_cache, meta, shape, scale, out, stream, q_token_stride);
    // One sequence with several tokens has no decode token; otherwise some sequence may have one.
    if (meta.num_seqs > 1 || meta.num_tokens == 1) {
      if (decode_attention_supports(shape)) {
        decode_attention(q, k_cache, v_cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride,
                         /*decode_only=*/true);
      } else {
        split_kv_attention(q, k_cache, v_cache, meta, shape, scale, out, workspace, num_sms, stream,
                           q_token_stride, /*decode_only=*/true);
      }
    }
    return;
  }
  // Decode steps (and shapes the prefill kernel lacks): the streamed kernel (decode_attention.cu)
  // for the group sizes it has; this file's kernel for the others (3, 5, 6, 7, 12, ... query
  // heads per KV head).
  if (decode_attention_supports(shape)) {
    decode_attention(q, k_cache, v_cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride);
    return;
  }
  split_kv_attention(q, k_cache, v_cache, meta, shape, scale, out, workspace, num_sms, stream,
                     q_token_stride, /*decode_only=*/false);
}

void paged_attention(const bf16* q, const Fp8KvCacheLayer& cache, const PagedAttentionMetadata& meta,
                     const AttentionShape& shape, float scale, bf16* out, void* workspace, int num_sms,
                     cudaStream_t stream, int q_token_stride) {
  // The same dispatch as the bf16 cache's, into the FP8 instantiations.
  if (meta.num_tokens == 0) return;
  if (meta.max_query_len != 1 && prefill_attention_supports(shape)) {
    prefill_attention(q, cache, meta, shape, scale, out, stream, q_token_stride);
    if (meta.num_seqs > 1 || meta.num_tokens == 1) {
      if (decode_attention_supports(shape)) {
        decode_attention(q, cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride,
                         /*decode_only=*/true);
      } else {
        split_kv_attention(q, cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride,
                           /*decode_only=*/true);
      }
    }
    return;
  }
  if (decode_attention_supports(shape)) {
    decode_attention(q, cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride);
    return;
  }
  split_kv_attention(q, cache, meta, shape, scale, out, workspace, num_sms, stream, q_token_stride,
                     /*decode_only=*/false);
}

}  // namespace kiln::cuda
