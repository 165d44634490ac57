// `kiln serve --kv-cache-dtype fp8` on the CPU backend: the cache holds E4M3 codes (the plan says
// so, and holds four times the tokens of the CPU's f32 cache in the same bytes), scales are
// calculated from the first prompt batch with --calculate-kv-scales, and requests are answered,
// with --async-scheduling too. Refused spellings name the flag.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, post, kilnBinary, demoModel, MODEL } from './harness.mjs';

let fp8;
let f32;
before(async () => {
  [fp8, f32] = await Promise.all([
    startServer({ extraArgs: ['--kv-cache-dtype', 'fp8', '--calculate-kv-scales', '--async-scheduling'] }),
    startServer(),
  ]);
});
after(async () => {
  await Promise.all([fp8?.stop(), f32?.stop()]);
});

// "KV cache size: N tokens (...)" of a server's log.
function kvTokens(server) {
  const match = server.log.match(/KV cache size: ([\d,]+) tokens \(.*, (\w+)\)/);
  assert.ok(match, server.log);
  return { tokens: Number(match[1].replaceAll(',', '')), dtype: match[2] };
}

test('the FP8 cache holds four times the f32 cache\'s tokens in the same bytes, and says so', () => {
  const a = kvTokens(fp8), b = kvTokens(f32);
  assert.equal(a.dtype, 'fp8_e4m3');
  assert.equal(b.dtype, 'f32');
  assert.equal(a.tokens, 4 * b.tokens);
  assert.match(fp8.log, /scales will be calculated from the first prompt batch/);
});

test('requests run over the FP8 cache, and the first one calculates the scales', async () => {
  for (const stream of [false, true]) {
    const reply = await post(`${fp8.url}/v1/completions`, {
      model: MODEL, prompt: 'An FP8 cache holds', max_tokens: 12, ignore_eos: true, temperature: 0, stream,
    });
    assert.equal(reply.status, 200, reply.text);
  }
  assert.match(fp8.log, /KV cache scales calculated from the first prompt batch \(--calculate-kv-scales\): k_scale [\d.e-]+\.\.[\d.e-]+/);
  const chat = await post(`${fp8.url}/v1/chat/completions`, {
    model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, n: 2, temperature: 0.7, seed: 3,
  });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(chat.json.choices.length, 2);
  assert.equal(chat.json.usage.completion_tokens, 16);
});

test('unsupported KV cache dtypes and combinations are refused, naming the flag', () => {
  for (const [args, pattern] of [
    [['--kv-cache-dtype', 'fp8_e5m2'], /--kv-cache-dtype fp8_e5m2: kiln's FP8 KV cache is E4M3/],
    [['--kv-cache-dtype', 'int4'], /--kv-cache-dtype int4: expected auto, bfloat16, fp8 or fp8_e4m3/],
    [['--kv-cache-dtype', 'bfloat16', '--device', 'cpu'], /--kv-cache-dtype bfloat16: the CPU backend keeps its KV cache in float32/],
    [['--calculate-kv-scales'], /--calculate-kv-scales needs --kv-cache-dtype fp8/],
  ]) {
    const run = spawnSync(kilnBinary, ['serve', demoModel, '--port', '0', ...args], { encoding: 'utf8', timeout: 20000 });
    assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  }
});
