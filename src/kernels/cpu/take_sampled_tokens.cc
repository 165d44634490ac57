#include "kernels/sampling.h"

namespace kiln::cpu {

void take_sampled_tokens(const int32_t* token_source, const SampledRow* sampled, int num_tokens,
                         int32_t* token_ids) {
  for (int t = 0; t < num_tokens; ++t) {
    if (token_source[t] >= 0) token_ids[t] = sampled[token_source[t]].token_id;
  }
}

}  // namespace kiln::cpu
