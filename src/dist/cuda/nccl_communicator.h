// One GPU's NCCL communicator in a tensor-parallel group: the collectives the CUDA backend runs
// on bf16 activations, queued on the caller's stream (and so captured by CUDA graphs). A group is
// formed by every rank calling create() with the same unique id at the same time (ranks on
// threads of one process, or processes on other nodes, which receive the id from rank 0).
// NCCL failures abort with the call and NCCL's message, as CUDA API failures do.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>

#include "base/status.h"

namespace kiln::dist {

struct NcclUniqueId {
  ncclUniqueId id;
};

class NcclCommunicator {
 public:
  // Made once, on rank 0, and handed to every rank.
  static Result<NcclUniqueId> make_unique_id();
  // Joins the group as `rank` of `size` on `device` (made current); returns once every rank has
  // joined. Errors: NCCL's (no route between the GPUs, a mismatched size).
  static Result<std::unique_ptr<NcclCommunicator>> create(const NcclUniqueId& id, int rank, int size, int device);
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // In place: data = sum over ranks (NCCL's order: a ring or tree, the same on every rank).
  void all_reduce_sum(__nv_bfloat16* data, size_t count, cudaStream_t stream);
  // recv[r * count + i] = rank r's send[i].
  void all_gather(const __nv_bfloat16* send, size_t count, __nv_bfloat16* recv, cudaStream_t stream);
  // Every rank's `data` becomes rank `root`'s bytes.
  void broadcast(void* data, size_t bytes, int root, cudaStream_t stream);

 private:
  NcclCommunicator(ncclComm_t comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}

  ncclComm_t comm_;
  int rank_;
  int size_;
};

}  // namespace kiln::dist
