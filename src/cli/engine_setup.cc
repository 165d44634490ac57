#include "cli/engine_setup.h"

#include "engine/tokenizer_adapters.h"
#include "tokenizer/generation_config.h"

namespace kiln {

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
