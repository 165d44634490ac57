// What every CPU kernel is given: the thread pool to spread its rows over and the instruction set
// to use. The ISA is detected once by whoever builds the context (detect_isa) and can be forced to
// kScalar, which is how the tests cover both code paths on one machine.
#pragma once

#include <string_view>

namespace kiln::cpu {

class ThreadPool;

enum class Isa { kScalar, kAvx2 };  // kAvx2 means AVX2 + FMA + F16C

// The best ISA this CPU supports (GCC's __builtin_cpu_supports).
Isa detect_isa();
std::string_view isa_name(Isa isa);

struct CpuContext {
  ThreadPool* pool = nullptr;  // required
  Isa isa = Isa::kScalar;
};

}  // namespace kiln::cpu
