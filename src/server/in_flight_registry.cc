#include "server/in_flight_registry.h"

namespace kiln::server {

uint64_t InFlightRegistry::add(Cancel cancel) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = next_id_++;
  cancels_.emplace(id, std::move(cancel));
  return id;
}

void InFlightRegistry::remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  cancels_.erase(id);
}

void InFlightRegistry::cancel_all(const std::string& reason) {
  std::unordered_map<uint64_t, Cancel> cancels;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancels.swap(cancels_);
  }
  // Outside the lock: a cancel posts work that may remove itself (a no-op by then).
  for (auto& [id, cancel] : cancels) cancel(reason);
}

size_t InFlightRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancels_.size();
}

}  // namespace kiln::server
