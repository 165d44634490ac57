#include "base/byte_size.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln {

Result<int64_t> parse_byte_size(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) {
    ++pos;
  }
  const std::string number = text.substr(0, pos);
  std::string unit = text.substr(pos);
  unit.erase(std::remove_if(unit.begin(), unit.end(), ::isspace), unit.end());
  std::transform(unit.begin(), unit.end(), unit.begin(), ::tolower);
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1) {
    return Status::error("'" + text + "' is not a byte size (examples: 2GiB, 512MiB, 24GB)");
  }
  const double value = std::strtod(number.c_str(), nullptr);
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else if (unit == "k" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else {
    return Status::error("'" + text + "' has an unknown unit '" + unit +
                         "' (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
  }
  const double bytes = value * scale;
  if (!std::isfinite(bytes) || bytes > 9.0e18) {
    return Status::error("'" + text + "' is too large");
  }
  return static_cast<int64_t>(std::llround(bytes));
}

std::string format_gib(int64_t bytes) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buffer;
}

std::string format_bytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (std::fabs(value) >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buffer[64];
  if (unit == 0) std::snprintf(buffer, sizeof(buffer), "%lld B", static_cast<long long>(bytes));
  else std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

}  // namespace kiln
