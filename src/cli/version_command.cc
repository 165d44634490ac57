#include <cstdio>

#include "cli/commands.h"
#include "cli/version.h"

namespace kiln::cli {

int run_version_command(const CommandArgs& args) {
  std::printf("kiln %s\n", kKilnVersion);
  return 0;
}

}  // namespace kiln::cli
