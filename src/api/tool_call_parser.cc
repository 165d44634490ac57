#include "api/tool_call_parser.h"

#include <algorithm>

namespace kiln::api {
namespace {

constexpr std::string_view kHermesBegin = "<tool_call>";
constexpr std::string_view kHermesEnd = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";
constexpr std::string_view kFence = "```json";

bool starts_with(std::string_view t, size_t i, std::string_view p) { return t.substr(i, p.size()) == p; }

// t[i, end) is a proper prefix of p (more text could complete it).
bool is_partial(std::string_view t, size_t i, std::string_view p) {
  const std::string_view rest = t.substr(i);
  return rest.size() < p.size() && p.substr(0, rest.size()) == rest;
}

// The longest tail of t[from, end) that is a proper prefix of one of `markers`.
size_t partial_marker_tail(std::string_view t, size_t from, std::initializer_list<std::string_view> markers) {
  size_t longest = 0;
  for (std::string_view m : markers) {
    for (size_t n = std::min(m.size() - 1, t.size() - from); n > longest; --n) {
      if (t.substr(t.size() - n) == m.substr(0, n)) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

// Where the end of a DeepSeek call's arguments may begin in args: a tail of whitespace, up to
// three backticks, whitespace, then a prefix of the call-end marker; npos when the tail cannot
// be one. `closed`: the whole marker is there (then the tail must hold the backticks).
size_t deepseek_arguments_tail(std::string_view args) {
  for (size_t p = 0; p < args.size(); ++p) {
    if (!is_json_space(args[p]) && args[p] != '`') continue;
    size_t k = p;
    while (k < args.size() && is_json_space(args[k])) ++k;
    size_t ticks = 0;
    while (k < args.size() && args[k] == '`' && ticks < 3) {
      ++k;
      ++ticks;
    }
    while (ticks == 3 && k < args.size() && is_json_space(args[k])) ++k;
    const std::string_view rest = args.substr(k);
    if (rest.empty() || (ticks == 3 && kCallEnd.substr(0, rest.size()) == rest)) return p;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<ToolCallFormat> tool_call_parser_from_name(std::string_view name) {
  if (name == "llama3_json") return ToolCallFormat::kLlama3Json;
  if (name == "hermes") return ToolCallFormat::kHermes;
  if (name == "deepseek_v3") return ToolCallFormat::kDeepSeekV3;
  return std::nullopt;
}

const char* tool_call_parser_names() { return "llama3_json, hermes, deepseek_v3"; }

ToolCallStreamParser::ToolCallStreamParser(ToolCallFormat format, std::string named_function)
    : format_(format), named_function_(std::move(named_function)) {}

void ToolCallStreamParser::start_call(ToolStreamDelta* out, std::string name) {
  out->tool_calls.push_back(ToolCallDelta{num_calls_++, std::move(name), ""});
  call_named_ = true;
  arguments_sent_ = 0;
}

void ToolCallStreamParser::emit_arguments(ToolStreamDelta* out, std::string_view so_far) {
  if (!call_named_ || so_far.size() <= arguments_sent_) return;
  const std::string_view fresh = so_far.substr(arguments_sent_);
  arguments_sent_ = so_far.size();
  if (!out->tool_calls.empty() && out->tool_calls.back().index == num_calls_ - 1) {
    out->tool_calls.back().arguments += fresh;
  } else {
    out->tool_calls.push_back(ToolCallDelta{num_calls_ - 1, std::nullopt, std::string(fresh)});
  }
}

ToolStreamDelta ToolCallStreamParser::feed(std::string_view text) {
  text_ += text;
  ToolStreamDelta out;
  step(&out, false);
  return out;
}

ToolStreamDelta ToolCallStreamParser::finish() {
  ToolStreamDelta out;
  step(&out, true);
  if (pos_ < text_.size()) {  // a call the output broke off, or held-back text
    out.content += text_.substr(pos_);
    pos_ = text_.size();
  }
  return out;
}

void ToolCallStreamParser::step(ToolStreamDelta* out, bool final) {
  // Each pass either moves pos_ or the phase, or waits for more text.
  for (int guard = 0; guard < 1 << 16; ++guard) {
    const size_t before = pos_;
    const Phase phase = phase_;
    bool progressed = false;
    switch (phase_) {
      case Phase::kStart: {
        const size_t i = skip_json_space(text_, pos_);
        if (format_ == ToolCallFormat::kNamedArguments) {
          start_call(out, named_function_);
          call_begin_ = pos_;
          phase_ = Phase::kInCall;
        } else if (format_ == ToolCallFormat::kLlama3Json || format_ == ToolCallFormat::kRequiredArray) {
          // Calls only when the output starts with them; otherwise it is all content.
          const char opener = format_ == ToolCallFormat::kRequiredArray ? '[' : '{';
          if (i < text_.size() && text_[i] == opener) {
            pos_ = format_ == ToolCallFormat::kRequiredArray ? i + 1 : i;
            phase_ = Phase::kBetweenCalls;
          } else if (format_ == ToolCallFormat::kLlama3Json && starts_with(text_, i, kPythonTag)) {
            pos_ = i + kPythonTag.size();
            phase_ = Phase::kBetweenCalls;
          } else if (!final && (i == text_.size() || (format_ == ToolCallFormat::kLlama3Json && is_partial(text_, i, kPythonTag)))) {
            return;
          } else {
            phase_ = Phase::kContent;
          }
        } else {
          phase_ = Phase::kContent;
        }
        break;
      }
      case Phase::kContent: content_until_marker(out, final); break;
      case Phase::kBetweenCalls: between_calls(out, final, &progressed); break;
      case Phase::kInCall:
        if (format_ == ToolCallFormat::kDeepSeekV3) {
          in_deepseek_call(out, final, &progressed);
        } else if (format_ == ToolCallFormat::kNamedArguments) {
          emit_arguments(out, std::string_view(text_).substr(call_begin_));
          pos_ = text_.size();
        } else {
          in_json_call(out, final, &progressed);
        }
        break;
      case Phase::kDone: return;
    }
    if (!progressed && pos_ == before && phase_ == phase) return;
  }
}

void ToolCallStreamParser::content_until_marker(ToolStreamDelta* out, bool final) {
  const std::string_view t = text_;
  if (format_ != ToolCallFormat::kHermes && format_ != ToolCallFormat::kDeepSeekV3) {
    out->content += t.substr(pos_);
    pos_ = t.size();
    return;
  }
  // Markers open the calls only while no call was made; text after the calls is content.
  size_t found = std::string_view::npos;
  if (num_calls_ == 0) {
    const size_t from = std::max(pos_, search_from_);
    if (format_ == ToolCallFormat::kHermes) {
      found = t.find(kHermesBegin, from);
    } else {
      found = std::min(t.find(kCallsBegin, from), t.find(kCallBegin, from));
    }
  }
  if (found != std::string_view::npos) {
    out->content += t.substr(pos_, found - pos_);
    pos_ = found;
    if (format_ == ToolCallFormat::kDeepSeekV3 && starts_with(t, found, kCallsBegin)) pos_ += kCallsBegin.size();
    phase_ = Phase::kBetweenCalls;
    return;
  }
  size_t hold = 0;
  if (!final && num_calls_ == 0) {
    hold = format_ == ToolCallFormat::kHermes ? partial_marker_tail(t, pos_, {kHermesBegin})
                                              : partial_marker_tail(t, pos_, {kCallsBegin, kCallBegin});
  }
  out->content += t.substr(pos_, t.size() - pos_ - hold);
  pos_ = t.size() - hold;
}

void ToolCallStreamParser::between_calls(ToolStreamDelta* out, bool final, bool* progressed) {
  const std::string_view t = text_;
  size_t i = skip_json_space(t, pos_);
  auto wait_or_content = [&](std::initializer_list<std::string_view> partials) {
    bool partial = i == t.size();
    for (std::string_view p : partials) partial = partial || is_partial(t, i, p);
    if (partial && !final) return;
    pos_ = i;
    phase_ = Phase::kContent;
    *progressed = true;
  };
  auto open_call = [&](size_t body) {
    call_begin_ = body;
    call_named_ = false;
    arguments_sent_ = 0;
    pos_ = body;
    phase_ = Phase::kInCall;
    *progressed = true;
  };
  switch (format_) {
    case ToolCallFormat::kHermes:
      if (starts_with(t, i, kHermesBegin)) return open_call(i + kHermesBegin.size());
      return wait_or_content({kHermesBegin});
    case ToolCallFormat::kDeepSeekV3:
      if (starts_with(t, i, kCallBegin)) return open_call(i + kCallBegin.size());
      if (starts_with(t, i, kCallsEnd)) {
        pos_ = i + kCallsEnd.size();
        phase_ = Phase::kContent;
        *progressed = true;
        return;
      }
      return wait_or_content({kCallBegin, kCallsEnd});
    case ToolCallFormat::kLlama3Json:
      if (i < t.size() && t[i] == ';') {
        pos_ = i + 1;
        *progressed = true;
        return;
      }
      if (i < t.size() && t[i] == '{') return open_call(i);
      return wait_or_content({});
    case ToolCallFormat::kRequiredArray:
      if (i < t.size() && t[i] == ',') {
        pos_ = i + 1;
        *progressed = true;
        return;
      }
      if (i < t.size() && t[i] == '{') return open_call(i);
      if (i < t.size() && t[i] == ']') {
        pos_ = i + 1;
        phase_ = Phase::kContent;
        *progressed = true;
        return;
      }
      return wait_or_content({});
    case ToolCallFormat::kNamedArguments: return;
  }
}

void ToolCallStreamParser::in_json_call(ToolStreamDelta* out, bool final, bool* progressed) {
  const std::string_view body = std::string_view(text_).substr(call_begin_);
  const JsonCallScan scan = scan_json_call(body);
  if (!scan.valid || (scan.complete && !scan.name)) {
    // Not a call after all: what it holds is content (from its marker, when nothing was sent).
    if (!call_named_) {
      search_from_ = call_begin_;
      if (format_ == ToolCallFormat::kHermes) call_begin_ -= kHermesBegin.size();
      pos_ = call_begin_;
    }
    phase_ = Phase::kContent;
    *progressed = true;
    return;
  }
  if (scan.name && !call_named_) start_call(out, *scan.name);
  if (call_named_ && scan.arguments_begin && !scan.arguments_is_string) {
    emit_arguments(out, body.substr(*scan.arguments_begin, scan.arguments_length));
  }
  if (!scan.complete) {
    pos_ = text_.size();  // decided: the call's body (its parts go out as they complete)
    if (final && call_named_ && scan.arguments_is_string) emit_arguments(out, call_arguments(body, scan));
    return;
  }
  if (call_named_ && arguments_sent_ == 0) emit_arguments(out, call_arguments(body, scan));
  size_t next = call_begin_ + scan.end;
  if (format_ == ToolCallFormat::kHermes) {
    const size_t i = skip_json_space(text_, next);
    if (starts_with(text_, i, kHermesEnd)) {
      next = i + kHermesEnd.size();
    } else if (!final && (i == text_.size() || is_partial(text_, i, kHermesEnd))) {
      pos_ = text_.size();
      return;  // the closing tag may still come
    }
  }
  pos_ = next;
  phase_ = Phase::kBetweenCalls;
  call_named_ = false;
  *progressed = true;
}

void ToolCallStreamParser::in_deepseek_call(ToolStreamDelta* out, bool final, bool* progressed) {
  const std::string_view body = std::string_view(text_).substr(call_begin_);
  const size_t sep = body.find(kSep);
  if (sep == std::string_view::npos) {
    if (final) {
      search_from_ = call_begin_;
      pos_ = call_begin_ - kCallBegin.size();
      phase_ = Phase::kContent;
      *progressed = true;
    }
    return;
  }
  const size_t name_begin = sep + kSep.size();
  const size_t newline = body.find('\n', name_begin);
  if (newline == std::string_view::npos && !final) return;
  if (!call_named_) {
    std::string_view name = body.substr(name_begin, newline == std::string_view::npos ? std::string_view::npos : newline - name_begin);
    while (!name.empty() && is_json_space(name.back())) name.remove_suffix(1);
    start_call(out, std::string(name));
  }
  if (newline == std::string_view::npos) return;
  const size_t fence = body.find(kFence, newline);
  const size_t end = body.find(kCallEnd, newline);
  if (fence == std::string_view::npos || (end != std::string_view::npos && end < fence)) {
    if (end != std::string_view::npos) {  // a call without a fenced body: no arguments
      emit_arguments(out, "{}");
      pos_ = call_begin_ + end + kCallEnd.size();
      phase_ = Phase::kBetweenCalls;
      call_named_ = false;
      *progressed = true;
    }
    return;
  }
  const size_t args_begin = skip_json_space(body, fence + kFence.size());
  if (end != std::string_view::npos) {
    std::string_view args = body.substr(args_begin, end >= args_begin ? end - args_begin : 0);
    const size_t tail = deepseek_arguments_tail(args);
    if (tail != std::string_view::npos) args = args.substr(0, tail);
    emit_arguments(out, args);
    pos_ = call_begin_ + end + kCallEnd.size();
    phase_ = Phase::kBetweenCalls;
    call_named_ = false;
    *progressed = true;
    return;
  }
  if (args_begin >= body.size()) return;
  std::string_view args = body.substr(args_begin);
  if (!final) {
    const size_t tail = deepseek_arguments_tail(args);
    if (tail != std::string_view::npos) args = args.substr(0, tail);
  }
  emit_arguments(out, args);
  pos_ = text_.size();
}

ParsedToolOutput parse_tool_calls(ToolCallFormat format, std::string_view text, const std::string& named_function) {
  ToolCallStreamParser parser(format, named_function);
  ParsedToolOutput out;
  auto gather = [&](const ToolStreamDelta& d) {
    out.content += d.content;
    for (const ToolCallDelta& call : d.tool_calls) {
      if (call.name) out.calls.push_back(ParsedToolCall{*call.name, ""});
      if (!out.calls.empty()) out.calls.back().arguments += call.arguments;
    }
  };
  gather(parser.feed(text));
  gather(parser.finish());
  return out;
}

}  // namespace kiln::api
