// `kiln tokenize`: the prompt a model would see for a text or a chat conversation, and its token
// ids. Reads only the tokenizer files of the model folder (no weights).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flag_parser.h"
#include "cli/prompt_input.h"

namespace kiln::cli {
namespace {

int usage_error(std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "kiln tokenize: %s\n", message.c_str());
  return 2;
}

std::string json_quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

int run_tokenize_command(const CommandArgs& args) {
  std::string model_dir;
  std::optional<std::string> text;
  std::optional<std::string> messages_file;
  bool add_generation_prompt = false;
  bool add_special_tokens = false;
  bool json = false;
  FlagParser parser("tokenize",
                    "Print the prompt a model sees and its token ids: --text as it is, or a chat "
                    "conversation (--messages) rendered by the model's chat template. Both are encoded "
                    "without adding special tokens (the chat template already writes BOS). Needs only "
                    "tokenizer.json and tokenizer_config.json.");
  parser.add_string("model", &model_dir, "model folder holding tokenizer.json and tokenizer_config.json (required)");
  parser.add_optional_string("text", &text, "the prompt text, encoded as it is");
  parser.add_optional_string("messages", &messages_file,
                             "a JSON file: a list of {\"role\", \"content\"} messages (or {\"messages\": [...]}), "
                             "rendered by the chat template");
  parser.add_bool("add-generation-prompt", &add_generation_prompt,
                  "with --messages: end the prompt with the assistant turn's opening");
  parser.add_bool("add-special-tokens", &add_special_tokens,
                  "add BOS first when the tokenizer config says so (add_bos_token)");
  parser.add_bool("json", &json, "print {\"prompt\": TEXT, \"ids\": [...]} on one line");
  const Status parsed = parser.parse(args);
  if (!parsed.ok()) return usage_error(parsed.message());
  if (parser.help_requested()) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (model_dir.empty()) return usage_error("--model is required");
  if (text.has_value() == messages_file.has_value()) return usage_error("give exactly one of --text and --messages");
  if (add_generation_prompt && !messages_file) return usage_error("--add-generation-prompt needs --messages");
  if (!std::filesystem::is_directory(model_dir)) return usage_error("--model " + model_dir + ": no such directory");

  auto prompt_tokenizer = load_prompt_tokenizer(model_dir);
  if (!prompt_tokenizer.ok()) return usage_error(prompt_tokenizer.message());

  std::string prompt;
  if (text) {
    prompt = *text;
  } else {
    auto messages = load_messages_file(*messages_file);
    if (!messages.ok()) return usage_error("--messages " + messages.message());
    auto rendered = render_chat(*prompt_tokenizer, *messages, add_generation_prompt);
    if (!rendered.ok()) return usage_error(rendered.message());
    prompt = std::move(*rendered);
  }
  const std::vector<int32_t> ids = encode_prompt(*prompt_tokenizer, prompt, add_special_tokens);

  if (json) {
    const nlohmann::ordered_json out{{"prompt", prompt}, {"ids", ids}};
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  // Human-readable: the prompt as a JSON string (newlines visible), the ids on one line, then one
  // line per token with its own text.
  std::string out = "prompt: " + json_quoted(prompt) + "\n";
  out += "ids (" + std::to_string(ids.size()) + "):";
  for (const int32_t id : ids) out += " " + std::to_string(id);
  out += "\ntokens:\n";
  const tokenizer::Tokenizer& tokenizer = *prompt_tokenizer->tokenizer;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    char head[48];
    std::snprintf(head, sizeof(head), "  %5zu %7d  ", i, id);
    out += head + json_quoted(tokenizer.decode(std::span<const int32_t>(&id, 1))) + "\n";
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace kiln::cli
