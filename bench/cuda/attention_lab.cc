// Attention cases of the kernel lab; see attention_lab.h.
#include "attention_lab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/ops_cuda.h"
#include "lab_util.h"

namespace kiln::cuda {
namespace {

constexpr AttentionShape kShape{32, 8, 128};
constexpr int kBlockSize = 16;
constexpr int kMaxPrompt = 32768;

// Causal FLOPs of `q_len` new tokens at the end of a sequence of `seq_len`: QK^T and PV, 2 each
// per multiply-add, over the keys each query sees.
double causal_flops(int q_len, int seq_len) {
  const double first = seq_len - q_len + 1, last = seq_len;
  const double keys_seen = (first + last) * q_len / 2;
  return 4.0 * kShape.num_heads * kShape.head_dim * keys_seen;
}

// Device copies of one step's metadata.
struct Batch {
  DeviceBuffer query_start, seq_lens, block_tables;
  PagedAttentionMetadata meta;
};

template <typename T>
DeviceBuffer upload_raw(const std::vector<T>& host) {
  DeviceBuffer buffer = std::move(DeviceBuffer::try_allocate(host.size() * sizeof(T)).value());
  KILN_CUDA_CHECK(cudaMemcpy(buffer.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return buffer;
}

// Sequences with the given new tokens and lengths; every sequence reads the cache's blocks in
// the order `pages` (attention only reads the cache, so sequences may share blocks).
Batch make_batch(const std::vector<int>& new_tokens, const std::vector<int>& seq_lens,
                 const std::vector<int32_t>& pages) {
  Batch batch;
  const int num_seqs = static_cast<int>(seq_lens.size());
  int max_blocks = 0, max_seq_len = 0, max_query_len = 0;
  for (int s = 0; s < num_seqs; ++s) {
    max_blocks = std::max(max_blocks, (seq_lens[s] + kBlockSize - 1) / kBlockSize);
    max_seq_len = std::max(max_seq_len, seq_lens[s]);
    max_query_len = std::max(max_query_len, new_tokens[s]);
  }
  std::vector<int32_t> query_start = {0}, tables(static_cast<size_t>(num_seqs) * max_blocks, -1);
  for (int s = 0; s < num_seqs; ++s) {
    query_start.push_back(query_start.back() + new_tokens[s]);
    for (int b = 0; b < (seq_lens[s] + kBlockSize - 1) / kBlockSize; ++b) {
      tables[static_cast<size_t>(s) * max_blocks + b] = pages[static_cast<size_t>(b)];
    }
  }
  batch.query_start = upload_raw(query_start);
  batch.seq_lens = upload_raw(seq_lens);
  batch.block_tables = upload_raw(tables);
  batch.meta = PagedAttentionMetadata{batch.query_start.as<int32_t>(), batch.seq_lens.as<int32_t>(),
                                      batch.block_tables.as<int32_t>(), num_seqs, max_blocks, kBlockSize};
  batch.meta.num_tokens = query_start.back();
  batch.meta.max_seq_len = max_seq_len;
  batch.meta.max_query_len = max_query_len;
  return batch;
}

std::vector<float> download(const DeviceBuffer& buffer, size_t count) {
  std::vector<uint16_t> raw(count);
  KILN_CUDA_CHECK(cudaDeviceSynchronize());  // the lab's stream does not block the legacy copy
  KILN_CUDA_CHECK(cudaMemcpy(raw.data(), buffer.data(), count * 2, cudaMemcpyDeviceToHost));
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = bf16_to_f32(raw[i]);
  return values;
}

// ||a - b|| / ||b||, infinity on any non-finite value.
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    diff += double(a[i] - b[i]) * (a[i] - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

const char* tiling_name(PrefillTiling tiling) {
  switch (tiling) {
    case PrefillTiling::kDefault: return "default";
    case PrefillTiling::kWarps4Rows64Keys64: return "w4_m64_n64";
    case PrefillTiling::kWarps4Rows128Keys32: return "w4_m128_n32";
    case PrefillTiling::kWarps4Rows128Keys64: return "w4_m128_n64";
    case PrefillTiling::kWarps8Rows128Keys64: return "w8_m128_n64";
    case PrefillTiling::kWarps4Rows128Keys32QRegs: return "w4_m128_n32_qregs";
  }
  return "?";
}

// Decode attention (one new token per sequence) over sequences with their own pages, as a
// server's cache holds them: each tuning of decode_attention at batch 1 (1k, 8k, 32k) and at
// the throughput benchmark's batches, timed over `kCalls` back-to-back calls on disjoint pages
// where the cache has room (32 layers' calls would read 32 layers' caches), and checked against
// the production tuning's output.
}  // namespace

void run_decode_lab(CudaContext& context) {
  cudaStream_t stream = context.stream();
  const int num_sms = context.info().num_sms;
  const float scale = 1.0f / std::sqrt(static_cast<float>(kShape.head_dim));
  const size_t kv_row = static_cast<size_t>(kShape.num_kv_heads) * kShape.head_dim;
  constexpr int kCacheTokens = 400 * 1024;
  constexpr int kCalls = 8;
  const int num_pages = kCacheTokens / kBlockSize;
  DeviceBuffer k_cache = random_device_bf16(static_cast<size_t>(kCacheTokens) * kv_row, 201, 1.0f);
  DeviceBuffer v_cache = random_device_bf16(static_cast<size_t>(kCacheTokens) * kv_row, 202, 1.0f);
  DeviceBuffer q = random_device_bf16(static_cast<size_t>(256) * kShape.num_heads * kShape.head_dim, 203, 1.0f);
  const size_t out_count = static_cast<size_t>(256) * kShape.num_heads * kShape.head_dim;
  DeviceBuffer out = std::move(DeviceBuffer::try_allocate(out_count * 2).value());
  DeviceBuffer reference = std::move(DeviceBuffer::try_allocate(out_count * 2).value());
  DeviceBuffer workspace =
      std::move(DeviceBuffer::try_allocate(paged_attention_workspace_bytes(num_sms, kShape)).value());
  std::vector<int32_t> pages(num_pages);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(6));

  struct Named {
    const char* name;
    DecodeAttentionTuning tuning;
  };
  const std::vector<Named> tunings = {
      {"default", DecodeAttentionTuning{}},
      {"3st 2/sm k256", {3, 0, 2, 256, 128, 128}},
      {"3st 4/sm k128", {3, 0, 4, 128, 128, 128}},
      {"3st 1wave k128", {3, 1, 0, 128, 128, 128}},
      {"3st 1wave k512", {3, 1, 0, 512, 128, 128}},
      {"3st 2wave k256", {3, 2, 0, 256, 128, 256}},
      {"3st 1wave short k128", {3, 1, 0, 256, 128, 128}},
      {"4st 1wave k256", {4, 1, 0, 256, 128, 128}},
  };
  std::printf("\ndecode attention, 32 heads / 8 KV heads / head_dim 128, block_size %d, own pages per sequence\n",
              kBlockSize);
  std::printf("%-6s %-7s %-16s %10s %8s %7s %10s\n", "batch", "context", "tuning", "us/call", "GB/s", "%copy",
              "rel_diff");
  const double copy_gbps = 4220;  // H200 copy bandwidth measured by kernel_lab (NOTES.md)
  for (const auto& [batch, context_len] : {std::make_pair(1, 1024), std::make_pair(1, 8192), std::make_pair(1, 32768),
                                           std::make_pair(4, 4096), std::make_pair(88, 1600),
                                           std::make_pair(256, 1536)}) {
    const int pages_per_seq = (context_len + kBlockSize - 1) / kBlockSize;
    const int pages_per_call = batch * pages_per_seq;
    std::vector<Batch> calls;
    for (int c = 0; c < kCalls; ++c) {
      Batch b;
      std::vector<int32_t> query_start(batch + 1), seq_lens(batch, context_len);
      std::vector<int32_t> tables(static_cast<size_t>(batch) * pages_per_seq);
      for (int s = 0; s <= batch; ++s) query_start[s] = s;
      for (size_t i = 0; i < tables.size(); ++i) {
        tables[i] = pages[(static_cast<size_t>(c) * pages_per_call + i) % num_pages];
      }
      b.query_start = upload_raw(query_start);
      b.seq_lens = upload_raw(seq_lens);
      b.block_tables = upload_raw(tables);
      b.meta = PagedAttentionMetadata{b.query_start.as<int32_t>(), b.seq_lens.as<int32_t>(),
                                      b.block_tables.as<int32_t>(), batch, pages_per_seq, kBlockSize};
      b.meta.num_tokens = batch;
      b.meta.max_seq_len = context_len;
      b.meta.max_query_len = 1;
      calls.push_back(std::move(b));
    }
    const double bytes = 2.0 * batch * context_len * kv_row * 2;
    const size_t count = static_cast<size_t>(batch) * kShape.num_heads * kShape.head_dim;
    for (const Named& named : tunings) {
      auto call = [&](const Batch& b, DeviceBuffer& target) {
        decode_attention_tuned(q.as<bf16>(), k_cache.as<bf16>(), v_cache.as<bf16>(), b.meta, kShape, scale,
                               target.as<bf16>(), workspace.data(), num_sms, stream, 0, false, named.tuning);
      };
      const float ms = time_ms(stream, 2, 10, [&](int) {
        for (const Batch& b : calls) call(b, out);
      }) / kCalls;
      call(calls[0], named.name == tunings[0].name ? reference : out);
      if (named.name == tunings[0].name) call(calls[0], out);
      const double gbps = bytes / (ms * 1e-3) / 1e9;
      std::printf("%-6d %-7d %-16s %10.1f %8.0f %6.1f%% %10.2e\n", batch, context_len, named.name, ms * 1e3, gbps,
                  100 * gbps / copy_gbps, relative_difference(download(out, count), download(reference, count)));
    }
  }
}

int run_attention_lab(CudaContext& context, bool quick) {
  cudaStream_t stream = context.stream();
  const int num_sms = context.info().num_sms;
  const float scale = 1.0f / std::sqrt(static_cast<float>(kShape.head_dim));
  const int q_row = kShape.num_heads * kShape.head_dim;
  const size_t kv_row = static_cast<size_t>(kShape.num_kv_heads) * kShape.head_dim;
  const int num_pages = kMaxPrompt / kBlockSize;

  // One cache and one q buffer at the largest size; smaller cases use their beginning. Pages
  // are a shuffled permutation, as a long-running server's block pool would be.
  DeviceBuffer k_cache = random_device_bf16(static_cast<size_t>(kMaxPrompt) * kv_row, 101, 1.0f);
  DeviceBuffer v_cache = random_device_bf16(static_cast<size_t>(kMaxPrompt) * kv_row, 102, 1.0f);
  DeviceBuffer q = random_device_bf16(static_cast<size_t>(kMaxPrompt) * q_row, 103, 1.0f);
  DeviceBuffer out = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kMaxPrompt) * q_row * 2).value());
  DeviceBuffer reference = std::move(DeviceBuffer::try_allocate(static_cast<size_t>(kMaxPrompt) * q_row * 2).value());
  DeviceBuffer workspace =
      std::move(DeviceBuffer::try_allocate(paged_attention_workspace_bytes(num_sms, kShape)).value());
  std::vector<int32_t> pages(num_pages);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(5));

  const auto* qp = q.as<bf16>();
  const auto* kp = k_cache.as<bf16>();
  const auto* vp = v_cache.as<bf16>();
  auto split_kv = [&](const Batch& b, DeviceBuffer& target) {
    split_kv_attention(qp, kp, vp, b.meta, kShape, scale, target.as<bf16>(), workspace.data(), num_sms,
                       stream, 0, /*decode_only=*/false);
  };

  std::printf("\nprefill attention, 32 heads / 8 KV heads / head_dim 128, block_size %d, one sequence\n", kBlockSize);
  std::printf("%-22s %7s %10s %9s %12s\n", "kernel", "prompt", "ms", "TFLOP/s", "rel_diff");
  const PrefillTiling tilings[] = {PrefillTiling::kWarps4Rows64Keys64, PrefillTiling::kWarps4Rows128Keys32,
                                   PrefillTiling::kWarps4Rows128Keys64, PrefillTiling::kWarps8Rows128Keys64,
                                   PrefillTiling::kWarps4Rows128Keys32QRegs};
  for (const int prompt : {1024, 8192, kMaxPrompt}) {
    const Batch batch = make_batch({prompt}, {prompt}, pages);
    const double flops = causal_flops(prompt, prompt);
    const size_t count = static_cast<size_t>(prompt) * q_row;
    // The split-KV kernel re-reads the prefix per query: seconds at 32k, so only outside --quick.
    const bool run_old = prompt <= 8192 || !quick;
    if (run_old) {
      const int repeats = prompt <= 1024 ? 10 : (prompt <= 8192 ? 3 : 1);
      const float ms = time_ms(stream, 1, repeats, [&](int) { split_kv(batch, reference); });
      std::printf("%-22s %7d %10.3f %9.1f %12s\n", "split_kv (old)", prompt, ms, flops / (ms * 1e-3) / 1e12, "-");
    }
    for (const PrefillTiling tiling : tilings) {
      const int repeats = prompt <= 8192 ? 20 : 5;
      const float ms = time_ms(stream, 2, repeats, [&](int) {
        prefill_attention(qp, kp, vp, batch.meta, kShape, scale, out.as<bf16>(), stream, 0, tiling);
      });
      char diff[32] = "-";
      if (run_old) {
        std::snprintf(diff, sizeof diff, "%.2e", relative_difference(download(out, count), download(reference, count)));
      }
      std::printf("%-22s %7d %10.3f %9.1f %12s\n", tiling_name(tiling), prompt, ms, flops / (ms * 1e-3) / 1e12, diff);
    }
  }

  // The last 2048-token chunk of an 8192-token prompt (chunked prefill over a cached prefix).
  {
    const Batch batch = make_batch({2048}, {8192}, pages);
    const double flops = causal_flops(2048, 8192);
    const float ms = time_ms(stream, 2, 20, [&](int) {
      prefill_attention(qp, kp, vp, batch.meta, kShape, scale, out.as<bf16>(), stream);
    });
    const float old_ms = time_ms(stream, 1, 3, [&](int) { split_kv(batch, reference); });
    const size_t count = static_cast<size_t>(2048) * q_row;
    std::printf("\nchunk 2048 of 8192: prefill %.3f ms (%.1f TFLOP/s), split_kv %.3f ms, rel_diff %.2e\n", ms,
                flops / (ms * 1e-3) / 1e12, old_ms,
                relative_difference(download(out, count), download(reference, count)));
  }

  // A mixed step: one 2048-token prompt and 64 decodes at context 4096.
  {
    std::vector<int> new_tokens = {2048}, seq_lens = {2048};
    for (int s = 0; s < 64; ++s) {
      new_tokens.push_back(1);
      seq_lens.push_back(4096);
    }
    const Batch mixed = make_batch(new_tokens, seq_lens, pages);
    const Batch decodes = make_batch(std::vector<int>(64, 1), std::vector<int>(64, 4096), pages);
    auto dispatch = [&](const Batch& b) {
      paged_attention(qp, kp, vp, b.meta, kShape, scale, out.as<bf16>(), workspace.data(), num_sms, stream);
    };
    const float mixed_ms = time_ms(stream, 2, 20, [&](int) { dispatch(mixed); });
    const float old_ms = time_ms(stream, 1, 5, [&](int) { split_kv(mixed, reference); });
    const float decode_ms = time_ms(stream, 2, 20, [&](int) { dispatch(decodes); });
    const size_t count = static_cast<size_t>(mixed.meta.num_tokens) * q_row;
    dispatch(mixed);
    split_kv(mixed, reference);
    std::printf("mixed 2048 prefill + 64 decodes @4096: dispatch %.3f ms, split_kv alone %.3f ms, "
                "rel_diff %.2e; the 64 decodes alone %.3f ms\n",
                mixed_ms, old_ms, relative_difference(download(out, count), download(reference, count)), decode_ms);
  }
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return 0;
}

}  // namespace kiln::cuda
