// How the layers below cli/ see the environment: a lookup the CLI builds from getenv (DESIGN.md:
// only cli/ reads the environment), and tests build from a map.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace kiln {

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

}  // namespace kiln
