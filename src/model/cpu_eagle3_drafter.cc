#include "model/cpu_eagle3_drafter.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "kernels/ops.h"

namespace kiln {
namespace {

void resize_rows(std::vector<float>* buffer, int64_t rows, int64_t width) { buffer->resize(static_cast<size_t>(rows * width)); }

}  // namespace

Result<std::unique_ptr<CpuEagle3Drafter>> CpuEagle3Drafter::create(const Eagle3HeadConfig& config,
                                                                   const Eagle3HeadWeights& weights, int num_threads) {
  if (config.layer.head_dim <= 0 || config.layer.head_dim > 1024 || config.layer.head_dim % 2 != 0) {
    return Status::error("EAGLE-3 head config.json: head_dim " + std::to_string(config.layer.head_dim) +
                         " is not supported by the CPU backend (even, at most 1024)");
  }
  if (weights.draft_to_target.size() != static_cast<size_t>(config.draft_vocab_size)) {
    return Status::error("EAGLE-3 head: d2t holds " + std::to_string(weights.draft_to_target.size()) + " ids for " +
                         std::to_string(config.draft_vocab_size) + " draft tokens");
  }
  KILN_ASSIGN_OR_RETURN(RopeParameters rope, compute_rope_parameters(config.layer));
  return std::unique_ptr<CpuEagle3Drafter>(new CpuEagle3Drafter(config, weights, num_threads, std::move(rope)));
}

CpuEagle3Drafter::CpuEagle3Drafter(const Eagle3HeadConfig& config, const Eagle3HeadWeights& weights, int num_threads,
                                   RopeParameters rope)
    : config_(config),
      weights_(weights),
      pool_(std::make_unique<cpu::ThreadPool>(num_threads)),
      ctx_{pool_.get(), cpu::detect_isa()},
      rope_table_(std::move(rope), config.layer.head_dim) {}

void CpuEagle3Drafter::SequenceCache::truncate_from(int position, int kv_width) {
  size_t keep = positions.size();
  while (keep > 0 && positions[keep - 1] >= position) --keep;
  positions.resize(keep);
  k.resize(keep * static_cast<size_t>(kv_width));
  v.resize(keep * static_cast<size_t>(kv_width));
}

std::vector<int32_t> CpuEagle3Drafter::cached_positions(int64_t seq_id) const {
  const auto it = sequences_.find(seq_id);
  return it == sequences_.end() ? std::vector<int32_t>{} : it->second.positions;
}

void CpuEagle3Drafter::forward(SequenceCache& cache, const float* state, const int32_t* tokens,
                               const int32_t* positions, int m, float* out, int32_t* draft) {
  const ModelConfig& c = config_.layer;
  const int h = c.hidden_size;
  const int inter = c.intermediate_size;
  const int kv_width = c.kv_size();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  resize_rows(&embedded_, m, h);
  resize_rows(&concat_, m, 2 * h);
  resize_rows(&normed_, m, h);
  resize_rows(&q_, m, c.q_size());
  resize_rows(&k_new_, m, kv_width);
  resize_rows(&v_new_, m, kv_width);
  resize_rows(&attn_, m, c.q_size());
  resize_rows(&residual_, m, h);
  resize_rows(&gate_, m, inter);
  resize_rows(&up_, m, inter);
  resize_rows(&act_, m, inter);

  // concat(input_layernorm(embedding), hidden_norm(state)) feeds the attention projections.
  cpu::embedding(ctx_, weights_.embed_tokens, tokens, m, embedded_.data());
  cpu::rms_norm(ctx_, embedded_.data(), weights_.input_layernorm, m, h, eps, embedded_.data());
  cpu::rms_norm(ctx_, state, weights_.hidden_norm, m, h, eps, normed_.data());
  for (int r = 0; r < m; ++r) {
    std::copy_n(embedded_.data() + static_cast<size_t>(r) * h, h, concat_.data() + static_cast<size_t>(r) * 2 * h);
    std::copy_n(normed_.data() + static_cast<size_t>(r) * h, h, concat_.data() + static_cast<size_t>(r) * 2 * h + h);
  }
  cpu::matmul(ctx_, concat_.data(), m, 2 * h, weights_.q_proj, TensorView{}, q_.data());
  cpu::matmul(ctx_, concat_.data(), m, 2 * h, weights_.k_proj, TensorView{}, k_new_.data());
  cpu::matmul(ctx_, concat_.data(), m, 2 * h, weights_.v_proj, TensorView{}, v_new_.data());

  // The sequence's cache is one block whose slots are its entries in order.
  const int num_cached = static_cast<int>(cache.positions.size());
  const int total = num_cached + m;
  cache.positions.insert(cache.positions.end(), positions, positions + m);
  cache.k.resize(static_cast<size_t>(total) * kv_width);
  cache.v.resize(static_cast<size_t>(total) * kv_width);
  std::vector<int64_t> slots(static_cast<size_t>(m));
  for (int r = 0; r < m; ++r) slots[static_cast<size_t>(r)] = num_cached + r;
  int max_position = 0;
  for (int r = 0; r < m; ++r) max_position = std::max(max_position, positions[r]);
  rope_table_.reserve(max_position + 1);
  cpu::rope_and_cache_kv(ctx_, q_.data(), k_new_.data(), v_new_.data(), positions, slots.data(), m, shape,
                         rope_table_.data(), rope_table_.num_positions(), cache.k.data(), cache.v.data());
  const int32_t query_start[2] = {0, m};
  const int32_t seq_len = total;
  const int32_t block_table = 0;
  PagedAttentionMetadata meta;
  meta.query_start = query_start;
  meta.seq_lens = &seq_len;
  meta.block_tables = &block_table;
  meta.num_seqs = 1;
  meta.max_blocks_per_seq = 1;
  meta.block_size = total;
  meta.num_tokens = m;
  meta.max_seq_len = total;
  meta.max_query_len = m;
  cpu::paged_attention(ctx_, q_.data(), cache.k.data(), cache.v.data(), meta, shape,
                       1.0f / std::sqrt(static_cast<float>(c.head_dim)), attn_.data());

  // The state (before hidden_norm) is the residual around attention; the layer's output is the
  // residual stream after the MLP.
  std::copy_n(state, static_cast<size_t>(m) * h, residual_.data());
  cpu::matmul(ctx_, attn_.data(), m, c.q_size(), weights_.o_proj, TensorView{}, out);
  cpu::add_rms_norm(ctx_, residual_.data(), out, weights_.post_attention_layernorm, m, h, eps, normed_.data());
  cpu::matmul(ctx_, normed_.data(), m, h, weights_.gate_proj, TensorView{}, gate_.data());
  cpu::matmul(ctx_, normed_.data(), m, h, weights_.up_proj, TensorView{}, up_.data());
  cpu::silu_and_mul(ctx_, gate_.data(), up_.data(), m, inter, inter, act_.data());
  cpu::matmul(ctx_, act_.data(), m, inter, weights_.down_proj, TensorView{}, out);
  for (size_t i = 0; i < static_cast<size_t>(m) * h; ++i) out[i] += residual_[i];
  if (draft == nullptr) return;

  // Greedy draft from the last entry: the norm, the draft vocabulary's head, then d2t.
  const float* last = out + static_cast<size_t>(m - 1) * h;
  cpu::rms_norm(ctx_, last, weights_.norm, 1, h, eps, normed_.data());
  logits_.resize(static_cast<size_t>(config_.draft_vocab_size));
  cpu::matmul(ctx_, normed_.data(), 1, h, weights_.lm_head, TensorView{}, logits_.data());
  const size_t best = static_cast<size_t>(std::max_element(logits_.begin(), logits_.end()) - logits_.begin());
  *draft = weights_.draft_to_target[best];
}

Status CpuEagle3Drafter::step(const ForwardBatch& batch, const float* target_hidden,
                              std::span<const Eagle3StepSequence> sequences, std::vector<std::vector<int32_t>>* drafts) {
  const int h = config_.layer.hidden_size;
  const int fused_width = 3 * config_.target_hidden_size;
  const int kv_width = config_.layer.kv_size();
  drafts->assign(sequences.size(), {});
  std::vector<float> fused, state, out;
  std::vector<int32_t> tokens, positions;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const Eagle3StepSequence& s = sequences[i];
    if (s.num_rows <= 0 || s.first_row < 0 || s.first_row + s.num_rows > batch.num_tokens() || s.num_kept_rows < 1 ||
        s.num_kept_rows > s.num_rows || s.num_drafts < 0) {
      return Status::error("EAGLE-3 drafter: sequence " + std::to_string(s.seq_id) + " names rows [" +
                           std::to_string(s.first_row) + ", +" + std::to_string(s.num_rows) + ") keeping " +
                           std::to_string(s.num_kept_rows) + " of a batch of " + std::to_string(batch.num_tokens()));
    }
    SequenceCache& cache = sequences_[s.seq_id];
    const int first_position = batch.positions[static_cast<size_t>(s.first_row)];
    // Everything from this step's first position on is computed again (or was a guess).
    cache.truncate_from(first_position, kv_width);
    fused.clear();
    tokens.clear();
    positions.clear();
    if (cache.pending_position == first_position - 1 && !cache.pending.empty()) {
      fused.insert(fused.end(), cache.pending.begin(), cache.pending.end());
      tokens.push_back(batch.token_ids[static_cast<size_t>(s.first_row)]);
      positions.push_back(cache.pending_position);
    }
    cache.pending.clear();
    cache.pending_position = -1;
    for (int r = 0; r < s.num_kept_rows; ++r) {
      const size_t row = static_cast<size_t>(s.first_row + r);
      const float* hidden = target_hidden + row * static_cast<size_t>(fused_width);
      const int32_t next = r + 1 < s.num_kept_rows ? batch.token_ids[row + 1] : s.next_token;
      if (next < 0) {  // the prompt goes on in the next chunk
        cache.pending.assign(hidden, hidden + fused_width);
        cache.pending_position = batch.positions[row];
        break;
      }
      fused.insert(fused.end(), hidden, hidden + fused_width);
      tokens.push_back(next);
      positions.push_back(batch.positions[row]);
    }
    const int m = static_cast<int>(tokens.size());
    if (m == 0) continue;
    // fc fuses the target's low, mid and high states into the head's width.
    state.resize(static_cast<size_t>(m) * h);
    cpu::matmul(ctx_, fused.data(), m, fused_width, weights_.fc, TensorView{}, state.data());
    out.resize(static_cast<size_t>(m) * h);
    const bool drafts_now = s.num_drafts > 0 && s.next_token >= 0;
    std::vector<int32_t>& mine = (*drafts)[i];
    int32_t draft = -1;
    forward(cache, state.data(), tokens.data(), positions.data(), m, out.data(), drafts_now ? &draft : nullptr);
    if (!drafts_now) continue;
    mine.push_back(draft);
    // The chain: the head's own output state and the draft before, one position on.
    std::vector<float> own(out.end() - h, out.end());
    int32_t position = positions.back();
    while (static_cast<int>(mine.size()) < s.num_drafts) {
      ++position;
      const int32_t previous = mine.back();
      forward(cache, own.data(), &previous, &position, 1, out.data(), &draft);
      std::copy_n(out.data(), h, own.data());
      mine.push_back(draft);
    }
  }
  return ok_status();
}

}  // namespace kiln
