#include "cli/engine_setup.h"

#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "engine/tokenizer_adapters.h"
#include "tokenizer/generation_config.h"

namespace kiln {
namespace {

// Test-only fault injection, installed only when KILN_TEST_FAIL_AT_POSITION is set: the e2e
// suite has no other way to make the CPU backend fail a request after its stream began (the
// engine fails a request only when its step's forward fails).
class FailAtPositionExecutor : public ModelExecutor {
 public:
  FailAtPositionExecutor(std::unique_ptr<ModelExecutor> inner, int position)
      : inner_(std::move(inner)), position_(position) {}
  int vocab_size() const override { return inner_->vocab_size(); }
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    for (int32_t p : batch.positions) {
      if (p >= position_) {
        return Status::error("injected backend fault (KILN_TEST_FAIL_AT_POSITION=" + std::to_string(position_) +
                             "): the step holds a token at position " + std::to_string(p));
      }
    }
    return inner_->execute(batch, logits);
  }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  int position_;
};

}  // namespace

Result<RunningEngine> start_engine(const std::filesystem::path& model_dir, const EngineSetupOptions& options,
                                   std::shared_ptr<const Tokenizer> tokenizer) {
  KILN_ASSIGN_OR_RETURN(ModelBackend backend, create_model_backend(model_dir, options.backend));
  EngineConfig config;
  config.scheduler.max_num_batched_tokens = options.backend.max_num_batched_tokens;
  config.scheduler.max_num_seqs = options.backend.max_num_seqs;
  config.scheduler.max_model_len = backend.plan.max_model_len;
  config.block_size = options.backend.block_size;
  config.num_blocks = backend.plan.num_blocks;
  config.enable_prefix_caching = options.enable_prefix_caching;
  config.seed = options.seed;
  if (options.test_fail_at_position) {
    KILN_LOG(Warning) << "KILN_TEST_FAIL_AT_POSITION=" << *options.test_fail_at_position
                      << ": test-only fault injection is on; steps reaching that position fail";
    backend.executor = std::make_unique<FailAtPositionExecutor>(std::move(backend.executor),
                                                                *options.test_fail_at_position);
  }
  if (options.generation_config == "vllm") {
    config.generation_defaults = generation_defaults_from_model(backend.config);
  } else {
    const std::filesystem::path folder =
        options.generation_config == "auto" ? model_dir : std::filesystem::path(options.generation_config);
    const std::filesystem::path file = folder / "generation_config.json";
    if (std::filesystem::exists(file)) {
      KILN_ASSIGN_OR_RETURN(GenerationConfig generation, load_generation_config(file));
      config.generation_defaults = generation_defaults_from(generation, backend.config);
    } else if (options.generation_config != "auto") {
      return Status::error("--generation-config " + options.generation_config + ": no generation_config.json there");
    } else {
      config.generation_defaults = generation_defaults_from_model(backend.config);
    }
  }
  RunningEngine running;
  running.host_weights = std::move(backend.host_weights);
  running.config = backend.config;
  running.plan = backend.plan;
  running.device = backend.device;
  running.device_name = backend.device_name;
  running.device_memory_bytes = backend.device_memory_bytes;
  running.executor = backend.executor.get();
  running.engine = std::make_unique<Engine>(config, std::move(backend.executor),
                                            tokenizer ? make_detokenizer_factory(tokenizer) : nullptr);
  return running;
}

}  // namespace kiln
