// KILN_CHECK: broken invariants abort with file:line and a message. Not for user input: that
// gets a Status (base/status.h).
#pragma once

#include <sstream>
#include <string>

namespace kiln::detail {

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& message);

// Collects the streamed message, then aborts in its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition)
      : file_(file), line_(line), condition_(condition) {}
  [[noreturn]] ~CheckFailure() { check_failed(file_, line_, condition_, stream_.str()); }
  std::ostream& stream() { return stream_; }

 private:
  const char* file_;
  int line_;
  const char* condition_;
  std::ostringstream stream_;
};

// Lets `KILN_CHECK(x) << "msg"` compile as an expression of type void.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace kiln::detail

#define KILN_CHECK(condition)                  \
  (condition) ? (void)0                        \
              : ::kiln::detail::Voidify() &    \
                    ::kiln::detail::CheckFailure(__FILE__, __LINE__, #condition).stream()

#define KILN_CHECK_EQ(a, b) KILN_CHECK((a) == (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
#define KILN_CHECK_LE(a, b) KILN_CHECK((a) <= (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
#define KILN_CHECK_LT(a, b) KILN_CHECK((a) < (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
