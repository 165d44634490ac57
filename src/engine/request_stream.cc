#include "engine/request_stream.h"

namespace kiln {

Result<std::unique_ptr<RequestStream>> RequestStream::open(EngineClient* engine,
                                                           EngineRequest request) {
  auto shared = std::make_shared<Shared>();
  std::string id = request.request_id;
  Status status = engine->submit(std::move(request), [shared](RequestOutput output) {
    {
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (output.finished) shared->finished = true;
      shared->outputs.push_back(std::move(output));
    }
    shared->ready.notify_all();
  });
  if (!status.ok()) return status;
  return std::unique_ptr<RequestStream>(new RequestStream(engine, std::move(id), std::move(shared)));
}

RequestStream::~RequestStream() {
  bool finished;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    finished = shared_->finished;
  }
  if (!finished) engine_->abort(request_id_);
}

std::optional<RequestOutput> RequestStream::next() {
  if (done_) return std::nullopt;
  std::unique_lock<std::mutex> lock(shared_->mutex);
  shared_->ready.wait(lock, [&] { return !shared_->outputs.empty(); });
  RequestOutput out = std::move(shared_->outputs.front());
  shared_->outputs.pop_front();
  if (out.finished) done_ = true;
  return out;
}

}  // namespace kiln
