// Byte sizes as users write them on the command line ("2GiB", "512MiB", "24GB", "1073741824")
// and as logs print them ("14.99 GiB").
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace kiln {

// Accepts an integer or decimal number followed by an optional unit: B, KB, MB, GB, TB (powers
// of 1000), KiB, MiB, GiB, TiB (powers of 1024), or K/M/G/T (taken as the binary units, as
// Kubernetes and vLLM's --kv-cache-memory do). Case-insensitive.
Result<int64_t> parse_byte_size(const std::string& text);

// "14.99 GiB" with two decimals.
std::string format_gib(int64_t bytes);

// The largest fitting unit with one decimal: "512.0 MiB", "3.2 GiB", "12 B".
std::string format_bytes(int64_t bytes);

}  // namespace kiln
