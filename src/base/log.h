// Logging in vLLM's line format, "INFO 11-29 01:45:00 [engine.cc:42] message", so that users'
// log searches and dashboards built on vLLM's lines keep working. Thread-safe: each line is
// written with one call.
#pragma once

#include <sstream>
#include <string>

namespace kiln {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// The minimum level printed; set once by the CLI from --log-level / KILN_LOG_LEVEL.
void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(const std::string& name, LogLevel* level);

namespace detail {
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};
}  // namespace detail

}  // namespace kiln

#define KILN_LOG(level)                                               \
  if (::kiln::LogLevel::k##level < ::kiln::log_level()) {             \
  } else                                                              \
    ::kiln::detail::LogLine(::kiln::LogLevel::k##level, __FILE__, __LINE__).stream()
