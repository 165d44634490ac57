// An engine-side failure of a request, mid-stream and before any output. The CPU backend has no
// failure a request can provoke, so this server runs with the test-only fault injection
// KILN_TEST_FAIL_AT_POSITION (README: every engine step that computes a token at that position
// or later fails, as a device fault would): the engine fails the step's requests
// (Engine::fail_request), the server sends `data: {"error":{...}}` then `data: [DONE]`, counts
// vllm:request_success_total{finished_reason="error"}, and keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, parseSse, metric, MODEL } from './harness.mjs';

const FAIL_AT = 48;
let server;
before(async () => {
  server = await startServer({ env: { KILN_TEST_FAIL_AT_POSITION: String(FAIL_AT) } });
});
after(async () => {
  await server?.stop();
});

const labels = { model_name: MODEL };
const errors = () => metric(server.url, 'vllm:request_success_total', { ...labels, finished_reason: 'error' });

test('the fault injection is announced in the log', () => {
  assert.match(server.log, /KILN_TEST_FAIL_AT_POSITION=48: test-only fault injection is on/);
});

test('an engine failure after the stream began: an error event, then [DONE], then the server serves on', async () => {
  const errorsBefore = await errors();
  const prompt = [128000, 6151, 1917, 11, 1268];  // 5 tokens: the stream runs well before position 48
  const response = await fetch(`${server.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: 200, ignore_eos: true, stream: true }),
  });
  assert.equal(response.status, 200, 'the stream started before the failure');
  const text = await response.text();
  const payloads = parseSse(text);  // strict framing: every event is `data: ...\n\n`
  assert.equal(payloads.at(-1), '[DONE]');
  const error = JSON.parse(payloads.at(-2));
  assert.deepEqual(Object.keys(error), ['error']);
  assert.deepEqual(Object.keys(error.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(error.error.code, 500);
  assert.equal(error.error.type, 'InternalServerError');
  assert.equal(error.error.param, null);
  assert.match(error.error.message, /KILN_TEST_FAIL_AT_POSITION=48/);
  assert.ok(text.endsWith(`data: ${payloads.at(-2)}\n\ndata: [DONE]\n\n`));
  const chunks = payloads.slice(0, -2).map((p) => JSON.parse(p));
  let generated = '';
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'text_completion');
    assert.equal(chunk.choices[0].finish_reason, null, 'no choice finished before the error');
    generated += chunk.choices[0].text;
  }
  assert.ok(chunks.length >= 5, `${chunks.length} chunks streamed before the failure`);
  assert.ok(generated.length > 0);
  assert.equal(await errors(), errorsBefore + 1);

  // The server goes on: a short request below the fault position completes.
  const ok = await post(`${server.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 3, ignore_eos: true });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.usage.completion_tokens, 3);
  assert.equal(await metric(server.url, 'vllm:num_requests_running', labels), 0);
  assert.equal(await metric(server.url, 'vllm:kv_cache_usage_perc', labels), 0);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
});

test('an engine failure before any output answers 500 with the error body', async () => {
  const errorsBefore = await errors();
  const reply = await post(`${server.url}/v1/completions`, {
    model: MODEL, prompt: new Array(FAIL_AT + 2).fill(1917), max_tokens: 2,
  });
  assert.equal(reply.status, 500, reply.text);
  assert.equal(reply.json.error.code, 500);
  assert.match(reply.json.error.message, /KILN_TEST_FAIL_AT_POSITION/);
  assert.equal(await errors(), errorsBefore + 1);
  const chat = await post(`${server.url}/v1/chat/completions`, {
    model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2,
  });
  assert.equal(chat.status, 200, chat.text);
});
