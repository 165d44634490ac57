// The tensor-parallel group of the CPU backend: one rank per thread of one process, collectives
// through shared memory. Each rank publishes its buffer's address, the ranks meet at a barrier,
// each rank reduces its share of the elements across every rank's buffer (rank_order_sum) and
// writes the sum back into all of them, and a second barrier ends the call (the two-shot
// algorithm: every element is summed once, by one rank, in rank order). CI runs tensor
// parallelism on the CPU through it; the GPU ranks use NCCL and the custom all-reduce instead.
//
//   ThreadGroup group(4);
//   // in rank r's thread:
//   group.communicator(r)->all_reduce_sum(partial, count);
#pragma once

#include <barrier>
#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace kiln::dist {

class ThreadGroup {
 public:
  explicit ThreadGroup(int world_size);
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  int world_size() const { return static_cast<int>(communicators_.size()); }
  // Rank `rank`'s communicator, owned by the group; only that rank's thread calls it.
  Communicator* communicator(int rank) const;

 private:
  class RankCommunicator;

  std::barrier<> barrier_;
  // Per rank, the buffer it handed to the collective in progress.
  std::vector<void*> buffers_;
  std::vector<std::unique_ptr<RankCommunicator>> communicators_;
};

}  // namespace kiln::dist
