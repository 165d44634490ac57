// The counter-based normal generator behind `kiln synth`. Each tensor has its own stream keyed
// by (seed, tensor name), and element i depends only on (key, i): tensors are independent of
// each other and of the order (and threads) that generate them, and a short script reproduces
// any element. All arithmetic on integers is modulo 2^64; the floating point is IEEE double.
//
//   mix64(z):  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
//              z = (z ^ (z >> 27)) * 0x94d049bb133111eb
//              return z ^ (z >> 31)                         (the splitmix64 finalizer)
//   fnv1a64(name): h = 0xcbf29ce484222325; for each byte b of the UTF-8 name:
//                  h = (h ^ b) * 0x100000001b3
//   key = mix64(fnv1a64(name) ^ mix64(seed))
//   pair j (elements 2j and 2j+1):
//     r  = mix64(key + (j + 1) * 0x9e3779b97f4a7c15)
//     u1 = ((r >> 32) + 1) / 2^32            in (0, 1]
//     u2 = (r & 0xffffffff) / 2^32           in [0, 1)
//     rho = sqrt(-2 * log(u1)),  theta = 6.283185307179586 * u2
//     z[2j] = rho * cos(theta),  z[2j+1] = rho * sin(theta)       (Box-Muller)
//   value = float32(mean + stddev * z)   (double arithmetic, one rounding to f32, no FMA), then
//           rounded to bf16/f16 to nearest even.
// tools/synth_rng_reference.py is this in Python.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln {

uint64_t mix64(uint64_t z);
uint64_t weight_stream_key(uint64_t seed, std::string_view tensor_name);

// out[k] = float32(mean + stddev * z[first + k]) for k in [0, count).
void fill_normal(uint64_t key, uint64_t first, size_t count, double mean, double stddev, float* out);

}  // namespace kiln
