#include <string>

#include "api/openai_request.h"
#include "base/json_nesting.h"

namespace kiln::api {
namespace {

// Shared tail of both parsers: max_tokens, stream and stream_options, prompt_logprobs against
// stream and --max-logprobs, model, user.
void read_common(FieldReader& reader, const JsonIn& body, const ParseLimits& limits,
                 std::optional<int>* max_tokens, bool* stream, StreamOptions* options, std::string* model,
                 std::optional<std::string>* user, SamplingParams* sampling) {
  if (auto m = reader.string("model")) *model = *m;
  if (auto u = reader.string("user")) *user = *u;
  // vLLM: max_completion_tokens supersedes the deprecated max_tokens.
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (auto v = reader.integer(name)) {
      if (*v < 1) reader.fail("max_tokens must be at least 1, got " + std::to_string(*v) + ".", name);
      else *max_tokens = static_cast<int>(std::min<int64_t>(*v, INT32_MAX));
    }
  }
  if (*max_tokens && sampling->min_tokens > **max_tokens) {
    reader.fail("min_tokens must be less than or equal to max_tokens=" + std::to_string(**max_tokens) +
                    ", got " + std::to_string(sampling->min_tokens) + ".",
                "min_tokens");
  }
  if (auto s = reader.boolean("stream")) *stream = *s;
  if (auto so = reader.object("stream_options")) {
    if (!*stream) {
      reader.fail("Stream options can only be defined when `stream=True`.", "stream_options");
    } else {
      FieldReader options_reader(*so);
      if (auto v = options_reader.boolean("include_usage")) options->include_usage = *v;
      if (auto v = options_reader.boolean("continuous_usage_stats")) options->continuous_usage_stats = *v;
      if (!options_reader.ok()) {
        ApiError error = *options_reader.error();
        error.param = "stream_options." + error.param.value_or("");
        reader.fail(error);
      }
    }
  }
  // vLLM: refused with stream when it would return something (> 0, or -1 for the whole
  // vocabulary); 0 streams. Then the engine's limit, -1 counting as the vocabulary size.
  if (const std::optional<int> wanted = sampling->prompt_logprobs) {
    if (*stream && (*wanted > 0 || *wanted == -1)) {
      reader.fail("`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs");
    } else {
      const int64_t count = *wanted == -1 ? limits.vocab_size : *wanted;
      if (count > limits.max_logprobs) {
        reader.fail("Requested prompt logprobs of " + std::to_string(count) +
                        ", which is greater than max allowed: " + std::to_string(limits.max_logprobs),
                    "prompt_logprobs");
      } else {
        sampling->prompt_logprobs = static_cast<int>(count);
      }
    }
  }
  (void)body;
}

// Validates one chat message and joins a list of text parts into one string (vLLM's "string"
// content format, which DeepSeek's template expects).
bool normalize_message(FieldReader& reader, JsonIn& message, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "]";
  if (!message.is_object()) {
    reader.fail("'" + where + "' must be an object, got " + json_kind_name(message), where.c_str());
    return false;
  }
  auto role = message.find("role");
  if (role == message.end() || !role->is_string()) {
    reader.fail("'" + where + ".role' is required and must be a string", (where + ".role").c_str());
    return false;
  }
  auto content = message.find("content");
  if (content == message.end() || content->is_null() || content->is_string()) return true;
  if (!content->is_array()) {
    reader.fail("'" + where + ".content' must be a string or a list of content parts, got " +
                    json_kind_name(*content),
                (where + ".content").c_str());
    return false;
  }
  std::string joined;
  for (size_t i = 0; i < content->size(); ++i) {
    const JsonIn& part = (*content)[i];
    const std::string part_where = where + ".content[" + std::to_string(i) + "]";
    if (part.is_string()) {
      joined += (i ? "\n" : "") + part.get<std::string>();
      continue;
    }
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      reader.fail("'" + part_where + "' must be an object with a string 'type'", part_where.c_str());
      return false;
    }
    const std::string type = part["type"].get<std::string>();
    if (type != "text" && type != "input_text") {
      reader.fail("'" + part_where + "': content part type '" + type +
                      "' is not supported by this model (text only)",
                  part_where.c_str());
      return false;
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      reader.fail("'" + part_where + ".text' must be a string", (part_where + ".text").c_str());
      return false;
    }
    joined += (i ? "\n" : "") + part["text"].get<std::string>();
  }
  *content = joined;
  return true;
}

// The output constraint, and for chat the tools. Schemas are read from the body parsed again
// with member order kept (only when it has one of the fields), so that generated objects list
// their properties in the schema's order.
void read_constraint_and_tools(FieldReader& reader, std::string_view body, std::optional<OutputConstraint>* constraint,
                               ToolRequest* tools) {
  std::optional<OrderedJson> ordered;
  for (const char* name : {"response_format", "structured_outputs", "guided_json", "tools"}) {
    if (!ordered && reader.has(name)) {
      try {
        ordered = OrderedJson::parse(body.begin(), body.end());
      } catch (const OrderedJson::exception&) {
      }
    }
  }
  const OrderedJson* ordered_body = ordered ? &*ordered : nullptr;
  *constraint = read_output_constraint(reader, ordered_body);
  if (!tools) return;
  *tools = read_tool_fields(reader);
  if (auto forced = tool_choice_constraint(*tools, reader, ordered_body)) {
    if (*constraint) {
      reader.fail("You can only either use constraints for structured outputs or tools, not both.", "tool_choice");
    } else {
      *constraint = std::move(forced);
    }
  }
}

}  // namespace

ApiResult<JsonIn> parse_json_object(std::string_view body) {
  if (const auto at = find_json_nesting_over(body, kMaxRequestJsonDepth)) {
    return bad_request("The request body nests JSON arrays and objects deeper than " +
                       std::to_string(kMaxRequestJsonDepth) + " levels (at byte " + std::to_string(*at) +
                       "), the server's limit");
  }
  JsonIn json;
  try {
    json = JsonIn::parse(body.begin(), body.end());
  } catch (const JsonIn::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, ...": keep the readable part.
    std::string what = e.what();
    if (const size_t pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return bad_request("Invalid JSON in request body: " + what);
  }
  if (!json.is_object()) {
    return bad_request("The request body must be a JSON object, got " + json_kind_name(json));
  }
  return json;
}

ApiResult<ChatCompletionRequest> parse_chat_request(std::string_view body, const ParseLimits& limits) {
  auto parsed = parse_json_object(body);
  if (!parsed.ok()) return parsed.error();
  JsonIn& json = parsed.value();
  ChatCompletionRequest request;
  FieldReader reader(json);

  const JsonIn* messages = reader.get("messages");
  if (!messages) {
    reader.fail("'messages' is required", "messages");
  } else if (!messages->is_array()) {
    reader.fail("'messages' must be a list, got " + json_kind_name(*messages), "messages");
  } else if (messages->empty()) {
    reader.fail("'messages' must not be empty", "messages");
  } else {
    request.messages = *messages;
    for (size_t i = 0; i < request.messages.size(); ++i) {
      if (!normalize_message(reader, request.messages[i], i)) break;
    }
  }
  read_sampling_fields(reader, limits, &request.sampling);
  read_common(reader, json, limits, &request.max_tokens, &request.stream, &request.stream_options,
              &request.model, &request.user, &request.sampling);
  if (auto v = reader.boolean("logprobs")) request.logprobs = *v;
  if (auto v = reader.integer("top_logprobs")) {
    if (*v < 0) {
      reader.fail("`top_logprobs` must be a positive value.", "top_logprobs");
    } else if (!request.logprobs) {
      reader.fail("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
    } else if (*v > limits.max_logprobs) {
      reader.fail("Requested sample logprobs of " + std::to_string(*v) +
                      ", which is greater than max allowed: " + std::to_string(limits.max_logprobs),
                  "top_logprobs");
    } else {
      request.top_logprobs = static_cast<int>(*v);
    }
  }
  if (request.logprobs) request.sampling.logprobs = request.top_logprobs;
  if (auto v = reader.boolean("add_generation_prompt")) request.add_generation_prompt = *v;
  if (auto v = reader.boolean("continue_final_message")) request.continue_final_message = *v;
  if (auto v = reader.boolean("add_special_tokens")) request.add_special_tokens = *v;
  if (request.continue_final_message && request.add_generation_prompt) {
    reader.fail("Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
                "continue_final_message");
  }
  read_constraint_and_tools(reader, body, &request.constraint, &request.tool_request);
  request.tools = request.tool_request.tools;
  request.chat_template_kwargs = JsonIn::object();
  if (auto kwargs = reader.object("chat_template_kwargs")) request.chat_template_kwargs = *kwargs;
  if (auto t = reader.string("chat_template")) request.chat_template = *t;
  if (!request.chat_template) {
    const auto kwarg = request.chat_template_kwargs.find("chat_template");
    if (kwarg != request.chat_template_kwargs.end() && !kwarg->is_null()) {
      if (kwarg->is_string()) request.chat_template = kwarg->get<std::string>();
      else reader.fail("'chat_template_kwargs.chat_template' must be a string", "chat_template_kwargs");
    }
  }
  if (request.chat_template && !limits.trust_request_chat_template) {
    // vLLM's text.
    reader.fail("Chat template is passed with request, but --trust-request-chat-template is not set. "
                "Refused request with untrusted chat template.",
                "chat_template");
  }
  if (!reader.ok()) return *reader.error();
  return request;
}

ApiResult<CompletionRequest> parse_completion_request(std::string_view body, const ParseLimits& limits) {
  auto parsed = parse_json_object(body);
  if (!parsed.ok()) return parsed.error();
  JsonIn& json = parsed.value();
  CompletionRequest request;
  FieldReader reader(json);

  const JsonIn* prompt = reader.get("prompt");
  const std::string kShape =
      "'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token ids";
  auto read_ids = [&](const JsonIn& list, std::vector<int32_t>* ids) {
    for (const JsonIn& id : list) {
      if (!id.is_number_integer()) {
        reader.fail(kShape, "prompt");
        return false;
      }
      const int64_t value = id.is_number_unsigned() && id.get<uint64_t>() > INT64_MAX ? -1 : id.get<int64_t>();
      if (value < 0 || value >= limits.vocab_size) {
        reader.fail("Token id " + id.dump() + " is out of vocabulary", "prompt");
        return false;
      }
      ids->push_back(static_cast<int32_t>(value));
    }
    if (ids->empty()) {
      reader.fail("Prompt cannot be empty", "prompt");
      return false;
    }
    return true;
  };
  if (!prompt) {
    reader.fail("'prompt' is required", "prompt");
  } else if (prompt->is_string()) {
    request.prompts.emplace_back(prompt->get<std::string>());
  } else if (!prompt->is_array() || prompt->empty()) {
    reader.fail(prompt->is_array() ? "Prompt cannot be empty" : kShape, "prompt");
  } else if ((*prompt)[0].is_number()) {
    std::vector<int32_t> ids;
    if (read_ids(*prompt, &ids)) request.prompts.emplace_back(std::move(ids));
  } else {
    for (const JsonIn& item : *prompt) {
      if (item.is_string()) {
        request.prompts.emplace_back(item.get<std::string>());
      } else if (item.is_array()) {
        std::vector<int32_t> ids;
        if (!read_ids(item, &ids)) break;
        request.prompts.emplace_back(std::move(ids));
      } else {
        reader.fail(kShape, "prompt");
        break;
      }
    }
  }
  read_sampling_fields(reader, limits, &request.sampling);
  read_common(reader, json, limits, &request.max_tokens, &request.stream, &request.stream_options,
              &request.model, &request.user, &request.sampling);
  // Every prompt runs n sequences: a small body must not queue unbounded work.
  const int64_t num_sequences = static_cast<int64_t>(request.prompts.size()) * request.sampling.n;
  if (num_sequences > limits.max_sequences_per_request) {
    reader.fail("This request asks for " + std::to_string(num_sequences) + " sequences (" +
                    std::to_string(request.prompts.size()) + " prompts x n=" + std::to_string(request.sampling.n) +
                    "), more than the server's limit of " + std::to_string(limits.max_sequences_per_request) +
                    " per request (--max-seqs-per-request).",
                "prompt");
  }
  if (auto v = reader.boolean("echo")) request.echo = *v;
  if (auto v = reader.integer("logprobs")) {
    if (*v < 0) {
      reader.fail("logprobs must be non-negative, got " + std::to_string(*v) + ".", "logprobs");
    } else if (*v > limits.max_logprobs) {
      reader.fail("Requested sample logprobs of " + std::to_string(*v) +
                      ", which is greater than max allowed: " + std::to_string(limits.max_logprobs),
                  "logprobs");
    } else {
      request.logprobs = static_cast<int>(*v);
      request.sampling.logprobs = request.logprobs;
    }
  }
  if (auto v = reader.boolean("add_special_tokens")) request.add_special_tokens = *v;
  if (reader.has("suffix")) reader.fail("suffix is not currently supported", "suffix");
  read_constraint_and_tools(reader, body, &request.constraint, nullptr);
  // Echo with logprobs shows the prompt's logprobs too: ask the engine for them.
  if (request.echo && request.logprobs && !request.sampling.prompt_logprobs) {
    request.sampling.prompt_logprobs = *request.logprobs;
  }
  if (!reader.ok()) return *reader.error();
  return request;
}

}  // namespace kiln::api
