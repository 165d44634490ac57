// `kiln serve --speculative-config` on the demo model (CPU): greedy completions and their logprobs
// are those of a server without speculation (the random model loops, so n-gram and suffix drafts
// are accepted; the EAGLE-3 head, random from `kiln synth`, drafts noise that the target rejects),
// streams carry the same text, sampled requests are answered, /metrics has vLLM's spec_decode
// counters, and bad configurations are refused naming the key. n-gram draft trees
// (draft_tree_topk) branch at the loop's several earlier matches, the head drafts top-k trees, and
// both keep the same outputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, post, parseSse, metric, kilnBinary, demoModel, MODEL } from './harness.mjs';

let plain;
let ngram;
let suffix;
let eagle3;
let ngramTree;
let eagle3Tree;
const headDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-eagle3-'));

// A random EAGLE-3 head of the demo model's shape (its two layers need explicit layer ids).
function synthHead() {
  const demo = JSON.parse(fs.readFileSync(path.join(demoModel, 'config.json'), 'utf8'));
  const config = {
    architectures: ['LlamaForCausalLMEagle3'], model_type: 'llama', hidden_act: 'silu', num_hidden_layers: 1,
    hidden_size: demo.hidden_size, intermediate_size: demo.intermediate_size, num_attention_heads: demo.num_attention_heads,
    num_key_value_heads: demo.num_key_value_heads, head_dim: demo.head_dim, rms_norm_eps: demo.rms_norm_eps,
    rope_theta: demo.rope_theta, rope_scaling: demo.rope_scaling, max_position_embeddings: 2048,
    vocab_size: demo.vocab_size, draft_vocab_size: 4096, eagle_config: { eagle_aux_hidden_state_layer_ids: [0, 0, 1] },
  };
  fs.writeFileSync(path.join(headDir, 'head.json'), JSON.stringify(config));
  const run = spawnSync(kilnBinary, ['synth', '--config', path.join(headDir, 'head.json'), '--out', path.join(headDir, 'head')],
    { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stderr);
  return path.join(headDir, 'head');
}

before(async () => {
  const head = synthHead();
  [plain, ngram, suffix, eagle3, ngramTree, eagle3Tree] = await Promise.all([
    startServer(),
    startServer({ extraArgs: ['--speculative-config', '{"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 1, "prompt_lookup_max": 3}'] }),
    startServer({ extraArgs: ['--speculative-config', '{"method": "suffix", "num_speculative_tokens": 6}'] }),
    startServer({ extraArgs: ['--speculative-config', JSON.stringify({ method: 'eagle3', model: head, num_speculative_tokens: 3 })] }),
    startServer({ extraArgs: ['--speculative-config', '{"method": "ngram", "num_speculative_tokens": 6, "draft_tree_topk": 3, "prompt_lookup_min": 1, "prompt_lookup_max": 3}'] }),
    startServer({ extraArgs: ['--speculative-config', JSON.stringify({ method: 'eagle3', model: head, num_speculative_tokens: 4, draft_tree_topk: 2 })] }),
  ]);
});
after(async () => {
  await Promise.all([plain?.stop(), ngram?.stop(), suffix?.stop(), eagle3?.stop(), ngramTree?.stop(), eagle3Tree?.stop()]);
  fs.rmSync(headDir, { recursive: true, force: true });
});

const request = {
  model: MODEL, prompt: 'one two three one two three one two three', max_tokens: 48, ignore_eos: true, temperature: 0,
  logprobs: 2,
};

test('greedy completions and logprobs are those of plain decoding', async () => {
  const expected = await post(`${plain.url}/v1/completions`, request);
  assert.equal(expected.status, 200, expected.text);
  for (const server of [ngram, suffix, eagle3, ngramTree, eagle3Tree]) {
    const got = await post(`${server.url}/v1/completions`, request);
    assert.equal(got.status, 200, got.text);
    const [a, b] = [got.json.choices[0], expected.json.choices[0]];
    assert.equal(a.text, b.text);
    assert.deepEqual(a.logprobs.tokens, b.logprobs.tokens);
    a.logprobs.token_logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - b.logprobs.token_logprobs[i]) < 1e-4, `${i}`));
    assert.equal(got.json.usage.completion_tokens, 48);
  }
});

test('streams carry the same text, and chat with stop strings works', async () => {
  const expected = await post(`${plain.url}/v1/completions`, request);
  const streamed = await post(`${ngram.url}/v1/completions`, { ...request, stream: true, logprobs: null });
  assert.equal(streamed.status, 200, streamed.text);
  const events = parseSse(streamed.text);
  assert.equal(events.at(-1), '[DONE]');
  const text = events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.text ?? '').join('');
  assert.equal(text, expected.json.choices[0].text);
  const chat = { model: MODEL, messages: [{ role: 'user', content: 'Count: one two three one two three' }], max_tokens: 40, temperature: 0 };
  const plainChat = await post(`${plain.url}/v1/chat/completions`, chat);
  const specChat = await post(`${suffix.url}/v1/chat/completions`, chat);
  assert.equal(specChat.status, 200, specChat.text);
  assert.deepEqual(specChat.json.choices[0].message, plainChat.json.choices[0].message);
  const stop = plainChat.json.choices[0].message.content?.slice(5, 9);
  if (stop) {
    const stopped = await post(`${suffix.url}/v1/chat/completions`, { ...chat, stop: [stop] });
    const plainStopped = await post(`${plain.url}/v1/chat/completions`, { ...chat, stop: [stop] });
    assert.deepEqual(stopped.json.choices[0], plainStopped.json.choices[0]);
  }
});

test('sampled requests are answered, n > 1 too', async () => {
  const reply = await post(`${ngram.url}/v1/completions`, {
    model: MODEL, prompt: 'one two three one two three', max_tokens: 24, ignore_eos: true, temperature: 0.8, top_p: 0.9,
    n: 3, seed: 5,
  });
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json.choices.length, 3);
  assert.equal(reply.json.usage.completion_tokens, 72);
  // A seed gives the same tokens again.
  const again = await post(`${ngram.url}/v1/completions`, {
    model: MODEL, prompt: 'one two three one two three', max_tokens: 24, ignore_eos: true, temperature: 0.8, top_p: 0.9,
    n: 3, seed: 5,
  });
  assert.deepEqual(again.json.choices.map((c) => c.text), reply.json.choices.map((c) => c.text));
});

test('/metrics has vLLM\'s spec_decode counters, and drafts were accepted', async () => {
  for (const server of [ngram, suffix, ngramTree]) {
    const drafts = await metric(server.url, 'vllm:spec_decode_num_drafts_total');
    const drafted = await metric(server.url, 'vllm:spec_decode_num_draft_tokens_total');
    const accepted = await metric(server.url, 'vllm:spec_decode_num_accepted_tokens_total');
    const first = await metric(server.url, 'vllm:spec_decode_num_accepted_tokens_per_pos_total', { position: '0' });
    assert.ok(drafts > 0 && drafted >= drafts && accepted > 0 && accepted <= drafted, `${drafts} ${drafted} ${accepted}`);
    assert.ok(first > 0 && first <= drafts);
  }
  // The random head drafts chains of 3 after every step.
  const headDrafts = await metric(eagle3.url, 'vllm:spec_decode_num_drafts_total');
  const headTokens = await metric(eagle3.url, 'vllm:spec_decode_num_draft_tokens_total');
  assert.ok(headDrafts > 0 && headTokens > headDrafts, `${headDrafts} ${headTokens}`);
  const text = await (await fetch(`${plain.url}/metrics`)).text();
  assert.ok(!text.includes('spec_decode'), 'no spec_decode metrics without speculative decoding');
});

test('bad speculative configurations are refused, naming the key', () => {
  for (const [config, pattern] of [
    ['{"method": "medusa", "num_speculative_tokens": 2}', /--speculative-config: method 'medusa' is not supported/],
    ['{"method": "ngram"}', /--speculative-config: num_speculative_tokens must be between 1 and 64/],
    ['{"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup": 3}', /--speculative-config: prompt_lookup is not a known key/],
    ['{"method": "oracle", "num_speculative_tokens": 2}', /method oracle drafts recorded outputs; it runs in kiln bench latency only/],
    ['not json', /--speculative-config: not valid JSON/],
    ['{"method": "eagle3", "num_speculative_tokens": 2}', /--speculative-config: model is required for method eagle3/],
    ['{"method": "suffix", "num_speculative_tokens": 4, "draft_tree_topk": 0}', /--speculative-config: draft_tree_topk must be between 1 and num_speculative_tokens \(4\), got 0/],
    ['{"method": "ngram", "num_speculative_tokens": 2, "draft_tree_topk": 3}', /--speculative-config: draft_tree_topk must be between 1 and num_speculative_tokens \(2\), got 3/],
  ]) {
    const run = spawnSync(kilnBinary, ['serve', demoModel, '--port', '0', '--speculative-config', config],
      { encoding: 'utf8', timeout: 30000 });
    assert.equal(run.status, 2, `${config}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  }
});
