// The all-reduce of small messages (decode steps' activations: 8 KB per row on the 8B model), as
// vLLM's custom all-reduce does it, without NCCL's ring latency: every rank copies its input into
// its staging buffer, which the other GPUs of the process read directly through peer access
// (NVLink), and the ranks' blocks meet at flags they write into each other's memory.
// - one-shot: every rank reads every rank's whole input and sums it (one round of reads; best
//   for the smallest messages and for 2 ranks);
// - two-shot: rank r sums its 1/size of the elements across the ranks into its own staging
//   buffer, then every rank reads the sums from their owners (half the traffic per GPU for larger
//   messages).
// Both sum each element in f32 in rank order and round to bf16 once: the bits of
// rank_order_sum_bf16 (dist/rank_order_sum.h), the CPU twin the parity test compares against, and
// the same on every rank. Flags are counters kept on the device, so the calls are stream-ordered
// and CUDA graphs capture and replay them. NVLink multicast (NVLS) is never used.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/cuda/device_buffer.h"

namespace kiln::dist {

inline constexpr int kMaxAllReduceRanks = 8;

enum class AllReduceAlgorithm { kAuto, kOneShot, kTwoShot };

// What the other ranks of the group need of a rank: its staging buffer and its flags (device
// pointers, readable from the peers' devices once peer access is on).
struct AllReducePeer {
  void* staging = nullptr;
  void* flags = nullptr;
};

class CustomAllReduce {
 public:
  // Messages above this go to NCCL (and the staging buffer has this size).
  static constexpr size_t kDefaultCapacityBytes = size_t{8} << 20;

  // Allocates this rank's staging buffer and flags on the current device.
  static Result<std::unique_ptr<CustomAllReduce>> create(int rank, int size,
                                                         size_t capacity_bytes = kDefaultCapacityBytes);
  AllReducePeer self() const;
  // Every rank's AllReducePeer, indexed by rank, once all are created (before the first call).
  void connect(const std::vector<AllReducePeer>& peers);

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool fits(size_t count) const { return count * sizeof(__nv_bfloat16) <= capacity_bytes_; }

  // output[i] = the ranks' input[i] summed in rank order in f32, rounded to bf16 once. Every rank
  // calls it with the same count, and calls its all-reduces in the same order; input may be
  // output. fits(count) must hold.
  void all_reduce(const __nv_bfloat16* input, __nv_bfloat16* output, size_t count, cudaStream_t stream,
                  AllReduceAlgorithm algorithm = AllReduceAlgorithm::kAuto);

  // One-shot for 2 ranks and up to 256 KiB (512 KiB at 4 ranks), two-shot above.
  static AllReduceAlgorithm choose(size_t bytes, int size);

 private:
  CustomAllReduce(int rank, int size, size_t capacity_bytes) : rank_(rank), size_(size), capacity_bytes_(capacity_bytes) {}

  int rank_;
  int size_;
  size_t capacity_bytes_;
  cuda::DeviceBuffer staging_;  // capacity plus one padded chunk per rank (two-shot's partial chunks)
  cuda::DeviceBuffer flags_;
  std::vector<AllReducePeer> peers_;
};

// Turns on peer access between every pair of `devices` (GPUs of this process). False when some
// pair has no peer-to-peer path: the group then all-reduces through NCCL only.
bool enable_peer_access(const std::vector<int>& devices);

}  // namespace kiln::dist
