#include "tokenizer/bpe_model.h"

#include <climits>
#include <queue>

namespace kiln::tokenizer {
namespace {

// Words up to this many bytes merge with a flat array and a linear scan for the best pair,
// which beats a heap for the short words that make up nearly all text.
constexpr size_t kMaxSmallWordBytes = 128;

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::create(
    std::vector<std::string> token_bytes, const std::vector<std::pair<int32_t, int32_t>>& merges,
    bool ignore_merges, const std::string& where) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  model->ignore_merges_ = ignore_merges;
  model->id_of_byte_.fill(-1);
  model->token_bytes_ = std::move(token_bytes);
  const std::vector<std::string>& all_bytes = model->token_bytes_;
  model->id_of_bytes_.reserve(all_bytes.size());
  for (size_t id = 0; id < all_bytes.size(); ++id) {
    const std::string& bytes = all_bytes[id];
    if (bytes.empty()) continue;
    if (bytes.size() == 1) model->id_of_byte_[static_cast<unsigned char>(bytes[0])] = id;
    model->id_of_bytes_.insert(bytes, static_cast<int32_t>(id));
  }
  model->merges_.reserve(merges.size());
  std::string merged;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto [left, right] = merges[rank];
    merged = all_bytes.at(left);
    merged += all_bytes.at(right);
    const int32_t merged_id = model->id_of_bytes_.find(merged);
    if (merged_id < 0) {
      return Status::error(where + ": model.merges[" + std::to_string(rank) + "] joins ids " +
                           std::to_string(left) + " and " + std::to_string(right) +
                           " into a token that is not in model.vocab");
    }
    model->merges_.insert(left, right, {static_cast<int32_t>(rank), merged_id});
  }
  return model;
}

std::optional<int32_t> BpeModel::id_of_bytes(std::string_view bytes) const {
  const int32_t id = id_of_bytes_.find(bytes);
  if (id < 0) return std::nullopt;
  return id;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    // A byte the vocabulary lacks is dropped, as HF's BPE does without an unk_token.
    const int32_t id = id_of_byte_[static_cast<unsigned char>(word[0])];
    if (id >= 0) ids->push_back(id);
    return;
  }
  if (ignore_merges_) {
    const int32_t id = id_of_bytes_.find(word);
    if (id >= 0) {
      ids->push_back(id);
      return;
    }
  }
  const bool cacheable = word.size() <= WordCache::kMaxWordBytes;
  if (cacheable && cache_.get(word, ids)) return;
  const size_t first = ids->size();
  if (word.size() <= kMaxSmallWordBytes) {
    merge_small(word, ids);
  } else {
    merge_large(word, ids);
  }
  if (cacheable) cache_.put(word, ids->data() + first, ids->size() - first);
}

void BpeModel::merge_small(std::string_view word, std::vector<int32_t>* ids) const {
  int32_t symbols[kMaxSmallWordBytes];
  // pair_merges[i]: the merge of symbols[i] and symbols[i + 1].
  PairMerges::Merge pair_merges[kMaxSmallWordBytes];
  size_t n = 0;
  for (char byte : word) {
    const int32_t id = id_of_byte_[static_cast<unsigned char>(byte)];
    if (id >= 0) symbols[n++] = id;
  }
  for (size_t i = 0; i + 1 < n; ++i) pair_merges[i] = merges_.find(symbols[i], symbols[i + 1]);
  while (n > 1) {
    size_t best = n;
    int32_t best_rank = INT_MAX;
    for (size_t i = 0; i + 1 < n; ++i) {
      const int32_t rank = pair_merges[i].rank;
      if (rank >= 0 && rank < best_rank) {
        best_rank = rank;
        best = i;
      }
    }
    if (best == n) break;
    symbols[best] = pair_merges[best].merged_id;
    for (size_t j = best + 1; j + 1 < n; ++j) symbols[j] = symbols[j + 1];
    for (size_t j = best + 1; j + 2 < n; ++j) pair_merges[j] = pair_merges[j + 1];
    --n;
    if (best > 0) pair_merges[best - 1] = merges_.find(symbols[best - 1], symbols[best]);
    if (best + 1 < n) pair_merges[best] = merges_.find(symbols[best], symbols[best + 1]);
  }
  ids->insert(ids->end(), symbols, symbols + n);
}

void BpeModel::merge_large(std::string_view word, std::vector<int32_t>* ids) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;  // index of the left symbol
    int32_t merged_id;
    // Lowest rank first, then leftmost.
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (char byte : word) {
    const int32_t id = id_of_byte_[static_cast<unsigned char>(byte)];
    if (id < 0) continue;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const PairMerges::Merge merge = merges_.find(symbols[left].id, symbols[right].id);
    if (merge.rank >= 0) queue.push({merge.rank, left, merge.merged_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    // Stale entry: one of the two symbols was merged into something else since.
    const PairMerges::Merge merge = merges_.find(left.id, right.id);
    if (merge.rank != top.rank || merge.merged_id != top.merged_id) continue;
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace kiln::tokenizer
