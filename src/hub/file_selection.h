// Which files of a repository `kiln pull` fetches: what a server needs (config, tokenizer,
// safetensors weights and their index) and nothing else unless asked with --include, so pickled
// .bin/.pth/.pt and .gguf copies that many repos also carry are not downloaded.
#pragma once

#include <string>
#include <vector>

namespace kiln::hub {

// Python's fnmatch.fnmatchcase, which huggingface_hub's allow_patterns use: '*' matches any run
// of characters including '/', '?' one character, [seq] / [!seq] a set with ranges. A pattern
// ending in '/' matches everything below that folder (as huggingface_hub appends '*').
bool fnmatch(const std::string& pattern, const std::string& path);

// Root-level files only for the defaults (a repo's "original/" or "onnx/" copies are skipped):
// config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json, *.safetensors, model.safetensors.index.json. A path matching any of
// `include_patterns` is selected too, wherever it is.
bool is_selected(const std::string& path, const std::vector<std::string>& include_patterns);

const std::vector<std::string>& default_patterns();

}  // namespace kiln::hub
