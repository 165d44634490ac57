#include "cli/commands.h"

namespace kiln::cli {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> kCommands = {
      {"serve", "Serve a model with an OpenAI-compatible API", run_serve_command},
      {"generate", "Generate from one prompt offline: kiln generate --model DIR --chat TEXT", run_generate_command},
      {"tokenize", "Print a prompt's token ids, or a chat rendered by the model's template", run_tokenize_command},
      {"version", "Print kiln's version", run_version_command},
      {"synth", "Write a model directory with random weights of a config's shapes", run_synth_command},
      {"bench", "Benchmark the engine offline: kiln bench throughput --model DIR", run_bench_command},
      {"pull", "Download a model from the Hugging Face Hub into the shared cache", run_pull_command},
  };
  return kCommands;
}

}  // namespace kiln::cli
