#include "server/generation_handler.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "api/chat_response.h"
#include "api/completion_response.h"
#include "api/request_id.h"
#include "api/request_preparation.h"
#include "api/sse.h"
#include "base/clock.h"
#include "base/log.h"
#include "server/request_span.h"

namespace kiln::server {

HttpResponse json_response(int status, const api::Json& body) {
  return HttpResponse{status, "application/json", api::dump_json(body), {}};
}

HttpResponse error_response(const api::ApiError& error) {
  return json_response(error.status, api::error_body(error));
}

namespace {

// The state of one HTTP generation request, touched only on its connection's strand.
class Flight : public std::enable_shared_from_this<Flight> {
 public:
  Flight(std::shared_ptr<ResponseWriter> writer, GenerationDeps deps, bool stream, size_t num_prompts)
      : writer_(std::move(writer)),
        deps_(std::move(deps)),
        stream_(stream),
        finished_(num_prompts, false),
        num_output_tokens_(num_prompts, 0),
        first_token_seen_(num_prompts, false),
        last_output_time_(num_prompts, 0.0),
        finish_reasons_(num_prompts),
        ttft_ms_(num_prompts, std::numeric_limits<double>::quiet_NaN()),
        itl_ms_(num_prompts),
        num_cached_tokens_(num_prompts, 0),
        queue_time_s_(num_prompts),
        arrival_(monotonic_seconds()) {}

  std::optional<api::ChatResponseAccumulator> chat_full;
  std::optional<api::ChatStreamWriter> chat_stream;
  std::optional<api::CompletionResponseAccumulator> completion_full;
  std::optional<api::CompletionStreamWriter> completion_stream;
  std::vector<std::string> engine_ids;
  std::vector<int> num_prompt_tokens;
  // The W3C context the request came with (traceparent); unset: a new trace.
  std::optional<tracing::TraceContext> trace_context;

  // Submits every engine request; answers with the error when one cannot be submitted.
  void submit_all(std::vector<EngineRequest> requests) {
    auto self = shared_from_this();
    writer_->on_disconnect([self] { self->abort_all("client disconnected"); });
    if (deps_.in_flight) {
      std::weak_ptr<Flight> weak = self;
      registration_ = deps_.in_flight->add([weak, writer = writer_](const std::string& reason) {
        writer->post([weak, reason] {
          if (auto flight = weak.lock()) flight->fail(api::ApiError{503, reason, std::nullopt});
        });
      });
    }
    for (size_t i = 0; i < requests.size(); ++i) {
      engine_ids.push_back(requests[i].request_id);
      std::weak_ptr<Flight> weak = self;
      std::shared_ptr<ResponseWriter> writer = writer_;
      const int prompt_index = static_cast<int>(i);
      requests[i].arrival_time_s = arrival_;
      sampling_.push_back(requests[i].sampling);
      Status status = deps_.engine->submit(std::move(requests[i]), [weak, writer, prompt_index](RequestOutput out) {
        // From the engine's thread: hop onto the connection's strand; never block here.
        writer->post([weak, prompt_index, out = std::move(out)]() mutable {
          if (auto flight = weak.lock()) flight->on_output(prompt_index, out);
        });
      });
      if (!status.ok()) {
        engine_ids.pop_back();  // never ran: nothing to abort or report
        fail(api::ApiError{400, status.message(), std::nullopt});
        return;
      }
    }
    // Outputs are posted to this strand, so none is handled before the stream has started.
    if (stream_) {
      writer_->start_stream(200, {});
      stream_started_ = true;
    }
  }

  void on_output(int prompt_index, const RequestOutput& out) {
    const size_t p = static_cast<size_t>(prompt_index);
    if (out.queue_time_seconds) queue_time_s_[p] = out.queue_time_seconds;
    if (!out.error.empty()) {
      // An engine-side failure ends the request as vLLM's FinishReason.ERROR, which vLLM counts
      // in request_success_total{finished_reason="error"}; every prompt that failed is recorded,
      // also after the first one has already answered the client.
      if (!finished_[p] && !aborted_) {
        finished_[p] = true;
        finish_reasons_[p] = "error";
        error_message_ = out.error;
        for (const CompletionOutput& c : out.outputs) {
          num_output_tokens_[p] = std::max(num_output_tokens_[p], c.num_output_tokens);
        }
        record_finished(p, monotonic_seconds());
      }
      fail(api::ApiError{500, out.error, std::nullopt});
      return;
    }
    if (done_) return;
    const double now = monotonic_seconds();
    int new_tokens = 0;
    for (const CompletionOutput& c : out.outputs) new_tokens += static_cast<int>(c.new_token_ids.size());
    if (new_tokens > 0) {
      if (!first_token_seen_[p]) {
        first_token_seen_[p] = true;
        ttft_ms_[p] = (now - arrival_) * 1000;
        if (deps_.metrics) deps_.metrics->observe_time_to_first_token(now - arrival_);
      } else {
        itl_ms_[p].push_back((now - last_output_time_[p]) * 1000);
        if (deps_.metrics) deps_.metrics->observe_inter_token_latency(now - last_output_time_[p]);
      }
      last_output_time_[p] = now;
    }
    if (out.num_cached_tokens) num_cached_tokens_[p] = out.num_cached_tokens;
    if (chat_full) chat_full->add(out);
    if (completion_full) completion_full->add(prompt_index, out);
    if (chat_stream) write(chat_stream->on_output(out));
    if (completion_stream) write(completion_stream->on_output(prompt_index, out));
    for (const CompletionOutput& c : out.outputs) {
      if (c.finish_reason != FinishReason::kNone) {
        finish_reasons_[p] = finish_reason_name(c.finish_reason);
      }
    }
    if (out.num_prompt_tokens) num_prompt_tokens[p] = out.num_prompt_tokens;
    int total = 0;
    for (const CompletionOutput& c : out.outputs) total = std::max(total, c.num_output_tokens);
    num_output_tokens_[p] = std::max(num_output_tokens_[p], total);
    if (out.finished) {
      finished_[p] = true;
      record_finished(p, now);
      for (bool f : finished_) {
        if (!f) return;
      }
      complete();
    }
  }

  // Ends the request with `error`: an SSE error event and [DONE] once the stream has begun,
  // else the error as the response; its engine requests are aborted.
  void fail(const api::ApiError& error) {
    if (done_) return;
    done_ = true;
    if (error_message_.empty()) error_message_ = error.message;
    report_unfinished("error");
    for (size_t i = 0; i < engine_ids.size(); ++i) {
      if (!finished_[i]) deps_.engine->abort(engine_ids[i]);
    }
    if (stream_started_) {
      write(api::sse_error(error));
      writer_->end_stream();
    } else {
      writer_->send(error_response(error));
    }
    finish_once();
  }

 private:
  void write(std::string data) {
    if (!data.empty()) writer_->write_stream(std::move(data));
  }

  void record_finished(size_t p, double now) {
    const std::string reason = finish_reasons_[p].empty() ? "stop" : finish_reasons_[p];
    report(p, reason, now);
    if (!deps_.metrics) return;
    metrics::FinishedRequest finished;
    finished.finished_reason = reason;
    finished.e2e_latency_s = now - arrival_;
    finished.queue_time_s = queue_time_s_[p];
    finished.num_prompt_tokens = num_prompt_tokens[p];
    finished.num_generation_tokens = num_output_tokens_[p];
    deps_.metrics->record_finished(finished);
  }

  // Hands prompt p's summary to the stats window (once per engine request).
  void report(size_t p, const std::string& reason, double now) {
    trace(p, reason, now);
    if (!deps_.on_request_done || p >= engine_ids.size()) return;
    RecentRequest r;
    r.id = engine_ids[p];
    r.prompt_tokens = num_prompt_tokens[p];
    r.completion_tokens = num_output_tokens_[p];
    r.cached_tokens = num_cached_tokens_[p];
    r.ttft_ms = ttft_ms_[p];
    r.e2e_ms = (now - arrival_) * 1000;
    r.finish_reason = reason;
    r.finished_at = unix_time_seconds();
    deps_.on_request_done(r, itl_ms_[p]);
  }

  // One span per engine request (vLLM's llm_request), handed to the exporter's queue.
  void trace(size_t p, const std::string& reason, double now) {
    if (!deps_.tracer || p >= engine_ids.size() || (trace_context && !trace_context->sampled)) return;
    RequestTiming timing;
    timing.arrival_s = arrival_;
    timing.end_s = now;
    timing.unix_minus_monotonic_s = unix_time_seconds() - monotonic_seconds();
    if (queue_time_s_[p]) timing.queue_s = *queue_time_s_[p];
    if (first_token_seen_[p]) {
      timing.first_token_s = arrival_ + ttft_ms_[p] / 1000;
      timing.last_token_s = last_output_time_[p];
    }
    RequestSpanInfo info;
    info.request_id = engine_ids[p];
    info.model = deps_.serving->served_model_name;
    info.sampling = p < sampling_.size() ? &sampling_[p] : nullptr;
    info.num_prompt_tokens = num_prompt_tokens[p];
    info.num_completion_tokens = num_output_tokens_[p];
    info.finish_reason = reason;
    info.error = reason == "error" ? error_message_ : "";
    for (tracing::SpanData& span : make_request_spans(info, timing, trace_context, *deps_.tracer)) {
      deps_.tracer->submit(std::move(span));
    }
  }

  // Reports every submitted prompt that has not finished as ending for `reason`.
  void report_unfinished(const std::string& reason) {
    const double now = monotonic_seconds();
    for (size_t i = 0; i < engine_ids.size(); ++i) {
      if (!finished_[i]) report(i, reason, now);
    }
  }

  void complete() {
    done_ = true;
    int prompt_tokens = 0, completion_tokens = 0;
    if (chat_full) {
      writer_->send(json_response(200, chat_full->build()));
      prompt_tokens = chat_full->num_prompt_tokens();
      completion_tokens = chat_full->num_completion_tokens();
    } else if (completion_full) {
      writer_->send(json_response(200, completion_full->build()));
      prompt_tokens = completion_full->num_prompt_tokens();
      completion_tokens = completion_full->num_completion_tokens();
    } else if (chat_stream) {
      write(chat_stream->finish());
      writer_->end_stream();
      prompt_tokens = chat_stream->num_prompt_tokens();
      completion_tokens = chat_stream->num_completion_tokens();
    } else if (completion_stream) {
      write(completion_stream->finish());
      writer_->end_stream();
      prompt_tokens = completion_stream->num_prompt_tokens();
      completion_tokens = completion_stream->num_completion_tokens();
    }
    writer_->set_token_counts(prompt_tokens, completion_tokens);
    finish_once();
  }

  // The client went away: vLLM records nothing for such a request in its per-request metrics
  // (see metrics::FinishedRequest); the stats window still lists it as "abort".
  void abort_all(const char* why) {
    if (done_) return;
    done_ = true;
    aborted_ = true;
    report_unfinished("abort");
    for (size_t i = 0; i < engine_ids.size(); ++i) {
      if (!finished_[i]) deps_.engine->abort(engine_ids[i]);
    }
    KILN_LOG(Debug) << "aborted " << (engine_ids.empty() ? "" : engine_ids[0]) << ": " << why;
    finish_once();
  }

  void finish_once() {
    if (registration_) {
      deps_.in_flight->remove(registration_);
      registration_ = 0;
    }
    if (deps_.on_finished) {
      auto callback = std::move(deps_.on_finished);
      deps_.on_finished = nullptr;
      callback();
    }
  }

  std::shared_ptr<ResponseWriter> writer_;
  GenerationDeps deps_;
  bool stream_;
  bool done_ = false;
  bool stream_started_ = false;
  std::vector<bool> finished_;
  std::vector<int> num_output_tokens_;
  std::vector<bool> first_token_seen_;
  std::vector<double> last_output_time_;
  std::vector<std::string> finish_reasons_;  // per prompt; empty until its choice finishes
  std::vector<double> ttft_ms_;               // per prompt; NaN before the first token
  std::vector<std::vector<double>> itl_ms_;   // per prompt: gaps between token outputs
  std::vector<int> num_cached_tokens_;        // per prompt: prefix cache hits
  std::vector<std::optional<double>> queue_time_s_;  // per prompt: the engine's queue time
  bool aborted_ = false;                      // the client disconnected
  uint64_t registration_ = 0;                 // in deps_.in_flight while running
  std::vector<SamplingParams> sampling_;      // per prompt, for the trace
  std::string error_message_;                 // the failure, for the trace
  double arrival_;
};

api::ResponseContext make_context(const GenerationDeps& deps, const std::string& prefix) {
  api::ResponseContext context;
  context.id = prefix + api::random_uuid4();
  context.created = unix_seconds();
  context.model = deps.serving->served_model_name;
  context.codec = deps.codec;
  context.reasoning_parser = deps.serving->reasoning_parser;
  context.enable_prompt_tokens_details = deps.serving->enable_prompt_tokens_details;
  return context;
}

// Answers with `error` and ends the request's accounting.
void reject(const std::shared_ptr<ResponseWriter>& writer, GenerationDeps& deps, const api::ApiError& error) {
  writer->send(error_response(error));
  if (deps.on_finished) deps.on_finished();
}

// A request with an output constraint: the constraint compiles on the grammar compiler's
// worker (cached, so a schema sent again costs nothing), and the request goes on, on its
// connection's strand, with the compiled grammar. A schema the grammar engine refuses is a 400
// naming the field it came in.
void with_constraint(const std::shared_ptr<ResponseWriter>& writer, GenerationDeps deps, const api::OutputConstraint& constraint,
                     std::function<void(GenerationDeps, std::shared_ptr<const grammar::CompiledGrammar>)> then) {
  if (!deps.grammars) {
    return reject(writer, deps, api::bad_request("structured outputs are not available on this server", constraint.param));
  }
  grammar::GrammarCompiler* compiler = deps.grammars;
  compiler->compile_async(constraint.spec, [writer, deps = std::move(deps), param = constraint.param,
                                            then = std::move(then)](const grammar::CompileResult& result) mutable {
    writer->post([writer, deps = std::move(deps), param, then = std::move(then), result]() mutable {
      if (!result.ok()) return reject(writer, deps, api::bad_request(param + ": " + result.message(), param));
      then(std::move(deps), *result);
    });
  });
}

}  // namespace

namespace {

void start_chat(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer, GenerationDeps deps,
                api::ChatCompletionRequest chat, std::optional<api::ToolCallOptions> tools,
                std::shared_ptr<const grammar::CompiledGrammar> grammar = nullptr);

}  // namespace

void handle_chat_completion(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer,
                            GenerationDeps deps) {
  const api::ServingConfig& serving = *deps.serving;
  auto parsed = api::parse_chat_request(request.body, serving.limits);
  if (!parsed.ok()) return reject(writer, deps, parsed.error());
  api::ChatCompletionRequest& chat = parsed.value();
  if (auto error = api::check_model_name(chat.model, serving.served_model_name)) {
    return reject(writer, deps, *error);
  }
  auto tools = api::tool_call_options(chat.tool_request, serving);
  if (!tools.ok()) return reject(writer, deps, tools.error());
  if (!chat.constraint) return start_chat(request, std::move(writer), std::move(deps), std::move(chat), tools.value());
  const api::OutputConstraint constraint = *chat.constraint;
  with_constraint(writer, std::move(deps), constraint,
                  [request, writer, chat = std::move(chat), tool_options = tools.value()](
                      GenerationDeps deps, std::shared_ptr<const grammar::CompiledGrammar> grammar) mutable {
                    start_chat(request, writer, std::move(deps), std::move(chat), tool_options, std::move(grammar));
                  });
}

namespace {

void start_chat(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer, GenerationDeps deps,
                api::ChatCompletionRequest chat, std::optional<api::ToolCallOptions> tools,
                std::shared_ptr<const grammar::CompiledGrammar> grammar) {
  const api::ServingConfig& serving = *deps.serving;
  auto prompt = api::prepare_chat_prompt(chat, *deps.renderer, *deps.codec);
  if (!prompt.ok()) return reject(writer, deps, prompt.error());
  const int num_prompt_tokens = static_cast<int>(prompt.value().token_ids.size());
  auto sampling = api::resolve_max_tokens(chat.sampling, chat.max_tokens, std::nullopt, num_prompt_tokens,
                                          serving.max_model_len);
  if (!sampling.ok()) return reject(writer, deps, sampling.error());

  api::ResponseContext context = make_context(deps, "chatcmpl-");
  api::ChatOptions options{chat.sampling.n, chat.logprobs, chat.top_logprobs, chat.stream_options, tools};
  auto flight = std::make_shared<Flight>(writer, deps, chat.stream, 1);
  if (deps.tracer) flight->trace_context = tracing::parse_traceparent(request.header("traceparent"), request.header("tracestate"));
  flight->num_prompt_tokens = {num_prompt_tokens};
  if (chat.stream) flight->chat_stream.emplace(context, options);
  else flight->chat_full.emplace(context, options);
  EngineRequest engine_request;
  engine_request.request_id = context.id;
  engine_request.prompt_token_ids = std::move(prompt.value().token_ids);
  engine_request.sampling = std::move(sampling.value());
  if (grammar) {
    engine_request.sampling.grammar = std::move(grammar);
    // With the deepseek_r1 parser the answer after the thinking is what the constraint is for.
    if (serving.reasoning_parser == api::ReasoningParserKind::kDeepSeekR1) {
      engine_request.sampling.grammar_after_token = serving.reasoning_end_token_id;
    }
  }
  std::vector<EngineRequest> requests;
  requests.push_back(std::move(engine_request));
  // Submitted on the strand so that outputs (posted there too) find the flight fully set up.
  writer->post([flight, requests = std::move(requests)]() mutable { flight->submit_all(std::move(requests)); });
}

}  // namespace

namespace {

void start_completion(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer, GenerationDeps deps,
                      api::CompletionRequest completion);

}  // namespace

void handle_completion(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer,
                       GenerationDeps deps) {
  const api::ServingConfig& serving = *deps.serving;
  auto parsed = api::parse_completion_request(request.body, serving.limits);
  if (!parsed.ok()) return reject(writer, deps, parsed.error());
  api::CompletionRequest& completion = parsed.value();
  if (auto error = api::check_model_name(completion.model, serving.served_model_name)) {
    return reject(writer, deps, *error);
  }
  if (completion.constraint) {
    const api::OutputConstraint constraint = *completion.constraint;
    completion.constraint.reset();
    return with_constraint(writer, std::move(deps), constraint,
                           [request, writer, completion = std::move(completion)](
                               GenerationDeps deps, std::shared_ptr<const grammar::CompiledGrammar> grammar) mutable {
                             completion.sampling.grammar = std::move(grammar);
                             start_completion(request, writer, std::move(deps), std::move(completion));
                           });
  }
  start_completion(request, std::move(writer), std::move(deps), std::move(completion));
}

namespace {

void start_completion(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer, GenerationDeps deps,
                      api::CompletionRequest completion) {
  const api::ServingConfig& serving = *deps.serving;
  std::vector<api::PreparedPrompt> prompts;
  std::vector<EngineRequest> requests;
  api::ResponseContext context = make_context(deps, "cmpl-");
  std::vector<int> prompt_lengths;
  for (size_t i = 0; i < completion.prompts.size(); ++i) {
    auto prompt = api::prepare_completion_prompt(completion.prompts[i], completion.add_special_tokens,
                                                 *deps.codec);
    if (!prompt.ok()) return reject(writer, deps, prompt.error());
    const int length = static_cast<int>(prompt.value().token_ids.size());
    // vLLM's default max_tokens for completions is 16.
    auto sampling = api::resolve_max_tokens(completion.sampling, completion.max_tokens, 16, length,
                                            serving.max_model_len);
    if (!sampling.ok()) return reject(writer, deps, sampling.error());
    EngineRequest engine_request;
    engine_request.request_id = context.id + (completion.prompts.size() > 1 ? "-" + std::to_string(i) : "");
    engine_request.prompt_token_ids = prompt.value().token_ids;
    engine_request.sampling = std::move(sampling.value());
    requests.push_back(std::move(engine_request));
    prompt_lengths.push_back(length);
    prompts.push_back(std::move(prompt.value()));
  }
  api::CompletionOptions options{completion.sampling.n, completion.echo, completion.logprobs,
                                 completion.stream_options};
  auto flight = std::make_shared<Flight>(writer, deps, completion.stream, prompts.size());
  if (deps.tracer) flight->trace_context = tracing::parse_traceparent(request.header("traceparent"), request.header("tracestate"));
  flight->num_prompt_tokens = prompt_lengths;
  if (completion.stream) flight->completion_stream.emplace(context, options, std::move(prompts));
  else flight->completion_full.emplace(context, options, std::move(prompts));
  writer->post([flight, requests = std::move(requests)]() mutable { flight->submit_all(std::move(requests)); });
}

}  // namespace

}  // namespace kiln::server
