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
  parents.resize(keep);
  k.resize(keep * static_cast<size_t>(kv_width));
  v.resize(keep * static_cast<size_t>(kv_width));
}

std::vector<int32_t> CpuEagle3Drafter::cached_positions(int64_t seq_id) const {
  const auto it = sequences_.find(seq_id);
  return it == sequences_.end() ? std::vector<int32_t>{} : it->second.positions;
}

void CpuEagle3Drafter::forward(SequenceCache& cache, const float* state, const int32_t* tokens,
                               const int32_t* positions, int m, float* out, const int32_t* parents) {
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
  for (int r = 0; r < m; ++r) cache.parents.push_back(parents == nullptr ? kTargetEntry : parents[r]);
  // Target entries: the cache is one block whose slots are the entries in order, each new one
  // seeing all before it. Draft entries: each its own sequence of one-slot blocks listing what it
  // sees (the target entries, its ancestors, itself) in that order, which for a chain is every
  // entry in order, as above: the same keys in the same order, so the same bits.
  std::vector<int32_t> query_start = {0, m}, seq_lens = {total}, tables = {0};
  PagedAttentionMetadata meta;
  meta.num_seqs = 1;
  meta.max_blocks_per_seq = 1;
  meta.block_size = total;
  meta.max_seq_len = total;
  meta.max_query_len = m;
  if (parents != nullptr) {
    std::vector<std::vector<int32_t>> visible(static_cast<size_t>(m));
    size_t longest = 0;
    for (int r = 0; r < m; ++r) {
      std::vector<int32_t>& list = visible[static_cast<size_t>(r)];
      int entry = num_cached + r;
      for (; cache.parents[static_cast<size_t>(entry)] != kTargetEntry; entry = cache.parents[static_cast<size_t>(entry)]) {
        list.push_back(entry);
      }
      for (int e = entry; e >= 0; --e) list.push_back(e);  // the target entries up to the root's
      std::reverse(list.begin(), list.end());
      longest = std::max(longest, list.size());
    }
    query_start.assign(1, 0);
    seq_lens.clear();
    tables.assign(static_cast<size_t>(m) * longest, -1);
    for (int r = 0; r < m; ++r) {
      query_start.push_back(r + 1);
      seq_lens.push_back(static_cast<int32_t>(visible[static_cast<size_t>(r)].size()));
      std::copy(visible[static_cast<size_t>(r)].begin(), visible[static_cast<size_t>(r)].end(),
                tables.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(r) * longest));
    }
    meta.num_seqs = m;
    meta.max_blocks_per_seq = static_cast<int>(longest);
    meta.block_size = 1;
    meta.max_seq_len = static_cast<int>(longest);
    meta.max_query_len = 1;
  }
  meta.query_start = query_start.data();
  meta.seq_lens = seq_lens.data();
  meta.block_tables = tables.data();
  meta.num_tokens = m;
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
}

const std::vector<double>& CpuEagle3Drafter::draft_log_probs(const float* out_row) {
  const ModelConfig& c = config_.layer;
  cpu::rms_norm(ctx_, out_row, weights_.norm, 1, c.hidden_size, static_cast<float>(c.rms_norm_eps), normed_.data());
  logits_.resize(static_cast<size_t>(config_.draft_vocab_size));
  cpu::matmul(ctx_, normed_.data(), 1, c.hidden_size, weights_.lm_head, TensorView{}, logits_.data());
  const float max_logit = *std::max_element(logits_.begin(), logits_.end());
  double sum = 0;
  for (float x : logits_) sum += std::exp(static_cast<double>(x - max_logit));
  const double log_sum = std::log(sum);
  log_probs_.resize(logits_.size());
  for (size_t i = 0; i < logits_.size(); ++i) log_probs_[i] = static_cast<double>(logits_[i] - max_logit) - log_sum;
  return log_probs_;
}

Eagle3Draft CpuEagle3Drafter::draft_tree(SequenceCache& cache, const float* root_out, int32_t root_position,
                                         int num_drafts, int max_branches) {
  const int h = config_.layer.hidden_size;
  struct Node {
    int32_t draft_id;
    int parent;    // pool index, -1: the root
    double score;  // cumulative draft log-probability
  };
  std::vector<Node> pool;
  // The top k draft ids after an output row (ties to the lower id, as a greedy argmax), as
  // children of `parent`.
  const auto expand = [&](const float* out_row, int parent, std::vector<int>* children) {
    const std::vector<double>& lp = draft_log_probs(out_row);
    const int k = std::min<int>(max_branches, static_cast<int>(lp.size()));
    std::vector<int32_t> ids(lp.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return lp[static_cast<size_t>(a)] > lp[static_cast<size_t>(b)] || (lp[static_cast<size_t>(a)] == lp[static_cast<size_t>(b)] && a < b); });
    const double base = parent < 0 ? 0.0 : pool[static_cast<size_t>(parent)].score;
    for (int j = 0; j < k; ++j) {
      children->push_back(static_cast<int>(pool.size()));
      pool.push_back({ids[static_cast<size_t>(j)], parent, base + lp[static_cast<size_t>(ids[static_cast<size_t>(j)])]});
    }
  };
  // Levels: a chain's k drafts need k levels; a tree spends its budget on k children a level.
  const int depth = max_branches == 1 ? num_drafts : std::max(1, (num_drafts + max_branches - 1) / max_branches);
  std::vector<int> frontier, children;
  expand(root_out, -1, &frontier);
  std::vector<float> states, outs;
  std::vector<int32_t> tokens, positions, parents;
  const int root_entry = static_cast<int>(cache.positions.size()) - 1;
  std::vector<int> entry_of(pool.size(), -1);  // forwarded nodes' cache entries
  std::vector<float> out_of(static_cast<size_t>(frontier.size()) * h);  // frontier nodes' parents' output rows
  for (size_t f = 0; f < frontier.size(); ++f) std::copy_n(root_out, h, out_of.data() + f * h);
  for (int level = 2; level <= depth; ++level) {
    // Feed the frontier: each node's token with its parent's output state, one position on.
    const int m = static_cast<int>(frontier.size());
    tokens.clear();
    positions.clear();
    parents.clear();
    for (int node : frontier) {
      const Node& n = pool[static_cast<size_t>(node)];
      tokens.push_back(weights_.draft_to_target[static_cast<size_t>(n.draft_id)]);
      positions.push_back(root_position + level - 1);
      parents.push_back(n.parent < 0 ? root_entry : entry_of[static_cast<size_t>(n.parent)]);
    }
    const int first_entry = static_cast<int>(cache.positions.size());
    outs.resize(static_cast<size_t>(m) * h);
    forward(cache, out_of.data(), tokens.data(), positions.data(), m, outs.data(), parents.data());
    entry_of.resize(pool.size(), -1);
    for (int r = 0; r < m; ++r) entry_of[static_cast<size_t>(frontier[static_cast<size_t>(r)])] = first_entry + r;
    children.clear();
    for (int r = 0; r < m; ++r) expand(outs.data() + static_cast<size_t>(r) * h, frontier[static_cast<size_t>(r)], &children);
    entry_of.resize(pool.size(), -1);
    // The next frontier: the best k children (by score; earlier on ties) and their parents' rows.
    std::stable_sort(children.begin(), children.end(),
                     [&](int a, int b) { return pool[static_cast<size_t>(a)].score > pool[static_cast<size_t>(b)].score; });
    children.resize(std::min<size_t>(children.size(), static_cast<size_t>(max_branches)));
    std::sort(children.begin(), children.end());
    out_of.resize(children.size() * static_cast<size_t>(h));
    for (size_t f = 0; f < children.size(); ++f) {
      const int parent_row = static_cast<int>(std::find(frontier.begin(), frontier.end(), pool[static_cast<size_t>(children[f])].parent) - frontier.begin());
      std::copy_n(outs.data() + static_cast<size_t>(parent_row) * h, h, out_of.data() + f * h);
    }
    frontier = children;
  }
  // The best num_drafts nodes: a parent scores at least its child and comes earlier, so the chosen
  // nodes form a tree; in pool order parents precede children.
  std::vector<int> order(pool.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return pool[static_cast<size_t>(a)].score > pool[static_cast<size_t>(b)].score; });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(num_drafts)));
  std::sort(order.begin(), order.end());
  std::vector<int> index_of(pool.size(), -1);
  Eagle3Draft draft;
  for (int node : order) {
    const Node& n = pool[static_cast<size_t>(node)];
    index_of[static_cast<size_t>(node)] = static_cast<int>(draft.tokens.size());
    draft.tokens.push_back(weights_.draft_to_target[static_cast<size_t>(n.draft_id)]);
    draft.parents.push_back(n.parent < 0 ? -1 : index_of[static_cast<size_t>(n.parent)]);
  }
  return draft;
}

Status CpuEagle3Drafter::step(const ForwardBatch& batch, const float* target_hidden,
                              std::span<const Eagle3StepSequence> sequences, std::vector<Eagle3Draft>* drafts) {
  const int h = config_.layer.hidden_size;
  const int fused_width = 3 * config_.target_hidden_size;
  const int kv_width = config_.layer.kv_size();
  drafts->assign(sequences.size(), {});
  std::vector<float> fused, state, out;
  std::vector<int32_t> tokens, positions;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const Eagle3StepSequence& s = sequences[i];
    bool rows_ok = s.num_rows > 0 && s.first_row >= 0 && s.first_row + s.num_rows <= batch.num_tokens() &&
                   !s.kept_rows.empty() && s.kept_rows[0] == 0 && s.num_drafts >= 0 && s.max_branches >= 1;
    for (size_t r = 1; rows_ok && r < s.kept_rows.size(); ++r) {
      rows_ok = s.kept_rows[r] > s.kept_rows[r - 1] && s.kept_rows[r] < s.num_rows;
    }
    if (!rows_ok) {
      return Status::error("EAGLE-3 drafter: sequence " + std::to_string(s.seq_id) + " names rows [" +
                           std::to_string(s.first_row) + ", +" + std::to_string(s.num_rows) + ") keeping " +
                           std::to_string(s.kept_rows.size()) + " (from its first, ascending) of a batch of " +
                           std::to_string(batch.num_tokens()));
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
    for (size_t r = 0; r < s.kept_rows.size(); ++r) {
      const size_t row = static_cast<size_t>(s.first_row + s.kept_rows[r]);
      const float* hidden = target_hidden + row * static_cast<size_t>(fused_width);
      const int32_t next = r + 1 < s.kept_rows.size() ? batch.token_ids[static_cast<size_t>(s.first_row + s.kept_rows[r + 1])]
                                                      : s.next_token;
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
    forward(cache, state.data(), tokens.data(), positions.data(), m, out.data(), nullptr);
    if (s.num_drafts > 0 && s.next_token >= 0) {
      (*drafts)[i] = draft_tree(cache, out.data() + static_cast<size_t>(m - 1) * h, positions.back(), s.num_drafts,
                                s.max_branches);
    }
  }
  return ok_status();
}

}  // namespace kiln
