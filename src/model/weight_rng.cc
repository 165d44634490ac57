#include "model/weight_rng.h"

#include <cmath>

namespace kiln {
namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr double kTwoToMinus32 = 1.0 / 4294967296.0;

// Both normals of pair j.
inline void normal_pair(uint64_t key, uint64_t j, double* z0, double* z1) {
  const uint64_t r = mix64(key + (j + 1) * 0x9e3779b97f4a7c15ull);
  const double u1 = static_cast<double>((r >> 32) + 1) * kTwoToMinus32;
  const double u2 = static_cast<double>(r & 0xffffffffull) * kTwoToMinus32;
  const double rho = std::sqrt(-2.0 * std::log(u1));
  const double theta = kTwoPi * u2;
  *z0 = rho * std::cos(theta);
  *z1 = rho * std::sin(theta);
}

// Two statements so that no compiler contracts mean + stddev * z into an FMA (clang contracts
// within an expression; GCC in ISO mode not at all): the reference rounds twice.
inline float scale(double mean, double stddev, double z) {
  const double product = stddev * z;
  return static_cast<float>(mean + product);
}

}  // namespace

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t weight_stream_key(uint64_t seed, std::string_view tensor_name) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : tensor_name) {
    hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  }
  return mix64(hash ^ mix64(seed));
}

void fill_normal(uint64_t key, uint64_t first, size_t count, double mean, double stddev, float* out) {
  uint64_t index = first;
  const uint64_t end = first + count;
  double z0, z1;
  if (index < end && index % 2 == 1) {  // start in the middle of a pair
    normal_pair(key, index / 2, &z0, &z1);
    *out++ = scale(mean, stddev, z1);
    ++index;
  }
  for (; index + 1 < end; index += 2) {
    normal_pair(key, index / 2, &z0, &z1);
    *out++ = scale(mean, stddev, z0);
    *out++ = scale(mean, stddev, z1);
  }
  if (index < end) {
    normal_pair(key, index / 2, &z0, &z1);
    *out++ = scale(mean, stddev, z0);
  }
}

}  // namespace kiln
