#pragma once

namespace kiln::cli {
inline constexpr const char* kKilnVersion = "0.1.0";
}  // namespace kiln::cli
