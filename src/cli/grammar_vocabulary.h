// The grammar layer's view of the served model's vocabulary: every token id's bytes, the
// tokenizer's special tokens (never text), and the model's end-of-sequence ids (allowed once a
// constrained output is complete).
#pragma once

#include <memory>

#include "grammar/vocabulary.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary(const tokenizer::Tokenizer& tokenizer, const ModelConfig& model);

}  // namespace kiln::cli
