#include "dist/cuda/nccl_communicator.h"

#include <string>

#include "kernels/cuda/cuda_check.h"

// NCCL failures are broken invariants like CUDA's: they abort with file:line and NCCL's text.
#define KILN_NCCL_CHECK(call)                                                                        \
  do {                                                                                              \
    const ncclResult_t kiln_nccl_result_ = (call);                                                  \
    if (kiln_nccl_result_ != ncclSuccess) {                                                         \
      ::kiln::cuda::detail::cuda_failed(__FILE__, __LINE__, #call, ncclGetErrorString(kiln_nccl_result_)); \
    }                                                                                               \
  } while (0)

namespace kiln::dist {

Result<NcclUniqueId> NcclCommunicator::make_unique_id() {
  NcclUniqueId id;
  const ncclResult_t result = ncclGetUniqueId(&id.id);
  if (result != ncclSuccess) {
    return Status::error(std::string("NCCL could not make the group's unique id: ") + ncclGetErrorString(result));
  }
  return id;
}

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(const NcclUniqueId& id, int rank, int size,
                                                                   int device) {
  KILN_CUDA_CHECK(cudaSetDevice(device));
  ncclComm_t comm = nullptr;
  const ncclResult_t result = ncclCommInitRank(&comm, size, id.id, rank);
  if (result != ncclSuccess) {
    return Status::error("NCCL: rank " + std::to_string(rank) + " of " + std::to_string(size) + " on GPU " +
                         std::to_string(device) + " could not join the tensor-parallel group: " +
                         ncclGetErrorString(result) + " (NCCL_DEBUG=INFO tells more)");
  }
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(comm, rank, size));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr) ncclCommDestroy(comm_);
}

void NcclCommunicator::all_reduce_sum(__nv_bfloat16* data, size_t count, cudaStream_t stream) {
  if (count == 0) return;
  KILN_NCCL_CHECK(ncclAllReduce(data, data, count, ncclBfloat16, ncclSum, comm_, stream));
}

void NcclCommunicator::all_gather(const __nv_bfloat16* send, size_t count, __nv_bfloat16* recv, cudaStream_t stream) {
  if (count == 0) return;
  KILN_NCCL_CHECK(ncclAllGather(send, recv, count, ncclBfloat16, comm_, stream));
}

void NcclCommunicator::broadcast(void* data, size_t bytes, int root, cudaStream_t stream) {
  if (bytes == 0) return;
  KILN_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream));
}

}  // namespace kiln::dist
