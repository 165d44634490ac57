// tokenizer.json loading from arbitrary text; a file that loads is then used to encode and
// decode a fixed text, so that a vocabulary, merges or pattern that load but break the
// encoder are found too.
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tokenizer = kiln::tokenizer::Tokenizer::from_json_text(text, "fuzz/tokenizer.json");
  if (!tokenizer.ok()) return 0;
  const std::string sample = "Hello world 123 <|x|> \xe4\xbd\xa0\xe5\xa5\xbd\n\n  it's";
  auto ids = (*tokenizer)->encode_checked(sample, true);
  if (ids.ok()) (void)(*tokenizer)->decode(*ids, false);
  (void)(*tokenizer)->encode(sample, false);
  return 0;
}
