// Checks a ForwardBatch against itself and the cache before a backend writes anything: lengths,
// offsets, block ids inside the cache, positions and slots consistent with the block tables,
// token ids inside the vocabulary, logits rows inside the batch, draft-tree parents within their
// sequence's new tokens and positions that follow them, KV moves inside the cache. Shared by the CPU and CUDA
// backends so that a bad step is refused the same way on both.
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"
#include "model/forward_batch.h"

namespace kiln {

// token_source (empty, or one per token): a token with a source >= 0 comes from the previous
// step's samples on the device, so its id here is not checked; a source must be below
// num_source_rows.
Status validate_forward_batch(const ForwardBatch& batch, int vocab_size, int num_blocks, int block_size,
                              std::span<const int32_t> token_source = {}, int num_source_rows = 0);

}  // namespace kiln
