#include "dist/thread_communicator.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "dist/rank_order_sum.h"

namespace kiln::dist {

class ThreadGroup::RankCommunicator final : public Communicator {
 public:
  RankCommunicator(ThreadGroup* group, int rank) : group_(group), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return group_->world_size(); }

  void all_reduce_sum(float* data, size_t count) override {
    const int n = world_size();
    publish(data);
    // This rank's share of the elements, summed across every rank's buffer and written back to
    // all of them; nobody else touches these elements until the closing barrier.
    const size_t share = (count + static_cast<size_t>(n) - 1) / static_cast<size_t>(n);
    const size_t begin = std::min(count, share * static_cast<size_t>(rank_));
    const size_t end = std::min(count, begin + share);
    std::vector<const float*> inputs(static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) inputs[static_cast<size_t>(r)] = static_cast<const float*>(group_->buffers_[static_cast<size_t>(r)]);
    if (begin < end) {
      rank_order_sum(inputs.data(), n, begin, end, data);
      for (int r = 0; r < n; ++r) {
        if (r == rank_) continue;
        float* peer = static_cast<float*>(group_->buffers_[static_cast<size_t>(r)]);
        std::memcpy(peer + begin, data + begin, (end - begin) * sizeof(float));
      }
    }
    group_->barrier_.arrive_and_wait();
  }

  void all_gather(const float* send, size_t count, float* recv) override {
    publish(const_cast<float*>(send));
    for (int r = 0; r < world_size(); ++r) {
      std::memcpy(recv + static_cast<size_t>(r) * count, group_->buffers_[static_cast<size_t>(r)], count * sizeof(float));
    }
    group_->barrier_.arrive_and_wait();
  }

  void broadcast(void* data, size_t bytes, int root) override {
    KILN_CHECK(root >= 0 && root < world_size()) << "broadcast from rank " << root;
    publish(data);
    if (rank_ != root) std::memcpy(data, group_->buffers_[static_cast<size_t>(root)], bytes);
    group_->barrier_.arrive_and_wait();
  }

 private:
  // Hands `buffer` to the group and waits until every rank has handed in its own.
  void publish(void* buffer) {
    group_->buffers_[static_cast<size_t>(rank_)] = buffer;
    group_->barrier_.arrive_and_wait();
  }

  ThreadGroup* group_;
  int rank_;
};

ThreadGroup::ThreadGroup(int world_size) : barrier_(world_size), buffers_(static_cast<size_t>(world_size)) {
  KILN_CHECK(world_size >= 1) << "a group of " << world_size << " ranks";
  for (int r = 0; r < world_size; ++r) communicators_.push_back(std::make_unique<RankCommunicator>(this, r));
}

ThreadGroup::~ThreadGroup() = default;

Communicator* ThreadGroup::communicator(int rank) const {
  KILN_CHECK(rank >= 0 && rank < world_size()) << "rank " << rank << " of " << world_size();
  return communicators_[static_cast<size_t>(rank)].get();
}

}  // namespace kiln::dist
