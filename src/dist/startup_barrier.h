// The ranks of a tensor-parallel group (threads of one process) meeting before their first
// collective, each with the result of its start so far. A rank that failed to start (out of GPU
// memory, a tensor it could not upload) still arrives, from its error path, so the others learn
// of it here instead of waiting forever inside a collective that rank will never join.
//
//   // rank r, just before the first collective:
//   KILN_RETURN_IF_ERROR(barrier.arrive(r, ok_status()));
//   // rank r, on an error before that point:
//   if (!barrier.has_arrived(r)) barrier.arrive(r, error);
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "base/status.h"

namespace kiln::dist {

class StartupBarrier {
 public:
  explicit StartupBarrier(int size);

  // Once per rank: waits for every rank, then returns `status` if it failed, else an error naming
  // the first rank (in rank order) that failed, else ok.
  Status arrive(int rank, const Status& status);
  bool has_arrived(int rank) const;
  // The first failed rank's own error, prefixed with its rank; nullopt when none failed.
  std::optional<Status> first_failure() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable all_arrived_;
  int size_;
  int num_arrived_ = 0;
  std::vector<bool> arrived_;
  std::vector<Status> statuses_;
};

}  // namespace kiln::dist
