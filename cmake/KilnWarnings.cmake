# Warning flags shared by every kiln target.
add_library(kiln_warnings INTERFACE)
target_compile_options(kiln_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>
  # GCC 12 at -O3 reports impossible overlaps inside std::string concatenation (GCC bug 105329).
  # (clang, used by the sanitizer and fuzz builds, has no such warning.)
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>)
if(KILN_WERROR)
  target_compile_options(kiln_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
# The CPU kernels are vectorized with AVX2/FMA where the compiler may use them; the scalar
# fallback is chosen at run time by the kernels themselves (function multiversioning).
if(KILN_NATIVE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-march=native>)
endif()
