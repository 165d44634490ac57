#pragma once

namespace kiln {
inline constexpr const char* kKilnVersion = "0.1.0";
}  // namespace kiln
