// The official openai npm SDK against kiln serve: chat (stream and not), completions with token-id
// prompts and echo with logprobs, the model list, and the SDK's error classes on kiln's bodies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, MODEL, demoModel } from './harness.mjs';

let server;
let keyed;
let client;
before(async () => {
  [server, keyed] = await Promise.all([
    startServer(),
    startServer({ extraArgs: ['--api-key', 'sk-e2e-secret'] }),
  ]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await Promise.all([server?.stop(), keyed?.stop()]);
});

const messages = [{ role: 'user', content: 'What is 1+1?' }];

test('chat, not streamed: reasoning/content split, finish_reason, usage', async () => {
  const completion = await client.chat.completions.create({
    model: MODEL, messages, max_tokens: 8, temperature: 0, ignore_eos: true,
  });
  assert.match(completion.id, /^chatcmpl-[0-9a-f-]{36}$/);
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, MODEL);
  assert.equal(completion.choices.length, 1);
  const [choice] = completion.choices;
  assert.equal(choice.index, 0);
  assert.equal(choice.finish_reason, 'length');
  assert.equal(choice.message.role, 'assistant');
  // Random weights almost never emit </think>: all of it is reasoning, content is null.
  assert.equal(typeof choice.message.reasoning_content, 'string');
  assert.ok(choice.message.reasoning_content.length > 0);
  assert.equal(choice.message.reasoning, choice.message.reasoning_content);
  assert.equal(choice.message.content, null);
  assert.equal(completion.usage.completion_tokens, 8);
  assert.ok(completion.usage.prompt_tokens > 5);
  assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + 8);
});

test('chat, streamed: the same text as not streamed at temperature 0, usage chunk', async () => {
  const body = { model: MODEL, messages, max_tokens: 8, temperature: 0, ignore_eos: true };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({
    ...body, stream: true, stream_options: { include_usage: true },
  });
  let reasoning = '';
  let content = '';
  let finish = null;
  let usage = null;
  let first = true;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, MODEL);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (first) {
        assert.deepEqual(choice.delta, { role: 'assistant', content: '' });
        first = false;
      }
      reasoning += choice.delta.reasoning_content ?? '';
      content += choice.delta.content ?? '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.equal(finish, 'length');
  assert.equal(reasoning, whole.choices[0].message.reasoning_content);
  assert.equal(content, '');
  assert.deepEqual(
    [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens],
    [whole.usage.prompt_tokens, 8, whole.usage.prompt_tokens + 8]);
});

test('completions with token-id prompts, a batch of them', async () => {
  const completion = await client.completions.create({
    model: MODEL, prompt: [[128000, 6151, 1917], [128000, 9906]], max_tokens: 3,
    temperature: 0, ignore_eos: true,
  });
  assert.match(completion.id, /^cmpl-/);
  assert.equal(completion.object, 'text_completion');
  assert.deepEqual(completion.choices.map((c) => c.index), [0, 1]);
  for (const choice of completion.choices) {
    assert.equal(choice.finish_reason, 'length');
    assert.equal(typeof choice.text, 'string');
  }
  assert.equal(completion.usage.prompt_tokens, 5);
  assert.equal(completion.usage.completion_tokens, 6);
});

test('completions echo with logprobs: one entry per prompt and generated token', async () => {
  const prompt = [128000, 6151, 1917, 374];
  const completion = await client.completions.create({
    model: MODEL, prompt, max_tokens: 2, temperature: 0, echo: true, logprobs: 3, ignore_eos: true,
  });
  const [choice] = completion.choices;
  const { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: offsets } = choice.logprobs;
  assert.equal(tokens.length, prompt.length + 2);
  assert.equal(tokenLogprobs.length, tokens.length);
  assert.equal(top.length, tokens.length);
  assert.equal(offsets.length, tokens.length);
  assert.equal(tokenLogprobs[0], null, 'the first prompt token has no logprob');
  assert.equal(top[0], null);
  assert.equal(choice.text, tokens.join(''), 'echo puts the prompt text first');
  for (let i = 1; i < tokens.length; i++) {
    assert.ok(tokenLogprobs[i] <= 0 && Number.isFinite(tokenLogprobs[i]));
    assert.ok(Object.keys(top[i]).length >= 3 && Object.keys(top[i]).length <= 4);
    assert.equal(top[i][tokens[i]], tokenLogprobs[i], 'the chosen token is among the top logprobs');
    assert.ok(offsets[i] >= offsets[i - 1]);
  }
});

test('the model list', async () => {
  const models = [];
  for await (const model of client.models.list()) models.push(model);
  assert.equal(models.length, 1);
  assert.equal(models[0].id, MODEL);
  assert.equal(models[0].object, 'model');
  assert.equal(models[0].owned_by, 'vllm');
  assert.equal(models[0].root, demoModel);
  assert.equal(models[0].max_model_len, 8192);
  const raw = await (await fetch(`${server.url}/v1/models`)).json();
  assert.equal(raw.object, 'list');
});

test('errors: BadRequestError, NotFoundError with vLLM text', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, max_tokens: -1 }),
    (error) => error instanceof OpenAI.BadRequestError && error.status === 400
      && error.error?.type === 'BadRequestError' && /max_tokens/.test(error.message));
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages }),
    (error) => error instanceof OpenAI.NotFoundError && error.status === 404
      && error.error?.message === 'The model `no-such-model` does not exist.');
  await assert.rejects(
    client.completions.create({ model: 'gpt-x', prompt: 'hi' }),
    (error) => error instanceof OpenAI.NotFoundError
      && error.error?.message === 'The model `gpt-x` does not exist.');
});

test('errors: AuthenticationError for a wrong or missing key; the right key works', async () => {
  const wrong = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.models.list(),
    (error) => error instanceof OpenAI.AuthenticationError && error.status === 401);
  await assert.rejects(
    wrong.chat.completions.create({ model: MODEL, messages, max_tokens: 1 }),
    (error) => error instanceof OpenAI.AuthenticationError);
  const missing = await fetch(`${keyed.url}/v1/models`);
  assert.equal(missing.status, 401);
  const body = await missing.json();
  assert.equal(typeof body.error.message, 'string');
  const right = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-e2e-secret', maxRetries: 0 });
  const completion = await right.chat.completions.create({ model: MODEL, messages, max_tokens: 2 });
  assert.equal(completion.usage.completion_tokens <= 2, true);
  // /health and /metrics stay open without a key.
  assert.equal((await fetch(`${keyed.url}/health`)).status, 200);
  assert.equal((await fetch(`${keyed.url}/metrics`)).status, 200);
});
