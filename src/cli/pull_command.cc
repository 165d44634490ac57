// kiln pull REPO_ID: downloads a model from the Hugging Face Hub into the huggingface_hub cache
// and prints the snapshot folder on stdout (so `kiln serve $(kiln pull org/name)` works).
#include <cstdio>

#include "base/byte_size.h"
#include "cli/commands.h"
#include "cli/flag_parser.h"
#include "cli/process_environment.h"
#include "hub/hub_config.h"
#include "hub/pull.h"

namespace kiln::cli {
int run_pull_command(const CommandArgs& args) {
  hub::PullOptions options;
  std::optional<std::string> token;
  std::optional<std::string> cache_dir;
  std::vector<std::string> positionals;
  bool quiet = false;
  FlagParser parser("pull", "Download a model from the Hugging Face Hub into the shared cache");
  parser.add_string("revision", &options.revision, "branch, tag or commit to download");
  parser.add_repeated("include", &options.include_patterns,
                      "also download repo files matching this glob (fnmatch; repeatable), e.g. "
                      "'*.gguf' or 'original/*'");
  parser.add_optional_string("token", &token,
                             "Hugging Face token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, "
                             "then $HF_HOME/token)");
  parser.add_optional_string("cache-dir", &cache_dir,
                             "hub cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub)");
  parser.add_int("max-parallel-files", &options.max_parallel_files, "files downloaded at once");
  parser.add_bool("quiet", &quiet, "no progress bars");
  parser.allow_positionals(&positionals, "REPO_ID");
  if (Status status = parser.parse(args); !status.ok()) {
    std::fprintf(stderr, "kiln pull: %s\n", status.message().c_str());
    return 2;
  }
  if (parser.help_requested()) {
    std::fprintf(stdout, "%s", parser.help_text().c_str());
    return 0;
  }
  if (positionals.size() != 1) {
    std::fprintf(stderr, "kiln pull: expected one REPO_ID such as "
                         "deepseek-ai/DeepSeek-R1-Distill-Llama-8B (see kiln pull --help)\n");
    return 2;
  }
  if (options.max_parallel_files < 1 || options.max_parallel_files > 64) {
    std::fprintf(stderr, "kiln pull: --max-parallel-files must be between 1 and 64\n");
    return 2;
  }
  options.show_progress = !quiet;
  Result<hub::HubConfig> config = hub::make_hub_config(process_environment(), hub::HubConfigOverrides{token, cache_dir});
  if (!config.ok()) {
    std::fprintf(stderr, "kiln pull: %s\n", config.message().c_str());
    return 2;
  }
  if (Status status = hub::apply_hub_timeouts(process_environment(), &options); !status.ok()) {
    std::fprintf(stderr, "kiln pull: %s\n", status.message().c_str());
    return 2;
  }
  Result<hub::PullResult> result = hub::pull_model(positionals[0], *config, options);
  if (!result.ok()) {
    std::fprintf(stderr, "kiln pull: %s\n", hub::redact_token(result.message(), *config).c_str());
    return 1;
  }
  std::fprintf(stderr, "%s: %d files (%d downloaded, %s) at commit %s\n", positionals[0].c_str(),
               result->num_files, result->num_downloaded,
               format_bytes(result->downloaded_bytes).c_str(), result->commit.c_str());
  std::fprintf(stdout, "%s\n", result->snapshot_dir.string().c_str());
  return 0;
}

}  // namespace kiln::cli
