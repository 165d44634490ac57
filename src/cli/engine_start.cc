#include "cli/engine_start.h"

#include "cli/engine_flags.h"
#include "cli/process_environment.h"
#include "cli/tokenizer_adapters.h"
#include "engine/model_backend.h"
#include "hub/hub_config.h"
#include "hub/pull.h"
#include "tokenizer/generation_config.h"

namespace kiln::cli {
namespace {

// An EAGLE-3 head named by a repo id comes through the Hub client (and its cache) like the model.
Result<ResolvedEngineArgs> with_local_draft_head(ResolvedEngineArgs resolved) {
  SpeculativeConfig& speculative = resolved.args.speculative;
  std::error_code error;
  if (speculative.method != "eagle3" || std::filesystem::is_directory(speculative.model, error)) return resolved;
  const EnvLookup env = process_environment();
  KILN_ASSIGN_OR_RETURN(hub::HubConfig hub_config, hub::make_hub_config(env, {}));
  hub::PullOptions pull;
  KILN_RETURN_IF_ERROR(hub::apply_hub_timeouts(env, &pull));
  auto dir = hub::resolve_model(speculative.model, hub_config, pull);
  if (!dir.ok()) return Status::error("--speculative-config: model: " + hub::redact_token(dir.message(), hub_config));
  speculative.model = dir->string();
  return resolved;
}

}  // namespace

Result<GenerationDefaults> load_generation_defaults(const std::filesystem::path& model_dir, const std::string& flag,
                                                    const ModelConfig& model) {
  if (flag == "vllm") return generation_defaults_from_model(model);
  const std::filesystem::path folder = flag == "auto" ? model_dir : std::filesystem::path(flag);
  const std::filesystem::path file = folder / "generation_config.json";
  if (std::filesystem::exists(file)) {
    KILN_ASSIGN_OR_RETURN(tokenizer::GenerationConfig generation, tokenizer::load_generation_config(file));
    return generation_defaults_from(generation, model);
  }
  if (flag != "auto") return Status::error("--generation-config " + flag + ": no generation_config.json there");
  return generation_defaults_from_model(model);
}

Result<RunningEngine> start_engine(const std::filesystem::path& model_dir, const ModelConfig& model,
                                   const ResolvedEngineArgs& resolved, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                   std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer) {
  KILN_ASSIGN_OR_RETURN(GenerationDefaults defaults,
                        load_generation_defaults(model_dir, resolved.args.generation_config, model));
  KILN_ASSIGN_OR_RETURN(ResolvedEngineArgs local, with_local_draft_head(resolved));
  return build_engine(model_dir, local, defaults, tokenizer ? make_detokenizer_factory(std::move(tokenizer)) : nullptr,
                      std::move(make_draft_proposer));
}

Result<RunningEngine> start_engine_from_args(const std::filesystem::path& model_dir, EngineArgs args,
                                             std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                             std::function<std::unique_ptr<DraftProposer>()> make_draft_proposer) {
  KILN_RETURN_IF_ERROR(read_engine_environment(process_environment(), &args));
  KILN_ASSIGN_OR_RETURN(ModelConfig model, load_model_config(model_dir / "config.json"));
  KILN_ASSIGN_OR_RETURN(ResolvedEngineArgs resolved, resolve_engine_args(args, model, detect_devices()));
  return start_engine(model_dir, model, resolved, std::move(tokenizer), std::move(make_draft_proposer));
}

}  // namespace kiln::cli
