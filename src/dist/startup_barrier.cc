#include "dist/startup_barrier.h"

#include <string>

#include "base/check.h"

namespace kiln::dist {

StartupBarrier::StartupBarrier(int size)
    : size_(size), arrived_(static_cast<size_t>(size), false), statuses_(static_cast<size_t>(size)) {}

Status StartupBarrier::arrive(int rank, const Status& status) {
  std::unique_lock<std::mutex> lock(mutex_);
  KILN_CHECK(rank >= 0 && rank < size_ && !arrived_[static_cast<size_t>(rank)]) << "rank " << rank << " arrives twice";
  arrived_[static_cast<size_t>(rank)] = true;
  statuses_[static_cast<size_t>(rank)] = status;
  if (++num_arrived_ == size_) {
    all_arrived_.notify_all();
  } else {
    all_arrived_.wait(lock, [&] { return num_arrived_ == size_; });
  }
  if (!status.ok()) return status;
  for (int r = 0; r < size_; ++r) {
    if (!statuses_[static_cast<size_t>(r)].ok()) {
      return Status::error("stopped: tensor-parallel rank " + std::to_string(r) + " failed to start");
    }
  }
  return ok_status();
}

bool StartupBarrier::has_arrived(int rank) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return arrived_[static_cast<size_t>(rank)];
}

std::optional<Status> StartupBarrier::first_failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (int r = 0; r < size_; ++r) {
    const Status& status = statuses_[static_cast<size_t>(r)];
    if (!status.ok()) return status.with_context("tensor-parallel rank " + std::to_string(r));
  }
  return std::nullopt;
}

}  // namespace kiln::dist
