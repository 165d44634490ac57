// `kiln serve --seed` and `--dtype`: with --seed, requests without a seed sample reproducibly
// (the same requests in the same order give the same tokens on two servers); without it they
// are random. --dtype takes vLLM's spellings; the CPU backend computes in float32 and says so,
// CUDA refuses float16/float32, an unknown dtype is a usage error naming --dtype.
// --max-num-batched-tokens' default follows the device --device auto chose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, post, kilnBinary, demoModel, MODEL } from './harness.mjs';

let seededA;
let seededB;
let unseeded;
let autoDevice;
before(async () => {
  [seededA, seededB, unseeded, autoDevice] = await Promise.all([
    startServer({ extraArgs: ['--seed', '1234', '--dtype', 'half'] }),
    startServer({ extraArgs: ['--seed', '1234', '--dtype', 'bf16'] }),
    startServer(),
    startServer({ extraArgs: ['--device', 'auto'], maxNumBatchedTokens: null }),
  ]);
});
after(async () => {
  await Promise.all([seededA?.stop(), seededB?.stop(), unseeded?.stop(), autoDevice?.stop()]);
});

// Sampled token ids of one request (temperature 1, no seed in the request).
async function sample(server, i) {
  const reply = await post(`${server.url}/v1/completions`, {
    model: MODEL, prompt: `Seed test ${i}`, max_tokens: 8, ignore_eos: true, temperature: 1.0, top_p: 1.0,
    logprobs: 0,
  });
  assert.equal(reply.status, 200, reply.text);
  return reply.json.choices[0].logprobs.tokens.join('\u0001');
}

test('--seed: the same requests in the same order sample the same tokens on two servers', async () => {
  const a = [await sample(seededA, 0), await sample(seededA, 1), await sample(seededA, 0)];
  const b = [await sample(seededB, 0), await sample(seededB, 1), await sample(seededB, 0)];
  assert.deepEqual(a, b);
  assert.notEqual(a[0], a[2], 'each request draws its own seed from the global one');
  assert.match(seededA.log, /--seed 1234: requests without a seed get seeds drawn from it/);
});

test('without --seed, requests without a seed stay random', async () => {
  const first = await sample(unseeded, 0);
  const second = await sample(unseeded, 0);
  assert.notEqual(first, second);
  assert.notEqual(first, await sample(seededA, 0));
  // A request's own seed still makes it reproducible everywhere.
  const seeded = async (server) => (await post(`${server.url}/v1/completions`, {
    model: MODEL, prompt: 'x', max_tokens: 6, ignore_eos: true, temperature: 1.0, seed: 7, logprobs: 0,
  })).json.choices[0].logprobs.tokens.join('\u0001');
  assert.equal(await seeded(unseeded), await seeded(seededA));
});

test('--dtype on the CPU backend: accepted, computed in float32, logged', () => {
  assert.match(seededA.log, /--dtype float16: the CPU backend computes in float32/);
  assert.match(seededB.log, /--dtype bfloat16: the CPU backend computes in float32/);
});

test('--dtype float16 and float32 are refused on CUDA, unknown values everywhere', () => {
  for (const [dtype, device, pattern] of [
    ['float16', 'cuda', /--dtype float16: the CUDA backend computes in bfloat16 only; use --dtype auto or bfloat16/],
    ['float', 'cuda', /--dtype float32: the CUDA backend computes in bfloat16 only/],
    ['int8', 'cpu', /--dtype int8: expected auto, bfloat16 \(bf16\), float16 \(half\) or float32 \(float\)/],
  ]) {
    const run = spawnSync(kilnBinary, ['serve', demoModel, '--device', device, '--dtype', dtype, '--port', '0'],
      { encoding: 'utf8', timeout: 20000 });
    assert.equal(run.status, 2, `${dtype} on ${device}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  }
});

test('--device auto: --max-num-batched-tokens defaults by the device it chose (2048 on the CPU, 8192 on a GPU)', async () => {
  const stats = await (await fetch(`${autoDevice.url}/v1/stats`)).json();
  const device = stats.device.kind;
  assert.ok(device === 'cpu' || device === 'cuda', JSON.stringify(stats.device));
  assert.equal(stats.config.device, device);
  // --max-model-len 8192 (the harness's): the default is min(max-model-len, 2048 on CPU, 8192 on GPU).
  assert.equal(stats.config.max_num_batched_tokens, device === 'cpu' ? 2048 : 8192);
});
