// The subcommands of the kiln binary. Each takes its arguments (after the command name) and
// returns the process exit code: 0 on success, 1 when the work failed, 2 for usage errors (wrong
// flags, missing files, unsupported models), always after a one-line message on stderr.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

using CommandArgs = std::vector<std::string>;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const CommandArgs& args);
};

// All commands, in the order `kiln --help` lists them.
const std::vector<Command>& all_commands();

int run_version_command(const CommandArgs& args);
int run_bench_command(const CommandArgs& args);
int run_bench_latency(const CommandArgs& args);  // `kiln bench latency`, cli/bench_latency.cc
int run_serve_command(const CommandArgs& args);
int run_synth_command(const CommandArgs& args);
int run_pull_command(const CommandArgs& args);
int run_generate_command(const CommandArgs& args);
int run_tokenize_command(const CommandArgs& args);

}  // namespace kiln::cli
