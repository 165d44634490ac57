// Checks a ForwardBatch against itself and the cache before a backend writes anything: lengths,
// offsets, block ids inside the cache, positions and slots consistent with the block tables,
// token ids inside the vocabulary, logits rows inside the batch. Shared by the CPU and CUDA
// backends so that a bad step is refused the same way on both.
#pragma once

#include "base/status.h"
#include "model/forward_batch.h"

namespace kiln {

Status validate_forward_batch(const ForwardBatch& batch, int vocab_size, int num_blocks, int block_size);

}  // namespace kiln
