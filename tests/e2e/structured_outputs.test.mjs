// Structured outputs and tool calling through the official openai SDK: a zod schema through
// client.chat.completions.parse, vLLM's structured_outputs / guided_* fields, multi-turn tool
// calls (required, named, none) with the repo's tool-aware DeepSeek-R1 template, streamed
// deltas that reassemble to the non-streamed answer, and the errors that name their field.
// The demo model's random weights write whatever the masks allow, so every check is on shape:
// what came back must match its schema, regex or choice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodResponseFormat, zodFunction } from 'openai/helpers/zod';
import { z } from 'zod';
import { startServer, post, root, MODEL } from './harness.mjs';

let server;
let client;
before(async () => {
  // No reasoning parser: the demo model never closes its thinking, so with deepseek_r1 the
  // constraint (which starts after </think>) would never begin.
  server = await startServer({
    extraArgs: ['--reasoning-parser', 'none', '--tool-call-parser', 'deepseek_v3', '--enable-auto-tool-choice',
                '--chat-template', `${root}/chat_templates/deepseek_r1_tools.jinja`],
  });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server?.stop();
});

const user = (content) => [{ role: 'user', content }];

const Person = z.object({
  name: z.string().max(10),
  age: z.number().int().min(0).max(150),
  admin: z.boolean(),
  role: z.enum(['user', 'owner']),
});

test('a zod schema through chat.completions.parse: parsed, matching the schema', async () => {
  for (const seed of [1, 2]) {
    const completion = await client.chat.completions.parse({
      model: MODEL, messages: user('Who are you?'), max_tokens: 300, temperature: 1, seed,
      response_format: zodResponseFormat(Person, 'person'),
    });
    const [choice] = completion.choices;
    assert.equal(choice.finish_reason, 'stop', choice.message.content);
    assert.deepEqual(Person.parse(JSON.parse(choice.message.content)), choice.message.parsed);
    assert.ok(choice.message.parsed.name.length <= 10);
  }
});

test('structured_outputs json without whitespace, regex, choice and a GBNF grammar', async () => {
  const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 }, ok: { type: 'boolean' } },
                   required: ['n', 'ok'], additionalProperties: false };
  const compact = await client.chat.completions.create({
    model: MODEL, messages: user('json'), max_tokens: 60, seed: 5,
    structured_outputs: { json: schema, disable_any_whitespace: true },
  });
  assert.match(compact.choices[0].message.content, /^\{"n":[1-9],"ok":(true|false)\}$/);

  const regex = await client.completions.create({
    model: MODEL, prompt: 'code:', max_tokens: 30, seed: 6, structured_outputs: { regex: '[A-F]{3}-[0-9]{2,4}' },
  });
  assert.match(regex.choices[0].text, /^[A-F]{3}-[0-9]{2,4}$/);
  assert.equal(regex.choices[0].finish_reason, 'stop');

  const choices = ['red', 'green', 'deep blue'];
  const picked = await client.chat.completions.create({
    model: MODEL, messages: user('color?'), max_tokens: 20, n: 3, seed: 7, temperature: 1.5,
    structured_outputs: { choice: choices },
  });
  assert.equal(picked.choices.length, 3);
  for (const c of picked.choices) assert.ok(choices.includes(c.message.content), c.message.content);

  const grammar = await client.completions.create({
    model: MODEL, prompt: 'answer:', max_tokens: 30, seed: 8,
    structured_outputs: { grammar: 'root ::= answer " " digits\nanswer ::= "yes" | "no"\ndigits ::= [0-9] [0-9]?' },
  });
  assert.match(grammar.choices[0].text, /^(yes|no) [0-9]{1,2}$/);
});

test("the older guided_* fields and response_format json_object", async () => {
  const guided = await client.completions.create({
    model: MODEL, prompt: 'x', max_tokens: 60, seed: 9, guided_decoding_backend: 'xgrammar',
    guided_json: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, minItems: 1, maxItems: 2 },
  });
  const array = JSON.parse(guided.choices[0].text);
  assert.ok(array.length >= 1 && array.length <= 2 && array.every((x) => x === 'a' || x === 'b'), guided.choices[0].text);

  const choice = await client.chat.completions.create({
    model: MODEL, messages: user('x'), max_tokens: 10, seed: 10, guided_choice: ['on', 'off'],
  });
  assert.ok(['on', 'off'].includes(choice.choices[0].message.content));

  const regex = await client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 10, seed: 11, guided_regex: 'z{2}[0-9]' });
  assert.match(regex.choices[0].text, /^zz[0-9]$/);

  // Any JSON object: may not close within max_tokens, but every token kept it a valid prefix.
  const object = await client.chat.completions.create({
    model: MODEL, messages: user('x'), max_tokens: 40, seed: 12, response_format: { type: 'json_object' },
  });
  const text = object.choices[0].message.content;
  assert.match(text, /^\s*\{/);
  if (object.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object');
});

const Weather = z.object({ city: z.string().max(12), unit: z.enum(['c', 'f']) });
const Time = z.object({ zone: z.enum(['UTC', 'CET', 'PST']) });
const tools = [zodFunction({ name: 'get_weather', parameters: Weather }), zodFunction({ name: 'get_time', parameters: Time })];

test('multi-turn tool calls: required, then a named tool, then none', async () => {
  const messages = user('What is the weather in Paris, and what time is it there?');
  const first = await client.chat.completions.parse({
    model: MODEL, messages, tools, tool_choice: 'required', parallel_tool_calls: false, max_tokens: 200, seed: 13,
  });
  const [a] = first.choices;
  assert.equal(a.finish_reason, 'tool_calls');
  assert.equal(a.message.content, null);
  assert.equal(a.message.tool_calls.length, 1);
  const call = a.message.tool_calls[0];
  assert.match(call.id, /^chatcmpl-tool-[0-9a-f]{32}$/);
  assert.equal(call.type, 'function');
  assert.ok(['get_weather', 'get_time'].includes(call.function.name));
  const schema = call.function.name === 'get_weather' ? Weather : Time;
  assert.deepEqual(schema.parse(JSON.parse(call.function.arguments)), call.function.parsed_arguments);

  messages.push({ role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments } }] });
  messages.push({ role: 'tool', tool_call_id: call.id, content: '{"result":"sunny, 21 C"}' });
  const second = await client.chat.completions.parse({
    model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'get_time' } },
    max_tokens: 120, seed: 14,
  });
  assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens + 10, 'the call and its result are in the prompt');
  const [b] = second.choices;
  assert.equal(b.finish_reason, 'tool_calls');
  assert.equal(b.message.tool_calls.length, 1);
  assert.equal(b.message.tool_calls[0].function.name, 'get_time');
  assert.deepEqual(Time.parse(JSON.parse(b.message.tool_calls[0].function.arguments)), b.message.tool_calls[0].function.parsed_arguments);

  const call2 = b.message.tool_calls[0];
  messages.push({ role: 'assistant', content: null, tool_calls: [{ id: call2.id, type: 'function', function: { name: 'get_time', arguments: call2.function.arguments } }] });
  messages.push({ role: 'tool', tool_call_id: call2.id, content: '14:05' });
  const third = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'none', max_tokens: 8, ignore_eos: true });
  assert.ok(third.usage.prompt_tokens > second.usage.prompt_tokens);
  assert.equal(third.choices[0].finish_reason, 'length');
  assert.deepEqual(third.choices[0].message.tool_calls ?? [], []);
});

// Reads a chat stream into the message it describes.
async function reassemble(stream) {
  let content = null;
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      const delta = choice.delta;
      if (typeof delta.content === 'string') content = (content ?? '') + delta.content;
      for (const piece of delta.tool_calls ?? []) {
        if (!calls[piece.index]) {
          assert.ok(piece.id && piece.type === 'function' && piece.function.name, 'a call starts with its id and name');
          calls[piece.index] = { id: piece.id, type: 'function', function: { name: piece.function.name, arguments: '' } };
        } else {
          assert.equal(piece.id, undefined, 'the id comes once');
        }
        calls[piece.index].function.arguments += piece.function?.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { content, calls, finish };
}

const withoutIds = (calls) => calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments }));

test('streamed deltas reassemble to the non-streamed answer (schema content and tool calls)', async () => {
  const schemaBody = {
    model: MODEL, messages: user('Who?'), max_tokens: 300, temperature: 0,
    response_format: zodResponseFormat(Person, 'person'),
  };
  const whole = await client.chat.completions.create(schemaBody);
  const streamed = await reassemble(await client.chat.completions.create({ ...schemaBody, stream: true }));
  assert.equal(streamed.content, whole.choices[0].message.content);
  assert.equal(streamed.finish, whole.choices[0].finish_reason);
  assert.equal(streamed.finish, 'stop');

  // One call (required without parallel calls, or named), and parallel calls cut by max_tokens
  // (the random model keeps adding calls): several indexes, the last call unfinished.
  const bodies = [
    { tool_choice: 'required', parallel_tool_calls: false, max_tokens: 250 },
    { tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 250 },
    { tool_choice: 'required', max_tokens: 120 },
  ];
  for (const fields of bodies) {
    const body = { model: MODEL, messages: user('Weather in Oslo and Rome?'), tools, temperature: 0, ...fields };
    const answer = await client.chat.completions.create(body);
    const parts = await reassemble(await client.chat.completions.create({ ...body, stream: true }));
    const expected = answer.choices[0];
    assert.equal(parts.finish, expected.finish_reason);
    assert.ok(!parts.content, 'no text beside the calls');
    assert.deepEqual(withoutIds(parts.calls), withoutIds(expected.message.tool_calls));
    if (fields.max_tokens === 250) {
      assert.equal(expected.finish_reason, 'tool_calls', JSON.stringify(expected));
      assert.equal(parts.calls.length, 1);
      JSON.parse(parts.calls[0].function.arguments);
    } else {
      assert.equal(expected.finish_reason, 'length');
      assert.ok(parts.calls.length >= 2, JSON.stringify(expected));
    }
  }
});

test('bad constraints are 400s naming their field, and the server keeps serving', async () => {
  const chat = (fields) => post(`${server.url}/v1/chat/completions`, { model: MODEL, messages: user('x'), max_tokens: 4, ...fields });
  const cases = [
    [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', patternProperties: { a: {} }, not: {} } } } },
      'response_format.json_schema.schema', /unsupported keywords 'patternProperties', 'not'/],
    [{ structured_outputs: { regex: '(ab' } }, 'structured_outputs.regex', /regex/],
    [{ structured_outputs: { grammar: 'root ::= undefined_rule' } }, 'structured_outputs.grammar', /undefined_rule/],
    [{ guided_json: '{not json' }, 'guided_json', /./],
    [{ structured_outputs: { regex: 'a', choice: ['b'] } }, 'structured_outputs', /./],
    [{ response_format: { type: 'xml' } }, 'response_format', /./],
    [{ tool_choice: 'required' }, 'tool_choice', /tools/],
    [{ tools: [{ type: 'function', function: { name: 'a' } }], tool_choice: { type: 'function', function: { name: 'b' } } },
      'tool_choice', /does not match/],
    [{ tools: [{ type: 'function', function: { name: 'a', parameters: { type: 'object', if: {} } } }], tool_choice: 'required' },
      'tools', /unsupported keyword 'if'/],
  ];
  for (const [fields, param, message] of cases) {
    const r = await chat(fields);
    assert.equal(r.status, 400, `${JSON.stringify(fields)}: ${r.text}`);
    assert.equal(r.json.error.type, 'BadRequestError');
    assert.equal(r.json.error.code, 400);
    assert.ok(r.json.error.param.startsWith(param), `${JSON.stringify(fields)}: param ${r.json.error.param}`);
    assert.match(r.json.error.message, message);
  }
  const ok = await client.chat.completions.create({ model: MODEL, messages: user('x'), max_tokens: 5, structured_outputs: { choice: ['fine'] } });
  assert.equal(ok.choices[0].message.content, 'fine');
});
