#include "engine/engine_builder.h"

#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "engine/model_backend.h"

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
  Status launch(const StepInput& input) override {
    for (int32_t p : input.batch.positions) {
      if (p >= position_) {
        return Status::error("injected backend fault (KILN_TEST_FAIL_AT_POSITION=" + std::to_string(position_) +
                             "): the step holds a token at position " + std::to_string(p));
      }
    }
    return inner_->launch(input);
  }
  Status collect(StepResult* result) override { return inner_->collect(result); }
  bool runs_asynchronously() const override { return inner_->runs_asynchronously(); }
  double device_busy_seconds() const override { return inner_->device_busy_seconds(); }

 private:
  std::unique_ptr<ModelExecutor> inner_;
  int position_;
};

}  // namespace

Result<RunningEngine> build_engine(const std::filesystem::path& model_dir, const ResolvedEngineArgs& resolved,
                                   const GenerationDefaults& generation_defaults, DetokenizerFactory detokenizer,
                                   std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer) {
  const EngineArgs& args = resolved.args;
  const SpeculativeConfig& speculative = args.speculative;
  if (speculative.method == "oracle" && !make_draft_proposer) {
    return Status::error("--speculative-config: method oracle drafts recorded outputs; it runs in kiln bench latency only");
  }
  if (speculative.method == "eagle3" && resolved.device != "cpu") {
    return Status::error("--speculative-config: method eagle3 runs on the CPU backend so far (--device cpu); "
                         "on " + resolved.device + " use ngram or suffix");
  }
  KILN_ASSIGN_OR_RETURN(ModelBackend backend, create_model_backend(model_dir, resolved));
  EngineConfig config;
  config.scheduler.max_num_batched_tokens = resolved.max_num_batched_tokens;
  config.scheduler.max_num_seqs = args.max_num_seqs;
  config.scheduler.max_model_len = resolved.max_model_len;
  config.block_size = args.block_size;
  config.num_blocks = backend.plan.num_blocks;
  config.enable_prefix_caching = args.enable_prefix_caching;
  config.seed = args.seed;
  config.async_scheduling = args.async_scheduling;
  config.generation_defaults = generation_defaults;
  config.speculative = speculative;
  config.make_draft_proposer = std::move(make_draft_proposer);
  if (speculative.draft_tree_topk > 1 && resolved.device != "cpu" && !args.cuda_spec_trees) {
    KILN_LOG(Warning) << "Speculative decoding: draft trees (draft_tree_topk " << speculative.draft_tree_topk
                      << ") on the " << resolved.device
                      << " backend need KILN_CUDA_SPEC_TREES=1 (off until its GPU tests have run); drafting chains "
                         "(draft_tree_topk 1)";
    config.speculative.draft_tree_topk = 1;
  }
  if (speculative.enabled()) {
    KILN_LOG(Info) << "Speculative decoding: method " << speculative.method << ", up to "
                   << speculative.num_speculative_tokens << " draft tokens per step"
                   << (config.speculative.draft_tree_topk > 1
                           ? " (a tree of up to " + std::to_string(config.speculative.draft_tree_topk) + " children per node)"
                           : std::string())
                   << " while at most "
                   << speculative.batch_size_limit() << " sequences run";
  }
  if (args.test_fail_at_position) {
    KILN_LOG(Warning) << "KILN_TEST_FAIL_AT_POSITION=" << *args.test_fail_at_position
                      << ": test-only fault injection is on; steps reaching that position fail";
    backend.executor = std::make_unique<FailAtPositionExecutor>(std::move(backend.executor),
                                                                *args.test_fail_at_position);
  }
  RunningEngine running;
  running.host_weights = std::move(backend.host_weights);
  running.config = backend.config;
  running.plan = backend.plan;
  running.device = backend.device;
  running.device_name = backend.device_name;
  running.device_memory_bytes = backend.device_memory_bytes;
  running.executor = backend.executor.get();
  running.engine = std::make_unique<Engine>(config, std::move(backend.executor), std::move(detokenizer));
  return running;
}

}  // namespace kiln
