// An EAGLE-3 draft head in the published format (SafeAILab's EAGLE-3 heads, e.g.
// yuhuili/EAGLE3-DeepSeek-R1-Distill-LLaMA-8B, as SGLang and vLLM load them): config.json of a
// one-layer Llama ("LlamaForCausalLMEagle3") with draft_vocab_size, and safetensors holding
//   fc.weight                      [hidden, 3 * target_hidden]  fuses the target's low/mid/high states
//   midlayer.hidden_norm.weight    [hidden]                     norms the fused (or the head's own) state
//   midlayer.input_layernorm.weight [hidden]                    norms the token's embedding
//   midlayer.self_attn.{q,k,v}_proj.weight [*, 2 * hidden]      over concat(embedding, state)
//   midlayer.self_attn.o_proj.weight, midlayer.post_attention_layernorm.weight, midlayer.mlp.*
//   norm.weight [hidden], lm_head.weight [draft_vocab, hidden]
//   d2t [draft_vocab] I64: target id = draft id + d2t[draft id];  t2d [vocab] BOOL (optional)
//   embed_tokens.weight [vocab, hidden] (optional: the target's embedding otherwise)
// ("layers.0." may stand for "midlayer.", and every name may carry a "model." prefix.)
//
// The head reads the target's hidden states entering three of its layers: by default layers 2,
// L/2 and L-3 of an L-layer target (vLLM's and SGLang's default); a config.json with
// eagle_config.eagle_aux_hidden_state_layer_ids [a, b, c] names the layers whose outputs it
// reads instead (the inputs of layers a+1, b+1, c+1, as SGLang reads them).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/checkpoint.h"
#include "model/model_config.h"
#include "tensor/tensor_view.h"

namespace kiln {

inline constexpr char kEagle3Architecture[] = "LlamaForCausalLMEagle3";

struct Eagle3HeadConfig {
  // The decoder layer as a one-layer Llama: hidden_size, heads, head_dim, intermediate_size,
  // rms_norm_eps, rope, vocab_size (the target's), dtype.
  ModelConfig layer;
  int draft_vocab_size = 0;    // rows of lm_head
  int target_hidden_size = 0;  // width of each target state fc fuses
  // Target layers whose input hidden state the head reads, low, mid, high; a value equal to the
  // target's num_hidden_layers means the last layer's output (before the final norm).
  std::vector<int> target_layer_inputs;
};

// Parses the head's config.json against the target it drafts for; errors name `source` and the
// field (a vocabulary or width that disagrees with the target, layers out of range).
Result<Eagle3HeadConfig> parse_eagle3_head_config(const std::string& json_text, const std::string& source,
                                                  const ModelConfig& target);

struct Eagle3HeadWeights {
  TensorView fc;                        // [hidden, 3 * target_hidden]
  TensorView embed_tokens;              // [vocab, hidden]: the head's, or the target's
  TensorView hidden_norm;               // [hidden]
  TensorView input_layernorm;           // [hidden]
  TensorView q_proj;                    // [heads * head_dim, 2 * hidden]
  TensorView k_proj;                    // [kv_heads * head_dim, 2 * hidden]
  TensorView v_proj;                    // [kv_heads * head_dim, 2 * hidden]
  TensorView o_proj;                    // [hidden, heads * head_dim]
  TensorView post_attention_layernorm;  // [hidden]
  TensorView gate_proj;                 // [intermediate, hidden]
  TensorView up_proj;                   // [intermediate, hidden]
  TensorView down_proj;                 // [hidden, intermediate]
  TensorView norm;                      // [hidden]
  TensorView lm_head;                   // [draft_vocab, hidden]
  std::vector<int32_t> draft_to_target;  // [draft_vocab] target token id of each draft id
};

struct LoadedEagle3Head {
  Eagle3HeadConfig config;
  Eagle3HeadWeights weights;  // views into checkpoint (and the target's embedding if shared)
  std::unique_ptr<Checkpoint> checkpoint;
  bool shares_target_embedding = false;
};

// Checks the head's tensors (names, dtypes, shapes, d2t within the vocabulary and agreeing with
// t2d) and maps them; `target_embed_tokens` is used when the checkpoint has no embedding.
Result<Eagle3HeadWeights> map_eagle3_head_weights(const Eagle3HeadConfig& config, const Checkpoint& checkpoint,
                                                  const TensorView& target_embed_tokens, bool* shares_target_embedding);

// Loads a head directory (config.json + model.safetensors or shards). A directory with only
// pytorch_model.bin is refused with what to do.
Result<std::unique_ptr<LoadedEagle3Head>> load_eagle3_head(const std::filesystem::path& dir, const ModelConfig& target,
                                                           const TensorView& target_embed_tokens);

}  // namespace kiln
