// Raw HTTP against kiln serve: the SSE framing byte for byte, the reasoning split with
// --reasoning-parser deepseek_r1 and none, API logprobs against the engine's (completions echo),
// a client disconnect freeing its request, 200 concurrent streams, and Open WebUI's calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, parseSse, metric, sleep, MODEL } from './harness.mjs';

const THINK_END = 128014;
let r1; // --reasoning-parser auto: deepseek_r1 for this served name
let plain; // --reasoning-parser none, and a Bearer key as Open WebUI sends
before(async () => {
  [r1, plain] = await Promise.all([
    startServer(),
    startServer({ extraArgs: ['--reasoning-parser', 'none', '--api-key', 'sk-webui'] }),
  ]);
});
after(async () => {
  await Promise.all([r1?.stop(), plain?.stop()]);
});

const chat = (server, body, headers) => post(`${server.url}/v1/chat/completions`, body, headers);
const auth = { authorization: 'Bearer sk-webui' };
const messages = [{ role: 'user', content: 'Tell me a story.' }];

test('SSE framing: role chunk, deltas, finish chunk, usage chunk with no choices, [DONE]', async () => {
  const response = await fetch(`${r1.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL, messages, max_tokens: 5, ignore_eos: true, n: 2, stream: true,
      stream_options: { include_usage: true },
    }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const text = await response.text();
  assert.ok(text.startsWith('data: {'), 'the first byte starts a data line');
  assert.ok(text.endsWith('data: [DONE]\n\n'), 'the stream ends with data: [DONE] and a blank line');
  const payloads = parseSse(text);
  assert.equal(payloads.at(-1), '[DONE]');
  const chunks = payloads.slice(0, -1).map((p) => JSON.parse(p));
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, 'one id for the whole stream');
  assert.match([...ids][0], /^chatcmpl-/);
  const usage = chunks.at(-1);
  assert.deepEqual(usage.choices, []);
  assert.equal(usage.usage.completion_tokens, 10);
  assert.equal(usage.usage.total_tokens, usage.usage.prompt_tokens + 10);
  for (const index of [0, 1]) {
    const mine = chunks.slice(0, -1).filter((c) => c.choices[0]?.index === index);
    for (const c of mine) assert.equal(c.choices.length, 1);
    assert.deepEqual(mine[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(mine[0].choices[0].finish_reason, null);
    const last = mine.at(-1).choices[0];
    assert.equal(last.finish_reason, 'length');
    for (const c of mine.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
    for (const c of mine) assert.equal(c.object, 'chat.completion.chunk');
  }
  for (const c of chunks.slice(0, -1)) assert.equal(c.usage ?? null, null, 'usage only in the last chunk');

  // Completions stream the same way (text deltas, finish_reason last, [DONE]).
  const completion = await post(`${r1.url}/v1/completions`, {
    model: MODEL, prompt: 'Once upon', max_tokens: 4, ignore_eos: true, stream: true,
  });
  const parts = parseSse(completion.text);
  assert.equal(parts.at(-1), '[DONE]');
  const cchunks = parts.slice(0, -1).map((p) => JSON.parse(p));
  assert.equal(cchunks.at(-1).choices[0].finish_reason, 'length');
  assert.ok(cchunks.every((c) => c.object === 'text_completion'));
});

// Collects a chat stream's reasoning, content and tokens (from logprobs).
async function streamChat(server, body, headers = {}) {
  const response = await post(`${server.url}/v1/chat/completions`,
    { ...body, stream: true, stream_options: { include_usage: true } }, headers);
  assert.equal(response.status, 200, response.text);
  const payloads = parseSse(response.text);
  assert.equal(payloads.at(-1), '[DONE]');
  const out = { reasoning: '', content: '', tokens: [], finish: null, usage: null, sawReasoning: false };
  for (const payload of payloads.slice(0, -1)) {
    const chunk = JSON.parse(payload);
    assert.equal(chunk.error, undefined, payload);
    if (chunk.usage) out.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta.reasoning_content !== undefined) {
        out.sawReasoning = true;
        out.reasoning += choice.delta.reasoning_content;
        assert.equal(choice.delta.reasoning, choice.delta.reasoning_content);
      }
      out.content += choice.delta.content ?? '';
      for (const entry of choice.logprobs?.content ?? []) out.tokens.push(entry.token);
      if (choice.finish_reason) out.finish = choice.finish_reason;
    }
  }
  return out;
}

test('reasoning split at </think>: deepseek_r1 vs none, streamed and not', async () => {
  // Random weights give nearly flat logits: a logit_bias on </think> (token 128014) makes greedy
  // decoding pick it at the first step where the bias beats the gap to the best token. That step
  // only moves earlier as the bias grows, so bisect the bias until </think> lands inside the output.
  const maxTokens = 24;
  const probe = async (bias) => {
    const body = {
      model: MODEL, messages, max_tokens: maxTokens, temperature: 0, ignore_eos: true,
      logit_bias: { [THINK_END]: bias }, logprobs: true,
    };
    const { json } = await chat(r1, body);
    const tokens = json.choices[0].logprobs.content.map((e) => e.token);
    return { body, json, tokens, at: tokens.indexOf('</think>') };
  };
  let found = null;
  let [lo, hi] = [0, 20];
  for (let i = 0; i < 16 && !found; i++) {
    const attempt = await probe((lo + hi) / 2);
    if (attempt.at > 0 && attempt.at < maxTokens - 1) found = attempt;
    else if (attempt.at === 0) hi = (lo + hi) / 2;
    else lo = (lo + hi) / 2;
  }
  assert.ok(found, 'no logit_bias put </think> inside the output');
  const { body, json, tokens, at } = found;
  const expectedReasoning = tokens.slice(0, at).join('');
  const expectedContent = tokens.slice(at + 1).join('');
  const message = json.choices[0].message;
  assert.equal(message.reasoning_content, expectedReasoning);
  assert.equal(message.reasoning, expectedReasoning);
  assert.equal(message.content, expectedContent);

  const streamed = await streamChat(r1, body);
  assert.equal(streamed.reasoning, expectedReasoning);
  assert.equal(streamed.content, expectedContent);
  assert.deepEqual(streamed.tokens, tokens);
  assert.equal(streamed.usage.completion_tokens, maxTokens);

  // --reasoning-parser none: the same greedy text, </think> inline in content, no reasoning.
  const inline = await chat(plain, body, auth);
  assert.equal(inline.status, 200, inline.text);
  const inlineMessage = inline.json.choices[0].message;
  assert.equal(inlineMessage.content, tokens.join(''));
  assert.ok(inlineMessage.content.includes('</think>'));
  assert.equal(inlineMessage.reasoning_content ?? null, null);
  const inlineStream = await streamChat(plain, body, auth);
  assert.equal(inlineStream.content, tokens.join(''));
  assert.equal(inlineStream.sawReasoning, false);
});

test('reasoning without </think>: all reasoning, content null; none mode puts it in content', async () => {
  const body = {
    model: MODEL, messages, max_tokens: 6, temperature: 0, ignore_eos: true,
    logit_bias: { [THINK_END]: -100 },
  };
  const split = (await chat(r1, body)).json.choices[0].message;
  assert.equal(split.content, null);
  assert.ok(split.reasoning_content.length > 0);
  const inline = (await chat(plain, body, auth)).json.choices[0].message;
  assert.equal(inline.content, split.reasoning_content);
  // </think> as the very first token: empty reasoning, the rest is content.
  const first = (await chat(r1, { ...body, logit_bias: { [THINK_END]: 100 }, max_tokens: 3 })).json;
  assert.equal(first.choices[0].message.reasoning_content, '');
  assert.equal(first.choices[0].message.content, '</think></think>');
});

test('logprobs from chat equal the engine prompt logprobs of the same token ids', async () => {
  const tokenized = await post(`${r1.url}/tokenize`, { model: MODEL, messages });
  assert.equal(tokenized.status, 200, tokenized.text);
  const promptIds = tokenized.json.tokens;
  const { json } = await chat(r1, {
    model: MODEL, messages, max_tokens: 6, temperature: 0, ignore_eos: true, logprobs: true, top_logprobs: 5,
  });
  const entries = json.choices[0].logprobs.content;
  assert.equal(entries.length, 6);
  assert.equal(json.usage.prompt_tokens, promptIds.length);
  for (const entry of entries) {
    assert.equal(entry.top_logprobs.length, 5);
    // Greedy: the chosen token is the most likely one.
    assert.equal(entry.top_logprobs[0].token, entry.token);
    assert.equal(entry.top_logprobs[0].logprob, entry.logprob);
    for (let i = 1; i < 5; i++) assert.ok(entry.top_logprobs[i].logprob <= entry.top_logprobs[i - 1].logprob);
    assert.deepEqual(entry.bytes, [...Buffer.from(entry.token, 'utf8')]);
  }
  // The same prompt ids through /v1/completions: the same greedy tokens with the same logprobs.
  const generated = await post(`${r1.url}/v1/completions`, {
    model: MODEL, prompt: promptIds, max_tokens: 6, temperature: 0, ignore_eos: true, logprobs: 5,
  });
  assert.equal(generated.status, 200, generated.text);
  const glp = generated.json.choices[0].logprobs;
  assert.deepEqual(glp.tokens, entries.map((e) => e.token));
  for (let i = 0; i < entries.length; i++) {
    assert.ok(Math.abs(glp.token_logprobs[i] - entries[i].logprob) < 1e-4);
    for (const top of entries[i].top_logprobs) assert.ok(Math.abs(glp.top_logprobs[i][top.token] - top.logprob) < 1e-4);
  }
  // The generated ids (each token's text re-tokenized; the model's greedy tokens round-trip), fed
  // back as a prompt: the engine's prompt logprobs (echo) at those positions equal the sampled ones.
  const generatedIds = [];
  for (const entry of entries) {
    const ids = await post(`${r1.url}/tokenize`, { model: MODEL, prompt: entry.token, add_special_tokens: false });
    generatedIds.push(...ids.json.tokens);
  }
  assert.equal(generatedIds.length, entries.length, 'each greedy token re-tokenizes to one id');
  const echoed = await post(`${r1.url}/v1/completions`, {
    model: MODEL, prompt: [...promptIds, ...generatedIds], max_tokens: 1, temperature: 0,
    echo: true, logprobs: 5, prompt_logprobs: 5,
  });
  assert.equal(echoed.status, 200, echoed.text);
  const lp = echoed.json.choices[0].logprobs;
  const n = promptIds.length;
  for (let i = 0; i < entries.length; i++) {
    assert.equal(lp.tokens[n + i], entries[i].token);
    assert.ok(Math.abs(lp.token_logprobs[n + i] - entries[i].logprob) < 1e-4,
      `token ${i}: completions ${lp.token_logprobs[n + i]} vs chat ${entries[i].logprob}`);
    for (const top of entries[i].top_logprobs) {
      const other = lp.top_logprobs[n + i][top.token];
      assert.ok(other !== undefined && Math.abs(other - top.logprob) < 1e-4, `top token ${top.token} at ${i}`);
    }
  }
});

test('a client that disconnects mid-stream frees its request and KV blocks', async () => {
  const labels = { model_name: MODEL };
  // As in vLLM, an abandoned request is not a finished request in the per-request metrics.
  const abortsBefore = await metric(r1.url, 'vllm:request_success_total', { ...labels, finished_reason: 'abort' });
  const e2eBefore = await metric(r1.url, 'vllm:e2e_request_latency_seconds_count', labels);
  const controller = new AbortController();
  const response = await fetch(`${r1.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: controller.signal,
    body: JSON.stringify({ model: MODEL, messages, max_tokens: 4000, ignore_eos: true, stream: true }),
  });
  const reader = response.body.getReader();
  let received = '';
  while ((received.match(/data: /g) ?? []).length < 3) {
    const { value, done } = await reader.read();
    assert.equal(done, false);
    received += Buffer.from(value).toString();
  }
  assert.equal(await metric(r1.url, 'vllm:num_requests_running', labels), 1);
  assert.ok(await metric(r1.url, 'vllm:kv_cache_usage_perc', labels) > 0);
  controller.abort();
  const deadline = Date.now() + 10000;
  let running;
  let usage;
  do {
    await sleep(50);
    running = await metric(r1.url, 'vllm:num_requests_running', labels);
    usage = await metric(r1.url, 'vllm:kv_cache_usage_perc', labels);
  } while ((running !== 0 || usage !== 0) && Date.now() < deadline);
  assert.equal(running, 0);
  assert.equal(usage, 0);
  assert.equal(await metric(r1.url, 'vllm:num_requests_waiting', labels), 0);
  assert.equal(await metric(r1.url, 'vllm:request_success_total', { ...labels, finished_reason: 'abort' }), abortsBefore);
  assert.equal(await metric(r1.url, 'vllm:e2e_request_latency_seconds_count', labels), e2eBefore);
});

test('200 concurrent streaming requests all complete with the right token counts', async () => {
  // 3 tokens each keeps this within seconds on 2 CPU cores (the demo model still has a 128k vocabulary).
  const N = 3;
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => streamChat(r1, {
    model: MODEL, messages: [{ role: 'user', content: `Request number ${i}` }], max_tokens: N,
    ignore_eos: true, logprobs: true,
  })));
  for (const result of results) {
    assert.equal(result.finish, 'length');
    assert.equal(result.usage.completion_tokens, N);
    assert.equal(result.tokens.length, N, 'one logprobs entry per streamed token');
    // The text skips special tokens (skip_special_tokens), the logprobs list them; the
    // deepseek_r1 parser drops a leading <think> and the first </think> (where it splits).
    const special = /<\|[^|]*\|>|<｜[^｜]*｜>/g;
    let expected = result.tokens.join('').replace(special, '');
    if (expected.startsWith('<think>')) expected = expected.slice('<think>'.length);
    expected = expected.replace('</think>', '');
    assert.equal(result.reasoning + result.content, expected);
  }
  assert.equal(await metric(r1.url, 'vllm:num_requests_running', { model_name: MODEL }), 0);
});

test('Open WebUI: GET /v1/models and a streamed chat with a Bearer key', async () => {
  const models = await fetch(`${plain.url}/v1/models`, { headers: auth });
  assert.equal(models.status, 200);
  const list = await models.json();
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((m) => m.id), [MODEL]);
  assert.equal((await fetch(`${plain.url}/v1/models`)).status, 401);
  // Open WebUI's request: stream with usage, a system prompt, and its extra fields.
  const streamed = await streamChat(plain, {
    model: MODEL, stream: true, max_tokens: 5, ignore_eos: true,
    messages: [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    metadata: { chat_id: 'x' }, user: 'webui',
  }, auth);
  assert.equal(streamed.finish, 'length');
  assert.equal(streamed.usage.completion_tokens, 5);
  assert.equal(streamed.sawReasoning, false);
  assert.ok(streamed.content.length > 0);
});

// vLLM's prompt_logprobs: on each choice for completions, at the top level for chat; per prompt
// position a dict keyed by token id string holding the prompt token (its rank) and the top N
// (ranks 1..N); the first position is null.
test('completions prompt_logprobs in vLLM form', async () => {
  const prompt = [128000, 6151, 1917];
  const { status, json, text } = await post(`${r1.url}/v1/completions`, {
    model: MODEL, prompt, max_tokens: 1, prompt_logprobs: 2,
  });
  assert.equal(status, 200, text);
  const promptLogprobs = json.choices[0].prompt_logprobs;
  assert.ok(Array.isArray(promptLogprobs), 'prompt_logprobs is a list');
  assert.equal(promptLogprobs.length, 3);
  assert.equal(promptLogprobs[0], null);
  // The echo logprobs of the same prompt (same engine values, same token texts).
  const echoed = await post(`${r1.url}/v1/completions`, {
    model: MODEL, prompt, max_tokens: 1, echo: true, logprobs: 2,
  });
  assert.equal(echoed.status, 200, echoed.text);
  const echo = echoed.json.choices[0];
  assert.deepEqual(echo.prompt_logprobs, promptLogprobs, 'echo with logprobs asks for (and returns) the same');
  for (let i = 1; i < prompt.length; i++) {
    const entry = promptLogprobs[i];
    const keys = Object.keys(entry);
    assert.equal(keys[0], String(prompt[i]), 'the prompt token comes first');
    for (const [id, record] of Object.entries(entry)) {
      assert.match(id, /^\d+$/);
      assert.deepEqual(Object.keys(record), ['logprob', 'rank', 'decoded_token']);
      assert.ok(record.logprob <= 0);
      assert.ok(Number.isInteger(record.rank) && record.rank >= 1);
      assert.equal(typeof record.decoded_token, 'string');
    }
    const ranks = Object.values(entry).map((r) => r.rank);
    assert.ok(ranks.includes(1) && ranks.includes(2), `ranks 1 and 2 present at ${i}`);
    const token = entry[String(prompt[i])];
    assert.equal(token.decoded_token, echo.logprobs.tokens[i]);
    assert.ok(Math.abs(token.logprob - echo.logprobs.token_logprobs[i]) < 1e-6);
    const second = Object.values(entry).find((r) => r.rank === 2);
    if (keys.length === 3) assert.ok(token.rank > 2 && token.logprob <= second.logprob, 'outside the top 2');
    else assert.ok(token.rank <= 2, 'in the top 2');
  }
  // Rank semantics: append the rank-1 and the rank-2 candidates of position 1 as prompt token 2;
  // the same context gives them rank 1 and 2 with the same logprobs.
  const candidates = Object.entries(promptLogprobs[1]).filter(([, r]) => r.rank <= 2);
  assert.equal(candidates.length, 2);
  for (const [id, record] of candidates) {
    const extended = await post(`${r1.url}/v1/completions`, {
      model: MODEL, prompt: [prompt[0], Number(id)], max_tokens: 1, prompt_logprobs: 0,
    });
    assert.equal(extended.status, 200, extended.text);
    const position = extended.json.choices[0].prompt_logprobs[1];
    assert.deepEqual(Object.keys(position), [id], 'prompt_logprobs 0: only the prompt token');
    assert.equal(position[id].rank, record.rank);
    assert.ok(Math.abs(position[id].logprob - record.logprob) < 1e-4);
  }
  // No prompt_logprobs asked for: null.
  const plainReply = await post(`${r1.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 1 });
  assert.equal(plainReply.json.choices[0].prompt_logprobs, null);
});

test('chat prompt_logprobs at the top level of the response', async () => {
  const { status, json, text } = await chat(r1, { model: MODEL, messages, max_tokens: 1, prompt_logprobs: 1 });
  assert.equal(status, 200, text);
  assert.ok(Array.isArray(json.prompt_logprobs));
  assert.equal(json.prompt_logprobs.length, json.usage.prompt_tokens);
  assert.equal(json.prompt_logprobs[0], null);
  for (const entry of json.prompt_logprobs.slice(1)) {
    const records = Object.values(entry);
    assert.ok(records.length === 1 || records.length === 2);
    assert.ok(records.some((r) => r.rank === 1));
  }
  assert.equal('prompt_logprobs' in json.choices[0], false, 'not on the choices');
  const none = await chat(r1, { model: MODEL, messages, max_tokens: 1 });
  assert.equal(none.json.prompt_logprobs, null);
});

test('vllm:request_queue_time_seconds counts every finished request', async () => {
  const labels = { model_name: MODEL };
  const read = async () => ({
    count: await metric(r1.url, 'vllm:request_queue_time_seconds_count', labels),
    sum: await metric(r1.url, 'vllm:request_queue_time_seconds_sum', labels),
    e2eSum: await metric(r1.url, 'vllm:e2e_request_latency_seconds_sum', labels),
    e2eCount: await metric(r1.url, 'vllm:e2e_request_latency_seconds_count', labels),
  });
  const before = await read();
  // 6 at once with --max-num-batched-tokens 512: some wait while others prefill.
  const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => post(`${r1.url}/v1/completions`, {
    model: MODEL, prompt: `Queue test ${i} `.repeat(30), max_tokens: 2, ignore_eos: true,
  })));
  for (const reply of replies) assert.equal(reply.status, 200, reply.text);
  const after = await read();
  assert.equal(after.count - before.count, 6);
  assert.equal(after.e2eCount - before.e2eCount, 6);
  const queued = after.sum - before.sum;
  assert.ok(queued >= 0, `queue time sum ${queued} is not negative`);
  assert.ok(queued < after.e2eSum - before.e2eSum, 'queue time is part of the e2e latency');
});
