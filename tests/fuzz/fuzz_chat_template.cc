// The chat-template renderer. An input with a NUL byte is "template\0messages": an arbitrary
// template (a request's own, allowed by --trust-request-chat-template) rendered over the
// messages; without one the input is the messages JSON rendered by DeepSeek-R1-Distill's real
// template, the way a chat request reaches it (parsed and validated first).
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "api/openai_request.h"
#include "base/file_reading.h"
#include "server/tokenizer_adapter.h"
#include "tokenizer/tokenizer_config.h"

using namespace kiln;

namespace {

server::ChatTemplateRenderer* make_renderer() {
  auto config = tokenizer::load_tokenizer_config(std::string(KILN_SOURCE_DIR) +
                                      "/models/deepseek-r1-distill-llama-8b/tokenizer_config.json");
  if (!config.ok() || config->chat_template() == nullptr) std::abort();
  auto compiled = tokenizer::ChatTemplate::compile(*config->chat_template());
  if (!compiled.ok()) std::abort();
  return new server::ChatTemplateRenderer(std::move(*compiled), config->bos_token.value_or(""),
                                          config->eos_token.value_or(""));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static server::ChatTemplateRenderer* renderer = make_renderer();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  api::ParseLimits limits;
  limits.trust_request_chat_template = true;
  std::string body;
  if (nul == std::string_view::npos) {
    body = std::string(R"({"messages":)") + std::string(input) + "}";
  } else {
    api::Json with_template;
    with_template["chat_template"] = std::string(input.substr(0, nul));
    body = std::string(R"({"messages":)") + std::string(input.substr(nul + 1)) + R"(,"chat_template":)" +
           api::dump_json(with_template["chat_template"]) + "}";
  }
  auto request = api::parse_chat_request(body, limits);
  if (!request.ok()) return 0;
  const api::Json tools;
  const api::ChatRenderInputs inputs{request.value().messages, true, false, tools,
                                     request.value().chat_template_kwargs,
                                     request.value().chat_template ? &*request.value().chat_template : nullptr};
  (void)renderer->render(inputs);
  return 0;
}
