// The generation requests whose responses have not ended, each with a way to end it early. When
// the drain timeout passes, the server ends every one of them with an error (an SSE error event
// and [DONE] for streams) instead of cutting the connections mid-stream.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace kiln::server {

class InFlightRegistry {
 public:
  // Called at most once, from the thread that calls cancel_all; it must only post work to the
  // request's own strand.
  using Cancel = std::function<void(const std::string& reason)>;

  uint64_t add(Cancel cancel);
  void remove(uint64_t id);
  // Calls every registered cancel with `reason` and forgets them.
  void cancel_all(const std::string& reason);
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Cancel> cancels_;
};

}  // namespace kiln::server
