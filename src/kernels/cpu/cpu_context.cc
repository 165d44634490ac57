#include "kernels/cpu/cpu_context.h"

#include <cpuid.h>

namespace kiln::cpu {
namespace {

// F16C from CPUID directly: clang 14 (the sanitizer and fuzz builds) does not know "f16c" as a
// __builtin_cpu_supports feature.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

}  // namespace

Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c()) {
    return Isa::kAvx2;
  }
  return Isa::kScalar;
}

std::string_view isa_name(Isa isa) { return isa == Isa::kAvx2 ? "avx2" : "scalar"; }

}  // namespace kiln::cpu
