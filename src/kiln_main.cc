// The kiln binary: dispatches to a subcommand (cli/commands.h).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

void print_usage() {
  std::fprintf(stderr, "usage: kiln COMMAND [flags]   (kiln COMMAND --help for its flags)\n\ncommands:\n");
  for (const kiln::cli::Command& command : kiln::cli::all_commands()) {
    std::fprintf(stderr, "  %-10s %s\n", command.name, command.summary);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) return kiln::cli::run_version_command({});
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const kiln::cli::Command& command : kiln::cli::all_commands()) {
    if (argv[1] == std::string(command.name)) return command.run(args);
  }
  std::fprintf(stderr, "kiln: unknown command '%s' (see kiln --help)\n", argv[1]);
  return 2;
}
