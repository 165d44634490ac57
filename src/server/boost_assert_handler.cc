// Boost's assertion handler for builds that keep assertions (the Debug and sanitizer builds;
// BOOST_ENABLE_ASSERT_DEBUG_HANDLER is set for every target that includes Beast, and release
// builds compile BOOST_ASSERT out). It aborts as assert() does, with one exception: Beast 1.74
// asserts `n >= 5` when it re-enters a chunked body's final chunk, but a body that is only
// "0\r\n" holds three bytes there, and a client whose last-chunk line and trailer arrive in
// separate reads reaches it with four. The code after the assertion handles that (it waits
// for more bytes), and upstream relaxed the assertion to n >= 3 for this case in 2024
// (boostorg/beast#2861). Without the exception, one hostile request aborts a Debug server;
// the fuzz target fuzz_http_request found it.
#include <boost/assert.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

namespace {

bool is_beast_final_chunk_assertion(const char* expr, const char* function, const char* file) {
  return std::strcmp(expr, "n >= 5") == 0 && std::strstr(function, "parse_chunk_header") != nullptr &&
         std::strstr(file, "beast/http/impl/basic_parser.ipp") != nullptr;
}

}  // namespace

void assertion_failed_msg(const char* expr, const char* msg, const char* function, const char* file, long line) {
  if (is_beast_final_chunk_assertion(expr, function, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed%s%s.\n", file, line, function, expr, msg ? ": " : "",
               msg ? msg : "");
  std::abort();
}

void assertion_failed(const char* expr, const char* function, const char* file, long line) {
  assertion_failed_msg(expr, nullptr, function, file, line);
}

}  // namespace boost
