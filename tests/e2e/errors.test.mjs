// A table of bad requests through raw HTTP: each gets the right 4xx status and vLLM's error body
// {"error":{"message","type","param","code"}}, and the server keeps serving afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, MODEL } from './harness.mjs';

const KEY = 'sk-e2e-errors';
const MAX_BODY = 65536;
let server;
before(async () => {
  server = await startServer({ extraArgs: ['--api-key', KEY, '--max-request-bytes', String(MAX_BODY)] });
});
after(async () => {
  await server?.stop();
});

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const user = [{ role: 'user', content: 'hi' }];
const chat = (fields) => ({ model: MODEL, messages: user, max_tokens: 4, ...fields });
const completion = (fields) => ({ model: MODEL, prompt: 'hi', max_tokens: 4, ...fields });
const raw = (text) => ({ raw: Buffer.from(text, 'latin1') });
const longText = 'hello '.repeat(8300);
const tooLong = (n) => `This model's maximum context length is 8192 tokens. However, your request has ${n} input tokens. Please reduce the length of the input messages.`;

// [name, method, path, body, status, message (string: exact, RegExp: match), options]
const cases = [
  ['malformed JSON', 'POST', CHAT, raw('{"model":'), 400, /JSON/],
  ['body is a list', 'POST', CHAT, raw('[]'), 400],
  ['empty body', 'POST', CHAT, raw(''), 400],
  ['invalid UTF-8 in a string', 'POST', CHAT, raw(`{"model":"${MODEL}","messages":[{"role":"user","content":"a\xff\xfe"}]}`), 400],
  ['NaN literal', 'POST', CHAT, raw(`{"model":"${MODEL}","messages":[],"temperature":NaN}`), 400],
  ['messages missing', 'POST', CHAT, { model: MODEL }, 400, /messages/],
  ['messages a string', 'POST', CHAT, { model: MODEL, messages: 'hi' }, 400, /messages/],
  ['message without role', 'POST', CHAT, { model: MODEL, messages: [{ content: 'hi' }] }, 400],
  ['content a number', 'POST', CHAT, { model: MODEL, messages: [{ role: 'user', content: 5 }] }, 400],
  ['max_tokens -1', 'POST', CHAT, chat({ max_tokens: -1 }), 400, /max_tokens/],
  ['max_tokens a string', 'POST', CHAT, chat({ max_tokens: 'ten' }), 400, /max_tokens/],
  ['max_tokens 1e999', 'POST', CHAT, raw(`{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"max_tokens":1e999}`), 400],
  ['max_tokens too large', 'POST', CHAT, chat({ max_tokens: 9000 }), 400,
    "'max_tokens' or 'max_completion_tokens' is too large: 9000. This model's maximum context length is 8192 tokens and your request has 6 input tokens (9000 > 8192 - 6)."],
  ['max_completion_tokens -5', 'POST', CHAT, chat({ max_tokens: undefined, max_completion_tokens: -5 }), 400],
  ['temperature -1', 'POST', CHAT, chat({ temperature: -1 }), 400, /temperature/],
  ['temperature a string', 'POST', CHAT, chat({ temperature: 'hot' }), 400, /temperature/],
  ['top_p 1.5', 'POST', CHAT, chat({ top_p: 1.5 }), 400, /top_p/],
  ['top_p 0', 'POST', CHAT, chat({ top_p: 0 }), 400, /top_p/],
  ['top_k -5', 'POST', CHAT, chat({ top_k: -5 }), 400, /top_k/],
  ['min_p 2', 'POST', CHAT, chat({ min_p: 2 }), 400, /min_p/],
  ['n 0', 'POST', CHAT, chat({ n: 0 }), 400, /\bn\b/],
  ['n -1', 'POST', CHAT, chat({ n: -1 }), 400, /\bn\b/],
  ['n 1e6', 'POST', CHAT, chat({ n: 1000000 }), 400],
  ['presence_penalty 3', 'POST', CHAT, chat({ presence_penalty: 3 }), 400, /presence_penalty/],
  ['frequency_penalty -3', 'POST', CHAT, chat({ frequency_penalty: -3 }), 400, /frequency_penalty/],
  ['repetition_penalty 0', 'POST', CHAT, chat({ repetition_penalty: 0 }), 400, /repetition_penalty/],
  ['logprobs a string', 'POST', CHAT, chat({ logprobs: 'yes' }), 400, /logprobs/],
  ['top_logprobs 50', 'POST', CHAT, chat({ logprobs: true, top_logprobs: 50 }), 400, /top_logprobs|logprobs/],
  ['top_logprobs -1', 'POST', CHAT, chat({ logprobs: true, top_logprobs: -1 }), 400],
  ['stop a number', 'POST', CHAT, chat({ stop: 5 }), 400, /stop/],
  ['stop a list of numbers', 'POST', CHAT, chat({ stop: [1, 2] }), 400, /stop/],
  ['stream a string', 'POST', CHAT, chat({ stream: 'yes' }), 400, /stream/],
  ['seed a string', 'POST', CHAT, chat({ seed: 'x' }), 400, /seed/],
  ['logit_bias key not a token id', 'POST', CHAT, chat({ logit_bias: { abc: 1 } }), 400],
  ['logit_bias token out of vocab', 'POST', CHAT, chat({ logit_bias: { 999999999: 1 } }), 400],
  ['prompt_logprobs with stream', 'POST', CHAT, chat({ stream: true, prompt_logprobs: 1 }), 400,
    '`prompt_logprobs` are not available when `stream=True`.', { param: 'prompt_logprobs' }],
  ['prompt_logprobs -1 with stream', 'POST', COMPLETIONS, completion({ stream: true, prompt_logprobs: -1 }), 400,
    '`prompt_logprobs` are not available when `stream=True`.', { param: 'prompt_logprobs' }],
  ['prompt_logprobs 21', 'POST', COMPLETIONS, completion({ prompt_logprobs: 21 }), 400,
    'Requested prompt logprobs of 21, which is greater than max allowed: 20', { param: 'prompt_logprobs' }],
  ['prompt_logprobs -2', 'POST', CHAT, chat({ prompt_logprobs: -2 }), 400,
    '`prompt_logprobs` must be a positive value or -1.', { param: 'prompt_logprobs' }],
  ['prompt_logprobs -1 (the whole vocabulary)', 'POST', COMPLETIONS, completion({ prompt_logprobs: -1 }), 400,
    /^Requested prompt logprobs of \d+, which is greater than max allowed: 20$/, { param: 'prompt_logprobs' }],
  ['prompt_logprobs a string', 'POST', COMPLETIONS, completion({ prompt_logprobs: '2' }), 400, /prompt_logprobs/,
    { param: 'prompt_logprobs' }],
  ['unknown model (chat)', 'POST', CHAT, chat({ model: 'gpt-4o' }), 404, 'The model `gpt-4o` does not exist.'],
  ['over-long messages', 'POST', CHAT, chat({ messages: [{ role: 'user', content: longText }] }), 400,
    /^This model's maximum context length is 8192 tokens\. However, your request has \d+ input tokens\. Please reduce the length of the input messages\.$/],
  ['prompt missing', 'POST', COMPLETIONS, { model: MODEL }, 400, /prompt/],
  ['prompt a number', 'POST', COMPLETIONS, completion({ prompt: 5 }), 400, /prompt/],
  ['prompt an empty list', 'POST', COMPLETIONS, completion({ prompt: [] }), 400, /prompt/i],
  ['prompt token id out of vocab', 'POST', COMPLETIONS, completion({ prompt: [999999999] }), 400],
  ['prompt token ids over-long', 'POST', COMPLETIONS, completion({ prompt: new Array(9000).fill(1) }), 400, tooLong(9000)],
  ['completions max_tokens too large', 'POST', COMPLETIONS, completion({ prompt: [1, 2, 3], max_tokens: 8190 }), 400,
    "'max_tokens' or 'max_completion_tokens' is too large: 8190. This model's maximum context length is 8192 tokens and your request has 3 input tokens (8190 > 8192 - 3)."],
  ['completions logprobs 50', 'POST', COMPLETIONS, completion({ logprobs: 50 }), 400, /logprobs/],
  ['completions echo a string', 'POST', COMPLETIONS, completion({ echo: 'x' }), 400, /echo/],
  ['unknown model (completions)', 'POST', COMPLETIONS, completion({ model: 'x/y' }), 404, 'The model `x/y` does not exist.'],
  ['tokenize malformed', 'POST', '/tokenize', raw('{'), 400],
  ['detokenize tokens a string', 'POST', '/detokenize', { model: MODEL, tokens: 'x' }, 400],
  ['GET on chat', 'GET', CHAT, null, 405],
  ['DELETE on models', 'DELETE', '/v1/models', null, 405],
  ['unknown route', 'GET', '/v1/nope', null, 404],
  ['unknown POST route', 'POST', '/v2/chat/completions', chat({}), 404],
  ['missing key', 'POST', CHAT, chat({}), 401, null, { auth: null }],
  ['wrong key', 'POST', CHAT, chat({}), 401, null, { auth: 'Bearer sk-nope' }],
  ['key without Bearer', 'GET', '/v1/models', null, 401, null, { auth: KEY }],
  ['body over --max-request-bytes', 'POST', CHAT, raw(`{"model":"${MODEL}","messages":[{"role":"user","content":"${'x'.repeat(MAX_BODY)}"}]}`), 413],
];

test(`the table has at least 40 bad requests (${cases.length})`, () => {
  assert.ok(cases.length >= 40);
});

for (const [name, method, path, body, status, message, options = {}] of cases) {
  test(`${status} for ${name}: ${method} ${path}`, async () => {
    const headers = {};
    const auth = 'auth' in options ? options.auth : `Bearer ${KEY}`;
    if (auth) headers.authorization = auth;
    let payload;
    if (body !== null) {
      headers['content-type'] = 'application/json';
      payload = body.raw ?? JSON.stringify(body);
    }
    const response = await fetch(`${server.url}${path}`, { method, headers, body: payload });
    const text = await response.text();
    assert.equal(response.status, status, text);
    let json;
    assert.doesNotThrow(() => { json = JSON.parse(text); }, `not JSON: ${text}`);
    assert.deepEqual(Object.keys(json), ['error']);
    assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(typeof json.error.message, 'string');
    assert.ok(json.error.message.length > 0);
    assert.equal(typeof json.error.type, 'string');
    assert.ok(json.error.param === null || typeof json.error.param === 'string');
    assert.equal(json.error.code, status);
    if ('param' in options) assert.equal(json.error.param, options.param);
    if (typeof message === 'string') assert.equal(json.error.message, message);
    else if (message instanceof RegExp) assert.match(json.error.message, message);
  });
}

test('the server still serves after all of them', async () => {
  const response = await fetch(`${server.url}${CHAT}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(chat({ max_tokens: 3, ignore_eos: true })),
  });
  assert.equal(response.status, 200);
  const json = await response.json();
  assert.equal(json.usage.completion_tokens, 3);
  // vLLM streams prompt_logprobs 0 (it would return nothing anyway).
  const streamed = await fetch(`${server.url}${COMPLETIONS}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(completion({ stream: true, prompt_logprobs: 0 })),
  });
  assert.equal(streamed.status, 200);
  assert.ok((await streamed.text()).endsWith('data: [DONE]\n\n'));
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  assert.equal(server.child.exitCode, null, 'kiln serve is still running');
});
