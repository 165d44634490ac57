// A stand-in for `kiln serve` speaking the same HTTP protocol (docs/dashboard-api.md, issue 4's
// SSE framing, vLLM metric names), used only while `kiln serve` is not available to the suite.
// It serves the Vite bundle from --static, streams canned replies token by token, aborts a
// request when its client disconnects, and reports /metrics and /v1/stats.
//
// node mock-server.mjs --static DIR [--port 0] [--api-key KEY] [--reasoning-parser deepseek_r1|none]
// Prints "listening on PORT" once ready. POST /mock/config {reasoning_parser} switches the mode.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const staticDir = args.static;
const apiKey = args['api-key'] || '';
let reasoningParser = args['reasoning-parser'] || 'deepseek_r1';
const MODEL = 'kiln-mock';
const TOKEN_MS = Number(args['token-ms'] || 25);

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf' };
const stats = { prompt: 0, generation: 0, finished: 0, queries: 0, hits: 0, running: 0, waiting: 0,
  ttft: [], itl: [], recent: [], startedAt: Date.now() / 1000 };
let replyCounter = 0;

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function apiError(res, status, message, type) {
  send(res, status, { error: { message, type, param: null, code: status } });
}

function authorized(req) {
  return !apiKey || req.headers.authorization === `Bearer ${apiKey}`;
}

function percentiles(values) {
  if (!values.length) return { p50: null, p90: null, p99: null };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

function metricsText() {
  const l = `{model_name="${MODEL}"}`;
  return [
    '# TYPE vllm:num_requests_running gauge', `vllm:num_requests_running${l} ${stats.running}`,
    '# TYPE vllm:num_requests_waiting gauge', `vllm:num_requests_waiting${l} ${stats.waiting}`,
    '# TYPE vllm:kv_cache_usage_perc gauge', `vllm:kv_cache_usage_perc${l} ${Math.min(1, stats.running * 0.1)}`,
    '# TYPE vllm:prompt_tokens_total counter', `vllm:prompt_tokens_total${l} ${stats.prompt}`,
    '# TYPE vllm:generation_tokens_total counter', `vllm:generation_tokens_total${l} ${stats.generation}`,
    '',
  ].join('\n');
}

function statsJson() {
  return {
    object: 'kiln.stats', time: Date.now() / 1000, uptime_s: Date.now() / 1000 - stats.startedAt,
    version: 'mock', model: '/models/mock', served_model_name: MODEL,
    config: { max_model_len: 2048, max_num_seqs: 8, max_num_batched_tokens: 2048, block_size: 16,
      gpu_memory_utilization: 0.9, enable_prefix_caching: true, dtype: 'bfloat16', reasoning_parser: reasoningParser },
    memory_plan: { total_bytes: 8 * 2 ** 30, weights_bytes: 2 ** 30, activation_bytes: 2 ** 28,
      kv_cache_bytes: 6 * 2 ** 30, kv_cache_bytes_per_block: 2 ** 21, num_gpu_blocks: 3072, block_size: 16,
      max_concurrency: 24 },
    device: { kind: 'mock', name: 'mock device', total_memory_bytes: 8 * 2 ** 30 },
    counters: { prompt_tokens_total: stats.prompt, generation_tokens_total: stats.generation,
      requests_finished_total: stats.finished, num_preemptions_total: 0,
      prefix_cache_queries_total: stats.queries, prefix_cache_hits_total: stats.hits },
    gauges: { num_requests_running: stats.running, num_requests_waiting: stats.waiting,
      kv_cache_usage: Math.min(1, stats.running * 0.1) },
    latency: { window_s: 300, ttft_ms: percentiles(stats.ttft), itl_ms: percentiles(stats.itl),
      e2e_ms: percentiles(stats.recent.map((r) => r.e2e_ms)) },
    recent_requests: stats.recent.slice(0, 50),
  };
}

// The reply's pieces: reasoning then answer. "long" in the prompt makes a long one (Stop tests).
function replyPieces(prompt, maxTokens) {
  const n = ++replyCounter;
  const long = /long/.test(prompt);
  const reasoning = ['Okay', ',', ' the', ' user', ' wrote', ' something', '.', ' Let', ' me', ' think', '.'];
  // Long enough (about a second) for the browser test to see the block open while it streams.
  for (let i = 0; i < 40; i++) reasoning.push(i % 2 ? ' step' : ' Hmm,');
  const answer = ['Hello', ' from', ' kiln', ` (reply ${n})`, '.', ' Here', ' is', ' `code`', ' and', ' $x^2$', '.',
    '\n\n```python\n', 'print(', '"hi")', '\n```\n', '\n$$\\int_0^1 x\\,dx = \\tfrac12$$\n'];
  if (long) for (let i = 0; i < 2000; i++) answer.push(` word${i}`);
  return { reasoning, answer: answer.slice(0, Math.max(1, maxTokens - reasoning.length)) };
}

async function chat(req, res, body) {
  if (!authorized(req)) return apiError(res, 401, 'Unauthorized', 'AuthenticationError');
  if (!Array.isArray(body.messages)) return apiError(res, 400, 'messages is required', 'BadRequestError');
  const prompt = body.messages.map((m) => m.content).join('\n');
  const promptTokens = prompt.split(/\s+/).length + 4;
  const { reasoning, answer } = replyPieces(prompt, body.max_tokens ?? 4096);
  const id = `chatcmpl-mock-${replyCounter}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta, finish = null) => ({ id, object: 'chat.completion.chunk', created, model: MODEL,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const write = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  stats.running++;
  stats.prompt += promptTokens;
  stats.queries += promptTokens;
  stats.hits += Math.floor(promptTokens / 2);
  const start = Date.now();
  let aborted = false;
  res.on('close', () => { aborted = !res.writableFinished; });
  write(chunk({ role: 'assistant', content: '' }));
  let tokens = 0;
  let first = null;
  let last = start;
  const pieces = [...reasoning.map((t) => ({ reasoning: t })),
    ...(reasoningParser === 'none' ? [{ content: '\n</think>\n\n' }] : []), ...answer.map((t) => ({ content: t }))];
  for (const piece of pieces) {
    await new Promise((r) => setTimeout(r, TOKEN_MS));
    if (aborted) break;
    const now = Date.now();
    first ??= now;
    stats.itl.push(now - last);
    last = now;
    if (piece.reasoning !== undefined) {
      write(chunk(reasoningParser === 'none' ? { content: piece.reasoning }
        : { reasoning_content: piece.reasoning, reasoning: piece.reasoning }));
    } else {
      write(chunk({ content: piece.content }));
    }
    tokens++;
    stats.generation++;
  }
  stats.running--;
  const finishReason = aborted ? 'abort' : tokens < pieces.length ? 'length' : 'stop';
  stats.finished++;
  stats.ttft.push((first ?? Date.now()) - start);
  stats.recent.unshift({ id, prompt_tokens: promptTokens, completion_tokens: tokens, cached_tokens: 0,
    ttft_ms: (first ?? Date.now()) - start, e2e_ms: Date.now() - start, finish_reason: finishReason,
    finished_at: Date.now() / 1000 });
  if (aborted) return;
  write(chunk({}, finishReason));
  if (body.stream_options?.include_usage) {
    write({ id, object: 'chat.completion.chunk', created, model: MODEL, choices: [],
      usage: { prompt_tokens: promptTokens, completion_tokens: tokens, total_tokens: promptTokens + tokens } });
  }
  res.end('data: [DONE]\n\n');
}

async function serveStatic(res, urlPath) {
  const name = urlPath === '/' ? 'index.html' : urlPath === '/dashboard' ? 'dashboard.html' : urlPath.slice(1);
  if (name.includes('..')) return apiError(res, 404, 'Not Found', 'NotFoundError');
  try {
    const data = await readFile(path.join(staticDir, name));
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(name)] || 'application/octet-stream' });
    res.end(data);
  } catch {
    apiError(res, 404, 'Not Found', 'NotFoundError');
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let raw = '';
  req.on('data', (d) => { raw += d; });
  req.on('end', async () => {
    const body = raw ? JSON.parse(raw) : {};
    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') return chat(req, res, body);
    if (req.method === 'POST' && url.pathname === '/mock/config') {
      reasoningParser = body.reasoning_parser || reasoningParser;
      return send(res, 200, { reasoning_parser: reasoningParser });
    }
    if (url.pathname === '/v1/models') {
      if (!authorized(req)) return apiError(res, 401, 'Unauthorized', 'AuthenticationError');
      return send(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model', owned_by: 'kiln', max_model_len: 2048 }] });
    }
    if (url.pathname === '/v1/stats') {
      if (!authorized(req)) return apiError(res, 401, 'Unauthorized', 'AuthenticationError');
      return send(res, 200, statsJson());
    }
    if (url.pathname === '/metrics') return send(res, 200, metricsText(), 'text/plain; version=0.0.4');
    if (url.pathname === '/health') return send(res, 200, '');
    return serveStatic(res, url.pathname);
  });
});
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
