// A real Prometheus scraping kiln's /metrics, then the SIGTERM drain: /health and new requests get
// 503 while the in-flight stream finishes, and the process exits 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freePort, post, parseSse, sleep, MODEL } from './harness.mjs';

let server;
let prometheus;
let tmp;
before(async () => {
  server = await startServer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-prometheus-'));
});
after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill('SIGKILL');
    await new Promise((resolve) => prometheus.on('exit', resolve));
  }
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function promQuery(url, pathAndQuery) {
  const response = await fetch(`${url}${pathAndQuery}`);
  assert.equal(response.status, 200);
  const json = await response.json();
  assert.equal(json.status, 'success');
  return json.data;
}

test('a real Prometheus scrapes /metrics: target up, vllm:num_requests_running queryable', async () => {
  const binary = process.env.KILN_PROMETHEUS || '/usr/bin/prometheus';
  assert.ok(fs.existsSync(binary), `${binary} is missing: run scripts/install-deps.sh (Debian package prometheus)`);
  // One request first so that the counters have moved.
  const warm = await post(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2, ignore_eos: true });
  assert.equal(warm.status, 200, warm.text);
  const config = path.join(tmp, 'prometheus.yml');
  fs.writeFileSync(config, [
    'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:',
    '  - job_name: kiln', '    static_configs:', `      - targets: ['127.0.0.1:${server.port}']`, '',
  ].join('\n'));
  const port = await freePort();
  let log = '';
  prometheus = spawn(binary, [
    `--config.file=${config}`, `--storage.tsdb.path=${path.join(tmp, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout.on('data', (d) => { log += d; });
  prometheus.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  let target = null;
  let series = [];
  while (Date.now() < deadline) {
    assert.equal(prometheus.exitCode, null, `prometheus exited:\n${log}`);
    try {
      const targets = await promQuery(url, '/api/v1/targets');
      target = targets.activeTargets.find((t) => t.labels.job === 'kiln') ?? null;
      if (target?.health === 'up') {
        const data = await promQuery(url, `/api/v1/query?query=${encodeURIComponent('vllm:num_requests_running')}`);
        series = data.result;
        if (series.length > 0) break;
      }
    } catch (error) {
      if (error.code === 'ERR_ASSERTION') throw error;
      // Not listening yet.
    }
    await sleep(250);
  }
  assert.equal(target?.health, 'up', `target: ${JSON.stringify(target)}\n${log}`);
  assert.equal(target.lastError, '');
  assert.equal(series.length, 1, JSON.stringify(series));
  assert.equal(series[0].metric.__name__, 'vllm:num_requests_running');
  assert.equal(series[0].metric.model_name, MODEL);
  assert.equal(series[0].value[1], '0');
  const generated = await promQuery(url, `/api/v1/query?query=${encodeURIComponent(`vllm:generation_tokens_total{model_name="${MODEL}"}`)}`);
  assert.equal(generated.result.length, 1);
  assert.ok(Number(generated.result[0].value[1]) >= 2);
  const histogram = await promQuery(url, `/api/v1/query?query=${encodeURIComponent('vllm:e2e_request_latency_seconds_count')}`);
  assert.equal(histogram.result.length, 1);
});

test('SIGTERM drains: 503 for /health and new requests, the in-flight stream completes, exit 0', async () => {
  // A stream of about 4 s on this machine: long enough to check the 503s while it runs, short
  // enough to finish well inside --drain-timeout (30 s).
  const t0 = Date.now();
  const timing = await post(`${server.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 16, ignore_eos: true });
  assert.equal(timing.status, 200, timing.text);
  const msPerToken = (Date.now() - t0) / 16;
  const maxTokens = Math.max(40, Math.min(2000, Math.round(4000 / msPerToken)));
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL, messages: [{ role: 'user', content: 'Write a long essay.' }], max_tokens: maxTokens,
      ignore_eos: true, stream: true, stream_options: { include_usage: true },
    }),
  });
  assert.equal(response.status, 200);
  const reader = response.body.getReader();
  let text = '';
  while ((text.match(/data: /g) ?? []).length < 3) {
    const { value, done } = await reader.read();
    assert.equal(done, false, 'the stream ended before SIGTERM');
    text += Buffer.from(value).toString();
  }
  server.child.kill('SIGTERM');
  let health = 0;
  for (let i = 0; i < 100 && health !== 503; i++) {
    health = (await fetch(`${server.url}/health`)).status;
    if (health !== 503) await sleep(20);
  }
  assert.equal(health, 503, '/health answers 503 while draining');
  const rejected = await post(`${server.url}/v1/chat/completions`,
    { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(rejected.status, 503, rejected.text);
  assert.equal(typeof rejected.json?.error?.message, 'string');
  assert.equal(server.child.exitCode, null, 'still running while the stream is in flight');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  const payloads = parseSse(text);
  assert.equal(payloads.at(-1), '[DONE]');
  const chunks = payloads.slice(0, -1).map((p) => JSON.parse(p));
  const finish = chunks.flatMap((c) => c.choices).map((c) => c.finish_reason).filter(Boolean);
  assert.deepEqual(finish, ['length']);
  assert.equal(chunks.at(-1).usage.completion_tokens, maxTokens);
  const { code, signal } = await server.exited;
  assert.equal(signal, null);
  assert.equal(code, 0, server.log.slice(-2000));
});
