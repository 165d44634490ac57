# Sanitizer and fuzzing builds (CI runs both: scripts/run-sanitizers.sh).
#   -DKILN_SANITIZE=address,undefined   ASan + UBSan (LeakSanitizer included); UB is fatal
#   -DKILN_SANITIZE=thread              TSan
#   -DKILN_FUZZ=ON                      libFuzzer targets of tests/fuzz (clang only); every
#                                       library gets coverage instrumentation
# Sanitized builds leave the CUDA backend out (-DKILN_CUDA=OFF): its code runs on a GPU.
set(KILN_SANITIZE "" CACHE STRING "Sanitizers for every target: address,undefined or thread (empty: none)")
option(KILN_FUZZ "Build the libFuzzer targets of tests/fuzz (needs clang)" OFF)

if(KILN_SANITIZE)
  if(NOT KILN_SANITIZE MATCHES "^(address|undefined|address,undefined|undefined,address|thread)$")
    message(FATAL_ERROR "KILN_SANITIZE=${KILN_SANITIZE}: expected address,undefined or thread")
  endif()
  set(kiln_sanitize_flags -fsanitize=${KILN_SANITIZE} -fno-omit-frame-pointer)
  if(KILN_SANITIZE MATCHES "undefined")
    # A report fails the test that caused it instead of scrolling past.
    list(APPEND kiln_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${kiln_sanitize_flags}>")
  add_link_options(${kiln_sanitize_flags})
  message(STATUS "kiln: sanitizers ${KILN_SANITIZE}")
endif()

if(KILN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KILN_FUZZ needs clang (CXX=clang++-14): libFuzzer is part of clang")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>)
  message(STATUS "kiln: libFuzzer targets on")
endif()
