#include "cli/commands.h"

namespace kiln {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> kCommands = {
      {"serve", "Serve a model with an OpenAI-compatible API", run_serve_command},
      {"version", "Print kiln's version", run_version_command},
      {"synth", "Write a model directory with random weights of a config's shapes", run_synth_command},
      {"bench", "Benchmark the engine offline: kiln bench throughput --model DIR", run_bench_command},
      {"pull", "Download a model from the Hugging Face Hub into the shared cache", run_pull_command},
  };
  return kCommands;
}

}  // namespace kiln
