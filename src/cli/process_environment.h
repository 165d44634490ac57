// The process's environment as the EnvLookup every command passes down: the one getenv of kiln
// (DESIGN.md: only cli/ reads the environment).
#pragma once

#include "base/env_lookup.h"

namespace kiln::cli {

EnvLookup process_environment();

}  // namespace kiln::cli
