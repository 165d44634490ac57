// The collectives a tensor-parallel group needs, as the CPU backend calls them: every rank of the
// group calls the same collectives in the same order with the same sizes (the model's forward
// pass does), each call returning once this rank's result is in place.
//
// Results are bit-identical on every rank: sums are taken in rank order (rank 0's value, plus
// rank 1's, ...) whoever computes them, so the ranks' residual streams never drift apart. The
// GPU's collectives (dist/cuda/) keep the same rule for the custom all-reduce.
#pragma once

#include <cstddef>

namespace kiln::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // data[i] = sum over ranks r (in rank order) of rank r's data[i], on every rank; in place.
  virtual void all_reduce_sum(float* data, size_t count) = 0;
  // recv[r * count + i] = rank r's send[i]: recv holds world_size() * count floats.
  virtual void all_gather(const float* send, size_t count, float* recv) = 0;
  // Every rank's `data` becomes rank `root`'s bytes.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
};

}  // namespace kiln::dist
