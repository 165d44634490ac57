// A blocking reader of one request's outputs, for the CLI and the benchmark: submit through any
// EngineClient, then call next() until it returns nullopt. Destroying an unfinished stream
// aborts the request.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/status.h"
#include "engine/engine_client.h"

namespace kiln {

class RequestStream {
 public:
  static Result<std::unique_ptr<RequestStream>> open(EngineClient* engine, EngineRequest request);
  ~RequestStream();
  RequestStream(const RequestStream&) = delete;
  RequestStream& operator=(const RequestStream&) = delete;

  // The next output, blocking until it comes; nullopt after the finished one was returned.
  std::optional<RequestOutput> next();
  const std::string& request_id() const { return request_id_; }

 private:
  struct Shared {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<RequestOutput> outputs;
    bool finished = false;  // the finished output has been queued
  };
  RequestStream(EngineClient* engine, std::string request_id, std::shared_ptr<Shared> shared)
      : engine_(engine), request_id_(std::move(request_id)), shared_(std::move(shared)) {}

  EngineClient* engine_;
  std::string request_id_;
  std::shared_ptr<Shared> shared_;  // also held by the engine's callback
  bool done_ = false;
};

}  // namespace kiln
