// Kernels of the custom all-reduce (custom_all_reduce.h), then its host side.
//
// Flags: each rank owns, per block index, a slot per peer in each of three arrays (start, middle,
// end) and a counter of its calls. A call's flag is counter + 1; block b of rank r writes it into
// slot [b][r] of every rank's array and waits until its own slots [b][p] all hold it. A rank can
// be at most one barrier ahead of another in any one array, so "equal" (not "at least") is the
// test and the 32-bit counters may wrap.
#include "dist/cuda/custom_all_reduce.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"

namespace kiln::dist {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kMaxBlocks = 32;
constexpr int kThreads = 512;
constexpr int kPack = 8;  // bf16 per 16-byte load

struct Flags {
  uint32_t start[kMaxBlocks][kMaxAllReduceRanks];
  uint32_t middle[kMaxBlocks][kMaxAllReduceRanks];
  uint32_t end[kMaxBlocks][kMaxAllReduceRanks];
  uint32_t counter[kMaxBlocks];
};

struct Peers {
  bf16* staging[kMaxAllReduceRanks];
  Flags* flags[kMaxAllReduceRanks];
};

enum class Barrier { kStart, kMiddle, kEnd };

__device__ uint32_t* slots(Flags* flags, Barrier which) {
  switch (which) {
    case Barrier::kStart: return &flags->start[blockIdx.x][0];
    case Barrier::kMiddle: return &flags->middle[blockIdx.x][0];
    default: return &flags->end[blockIdx.x][0];
  }
}

__device__ void store_release(uint32_t* address, uint32_t value) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(address), "r"(value) : "memory");
}

__device__ uint32_t load_acquire(const uint32_t* address) {
  uint32_t value;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(value) : "l"(address) : "memory");
  return value;
}

// Block blockIdx.x of every rank meets here; what the block wrote before it is visible to the
// others' blocks after it.
__device__ void barrier(const Peers& peers, int rank, int size, uint32_t flag, Barrier which) {
  __syncthreads();
  if (threadIdx.x < size) {
    __threadfence_system();
    store_release(slots(peers.flags[threadIdx.x], which) + rank, flag);
    const uint32_t* mine = slots(peers.flags[rank], which) + threadIdx.x;
    while (load_acquire(mine) != flag) {
    }
  }
  __syncthreads();
}

__device__ uint32_t begin_call(const Peers& peers, int rank) {
  __shared__ uint32_t flag;
  if (threadIdx.x == 0) flag = peers.flags[rank]->counter[blockIdx.x] + 1;
  __syncthreads();
  return flag;
}

__device__ void end_call(const Peers& peers, int rank, uint32_t flag) {
  if (threadIdx.x == 0) peers.flags[rank]->counter[blockIdx.x] = flag;
}

// Pack `pack` of every rank's buffer, summed in rank order in f32 (loads bypass L1: the data of
// other GPUs, written since this kernel began in the two-shot case).
__device__ void sum_pack(const Peers& peers, int size, size_t pack, float acc[kPack]) {
  for (int r = 0; r < size; ++r) {
    const uint4 raw = __ldcg(reinterpret_cast<const uint4*>(peers.staging[r]) + pack);
    const bf16* values = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
    for (int i = 0; i < kPack; ++i) acc[i] = r == 0 ? __bfloat162float(values[i]) : acc[i] + __bfloat162float(values[i]);
  }
}

__device__ uint4 round_pack(const float acc[kPack]) {
  uint4 raw;
  bf16* values = reinterpret_cast<bf16*>(&raw);
#pragma unroll
  for (int i = 0; i < kPack; ++i) values[i] = __float2bfloat16_rn(acc[i]);
  return raw;
}

// Writes the pack at element `first` of `out`, only its elements below `count`.
__device__ void store_pack(bf16* out, size_t first, size_t count, const uint4& raw) {
  if (first + kPack <= count) {
    *reinterpret_cast<uint4*>(out + first) = raw;
    return;
  }
  const bf16* values = reinterpret_cast<const bf16*>(&raw);
  for (size_t i = 0; first + i < count; ++i) out[first + i] = values[i];
}

__global__ void one_shot_kernel(Peers peers, int rank, int size, bf16* out, size_t count) {
  const uint32_t flag = begin_call(peers, rank);
  barrier(peers, rank, size, flag, Barrier::kStart);
  const size_t packs = (count + kPack - 1) / kPack;
  for (size_t p = blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += gridDim.x * blockDim.x) {
    float acc[kPack];
    sum_pack(peers, size, p, acc);
    store_pack(out, p * kPack, count, round_pack(acc));
  }
  // No rank may overwrite its staging buffer (its next call) while another still reads it.
  barrier(peers, rank, size, flag, Barrier::kEnd);
  end_call(peers, rank, flag);
}

// part_packs: packs per rank's share. Element pack j of share s is summed (by rank s) and read
// back (by every rank) by the thread of the same global index, so one block's barrier orders it.
__global__ void two_shot_kernel(Peers peers, int rank, int size, bf16* out, size_t count, size_t part_packs) {
  const uint32_t flag = begin_call(peers, rank);
  barrier(peers, rank, size, flag, Barrier::kStart);
  const size_t stride = gridDim.x * blockDim.x;
  for (size_t j = blockIdx.x * blockDim.x + threadIdx.x; j < part_packs; j += stride) {
    const size_t pack = rank * part_packs + j;
    float acc[kPack];
    sum_pack(peers, size, pack, acc);
    // Into this rank's own staging buffer: only this rank reads or writes its share there now.
    reinterpret_cast<uint4*>(peers.staging[rank])[pack] = round_pack(acc);
  }
  barrier(peers, rank, size, flag, Barrier::kMiddle);
  for (size_t j = blockIdx.x * blockDim.x + threadIdx.x; j < part_packs; j += stride) {
    for (int s = 0; s < size; ++s) {
      const size_t pack = s * part_packs + j;
      if (pack * kPack >= count) continue;
      store_pack(out, pack * kPack, count, __ldcg(reinterpret_cast<const uint4*>(peers.staging[s]) + pack));
    }
  }
  barrier(peers, rank, size, flag, Barrier::kEnd);
  end_call(peers, rank, flag);
}

int blocks_for(size_t packs) {
  const size_t blocks = (packs + kThreads - 1) / kThreads;
  return static_cast<int>(std::clamp<size_t>(blocks, 1, kMaxBlocks));
}

}  // namespace

Result<std::unique_ptr<CustomAllReduce>> CustomAllReduce::create(int rank, int size, size_t capacity_bytes) {
  if (size < 1 || size > kMaxAllReduceRanks || rank < 0 || rank >= size) {
    return Status::error("custom all-reduce: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                         " (at most " + std::to_string(kMaxAllReduceRanks) + " ranks)");
  }
  std::unique_ptr<CustomAllReduce> reduce(new CustomAllReduce(rank, size, capacity_bytes));
  // Two-shot rounds every share up to whole packs: room for one more pack per rank.
  const size_t staging_bytes = capacity_bytes + static_cast<size_t>(size) * kPack * sizeof(bf16) * 2;
  KILN_ASSIGN_OR_RETURN(reduce->staging_, cuda::DeviceBuffer::try_allocate(staging_bytes));
  KILN_ASSIGN_OR_RETURN(reduce->flags_, cuda::DeviceBuffer::try_allocate(sizeof(Flags)));
  KILN_CUDA_CHECK(cudaMemset(reduce->staging_.data(), 0, staging_bytes));
  KILN_CUDA_CHECK(cudaMemset(reduce->flags_.data(), 0, sizeof(Flags)));
  return Result<std::unique_ptr<CustomAllReduce>>(std::move(reduce));  // nvcc does not move implicitly here
}

AllReducePeer CustomAllReduce::self() const { return {staging_.data(), flags_.data()}; }

void CustomAllReduce::connect(const std::vector<AllReducePeer>& peers) {
  KILN_CHECK(static_cast<int>(peers.size()) == size_) << peers.size() << " peers for " << size_ << " ranks";
  peers_ = peers;
}

AllReduceAlgorithm CustomAllReduce::choose(size_t bytes, int size) {
  if (size <= 2) return AllReduceAlgorithm::kOneShot;
  const size_t one_shot_limit = size <= 4 ? (size_t{512} << 10) : (size_t{256} << 10);
  return bytes <= one_shot_limit ? AllReduceAlgorithm::kOneShot : AllReduceAlgorithm::kTwoShot;
}

void CustomAllReduce::all_reduce(const bf16* input, bf16* output, size_t count, cudaStream_t stream,
                                 AllReduceAlgorithm algorithm) {
  KILN_CHECK(!peers_.empty()) << "custom all-reduce used before connect()";
  KILN_CHECK(fits(count)) << count << " elements exceed the custom all-reduce's " << capacity_bytes_ << " bytes";
  if (count == 0) return;
  KILN_CUDA_CHECK(cudaMemcpyAsync(staging_.data(), input, count * sizeof(bf16), cudaMemcpyDeviceToDevice, stream));
  Peers peers{};
  for (int r = 0; r < size_; ++r) {
    peers.staging[r] = static_cast<bf16*>(peers_[static_cast<size_t>(r)].staging);
    peers.flags[r] = static_cast<Flags*>(peers_[static_cast<size_t>(r)].flags);
  }
  if (algorithm == AllReduceAlgorithm::kAuto) algorithm = choose(count * sizeof(bf16), size_);
  const size_t packs = (count + kPack - 1) / kPack;
  if (algorithm == AllReduceAlgorithm::kOneShot || size_ == 1) {
    one_shot_kernel<<<blocks_for(packs), kThreads, 0, stream>>>(peers, rank_, size_, output, count);
  } else {
    const size_t part_packs = (packs + static_cast<size_t>(size_) - 1) / static_cast<size_t>(size_);
    two_shot_kernel<<<blocks_for(part_packs), kThreads, 0, stream>>>(peers, rank_, size_, output, count, part_packs);
  }
  KILN_CUDA_CHECK_LAUNCH();
}

bool enable_peer_access(const std::vector<int>& devices) {
  for (int a : devices) {
    for (int b : devices) {
      if (a == b) continue;
      int can = 0;
      KILN_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, a, b));
      if (!can) return false;
    }
  }
  int current = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&current));
  for (int a : devices) {
    KILN_CUDA_CHECK(cudaSetDevice(a));
    for (int b : devices) {
      if (a == b) continue;
      const cudaError_t error = cudaDeviceEnablePeerAccess(b, 0);
      if (error == cudaErrorPeerAccessAlreadyEnabled) {
        cudaGetLastError();  // clears it
      } else {
        KILN_CUDA_CHECK(error);
      }
    }
  }
  KILN_CUDA_CHECK(cudaSetDevice(current));
  return true;
}

}  // namespace kiln::dist
