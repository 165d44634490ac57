// Speculative decoding's settings, as vLLM's --speculative-config JSON names them (the CLI parses
// the JSON; the engine sees this plain struct). A method drafts up to num_speculative_tokens
// tokens per sequence and step; the target model verifies them all in its next step.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"

namespace kiln {

struct SpeculativeConfig {
  // "" (off), "ngram" (prompt lookup), "suffix" (suffix decoding), "eagle3" (a draft head), or
  // "oracle" (test and benchmark only: drafts a recorded continuation, see oracle_proposer.h).
  std::string method;
  int num_speculative_tokens = 0;  // tokens drafted per sequence and step (tree nodes)
  // Draft trees: the most children a drafted node (or the sequence's last token) may have, as
  // SGLang's speculative_eagle_topk; 1 (the default) drafts chains. Method ngram branches at its
  // different earlier matches, suffix best first over the k most frequent continuations per node,
  // eagle3 expands the top k of each level (EAGLE-2/3), the benchmark's oracle adds wrong
  // siblings; the step verifies the whole tree at once.
  int draft_tree_topk = 1;
  // ngram: the longest suffix of the sequence, between these lengths, that occurred before.
  // Unset: vLLM's defaults (both 5; one given sets the other).
  std::optional<int> prompt_lookup_min;
  std::optional<int> prompt_lookup_max;
  // eagle3: the draft head (a Hugging Face repo id or a directory).
  std::string model;
  // No drafts in a step that starts with more running sequences than this: verifying k + 1
  // tokens per sequence stops paying once the batch alone keeps the device busy. Unset: 32.
  std::optional<int> disable_by_batch_size;
  // suffix: vLLM's suffix_decoding_* settings.
  int suffix_decoding_max_tree_depth = 24;
  int suffix_decoding_max_cached_requests = 10000;
  double suffix_decoding_max_spec_factor = 1.0;
  double suffix_decoding_min_token_prob = 0.1;
  // oracle: the chance that each drafted token is the recorded one (the others are corrupted),
  // so a benchmark can run at a fixed acceptance rate.
  double oracle_acceptance_rate = 1.0;

  bool enabled() const { return !method.empty(); }
  int batch_size_limit() const { return disable_by_batch_size.value_or(32); }
};

// Checks the fields against each other and fills the defaults that depend on the method (ngram's
// lookup window; suffix's draft length). Errors name --speculative-config and the field.
Status resolve_speculative_config(SpeculativeConfig* config);

}  // namespace kiln
