// Request bodies of every JSON route: the first byte picks the route, the rest is the body.
// Parsing and validation, then what the handlers do next with a valid request (prompt
// preparation with a fake tokenizer and template, max_tokens against the context).
#include <cstdint>
#include <string>
#include <string_view>

#include "api/openai_request.h"
#include "api/request_preparation.h"
#include "fake_codec.h"

using namespace kiln;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  api::ParseLimits limits;
  limits.vocab_size = 300;
  limits.max_sequences_per_request = 64;
  limits.trust_request_chat_template = data[0] & 0x80;
  static const api::testing::ByteCodec codec;
  static const api::testing::TagRenderer renderer;
  switch (data[0] % 3) {
    case 0: {
      auto chat = api::parse_chat_request(body, limits);
      if (!chat.ok()) return 0;
      auto prompt = api::prepare_chat_prompt(chat.value(), renderer, codec);
      if (!prompt.ok()) return 0;
      (void)api::resolve_max_tokens(chat.value().sampling, chat.value().max_tokens, std::nullopt,
                                    static_cast<int>(prompt.value().token_ids.size()), 128);
      break;
    }
    case 1: {
      auto completion = api::parse_completion_request(body, limits);
      if (!completion.ok()) return 0;
      for (const api::PromptInput& input : completion.value().prompts) {
        auto prompt = api::prepare_completion_prompt(input, completion.value().add_special_tokens, codec);
        if (!prompt.ok()) continue;
        (void)api::resolve_max_tokens(completion.value().sampling, completion.value().max_tokens, 16,
                                      static_cast<int>(prompt.value().token_ids.size()), 128);
      }
      break;
    }
    default: {
      // /tokenize and /detokenize read fields from an arbitrary object.
      auto object = api::parse_json_object(body);
      if (!object.ok()) return 0;
      api::FieldReader reader(object.value());
      (void)reader.string("prompt");
      (void)reader.boolean("add_special_tokens");
      (void)reader.int_list("tokens", 0, 299);
      (void)reader.string_or_list("stop");
      (void)reader.number("temperature", 0, 2);
      (void)reader.object("chat_template_kwargs");
      break;
    }
  }
  return 0;
}
