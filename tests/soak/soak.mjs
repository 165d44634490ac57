// The soak (issue 15): `kiln serve` on the demo model under mixed load for a long time (an hour
// by default) while RSS, open descriptors and latency are sampled every 10 s. Not part of
// `make test`: run it with tests/soak/run-soak.sh (or `make soak`).
//
// Load, from a few concurrent clients, all on 127.0.0.1: streamed and whole chat completions,
// completions with n > 1 and several prompts, streams the client aborts part-way, bad requests
// (malformed and deeply nested JSON, too many sequences, unknown model, a request chat template),
// connections closed after each request and kept-alive ones, /tokenize, /metrics, /v1/stats, and
// structured-output requests (response_format; a 400 counts as expected while unsupported).
//
// The report (JSON, and a summary on stdout) passes when the server never crashed, no request
// got an unexpected answer, RSS grew less than 1% from the end of the warm-up (the first 10% of
// the run, at least 2 minutes) to the end, and descriptors came back to where they were.
//
// usage: node tests/soak/soak.mjs [--duration-s 3600] [--clients 6] [--report FILE]
import fs from 'node:fs';
import { startServer, post, sleep, MODEL } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const durationS = Number(option('--duration-s', 3600));
const clients = Number(option('--clients', 6));
const reportPath = option('--report', 'soak-report.json');
const sampleEveryS = 10;

function stats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    rss_mib: Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024,
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    threads: Number(/Threads:\s+(\d+)/.exec(status)[1]),
  };
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const words = ['kiln', 'fire', 'clay', 'glaze', 'tokens', 'stream', 'batch', 'cache', 'model', 'server'];
const sentence = (n) => Array.from({ length: n }, () => pick(words)).join(' ');

const counts = {};
const unexpected = [];
let window = { e2e_ms: [], ttft_ms: [] };
const count = (kind) => { counts[kind] = (counts[kind] || 0) + 1; };
function fail(kind, detail) {
  count(`${kind}:unexpected`);
  if (unexpected.length < 50) unexpected.push({ kind, detail: String(detail).slice(0, 300), at: new Date().toISOString() });
}

// Reads an SSE response, noting the time of the first content.
async function readStream(response, started, abortAfterMs, controller) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let first = null;
  const abortTimer = abortAfterMs ? setTimeout(() => controller.abort(), abortAfterMs) : null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (first === null) first = Date.now();
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    if (abortTimer) clearTimeout(abortTimer);
  }
  if (first !== null) window.ttft_ms.push(first - started);
  return text;
}

function scenarios(url) {
  const json = { 'content-type': 'application/json' };
  return [
    ['chat_stream', 4, async () => {
      const started = Date.now();
      const controller = new AbortController();
      const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: json, signal: controller.signal,
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: sentence(20) }], stream: true,
          max_tokens: 8 + Math.floor(Math.random() * 56), stream_options: { include_usage: true } }) });
      if (response.status !== 200) return fail('chat_stream', response.status);
      const text = await readStream(response, started, 0, controller);
      if (!text.endsWith('data: [DONE]\n\n')) return fail('chat_stream', text.slice(-200));
      window.e2e_ms.push(Date.now() - started);
    }],
    ['chat', 2, async () => {
      const started = Date.now();
      const r = await post(`${url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: sentence(40) }],
        max_tokens: 16, temperature: 0.7 });
      if (r.status !== 200 || !r.json?.choices?.length) return fail('chat', `${r.status} ${r.text}`);
      window.e2e_ms.push(Date.now() - started);
    }],
    ['completion_n', 2, async () => {
      const started = Date.now();
      const r = await post(`${url}/v1/completions`, { model: MODEL, prompt: [sentence(10), sentence(30)], n: 3,
        max_tokens: 12, logprobs: 2 });
      if (r.status !== 200 || r.json?.choices?.length !== 6) return fail('completion_n', `${r.status} ${r.text}`);
      window.e2e_ms.push(Date.now() - started);
    }],
    ['abort', 2, async () => {
      const controller = new AbortController();
      const started = Date.now();
      try {
        const response = await fetch(`${url}/v1/completions`, { method: 'POST', headers: json, signal: controller.signal,
          body: JSON.stringify({ model: MODEL, prompt: sentence(50), max_tokens: 400, ignore_eos: true, stream: true }) });
        await readStream(response, started, 50 + Math.floor(Math.random() * 400), controller);
      } catch (error) {
        if (error.name !== 'AbortError') return fail('abort', error.message);
      }
    }],
    ['bad_request', 2, async () => {
      const bodies = [
        ['{"model":', 400],
        [`{"model":"${MODEL}","messages":[{"role":"user","content":"x"}],"tools":${'['.repeat(5000)}${']'.repeat(5000)}}`, 400],
        [JSON.stringify({ model: MODEL, prompt: Array.from({ length: 100 }, () => 'x'), n: 100 }), 400],
        [JSON.stringify({ model: 'gpt-4', prompt: 'x' }), 404],
        [JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], chat_template: '{{ 1 }}' }), 400],
        [JSON.stringify({ model: MODEL, prompt: 'x', max_tokens: -1 }), 400],
      ];
      const [body, status] = pick(bodies);
      const route = body.includes('messages') ? '/v1/chat/completions' : '/v1/completions';
      const r = await post(`${url}${route}`, body);
      if (r.status !== status) fail('bad_request', `${r.status} for ${body.slice(0, 80)}`);
    }],
    ['structured', 1, async () => {
      const r = await post(`${url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'json please' }],
        max_tokens: 16, response_format: { type: 'json_object' } });
      if (r.status !== 200 && r.status !== 400) fail('structured', `${r.status} ${r.text}`);
    }],
    ['close_each', 2, async () => {
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { ...json, connection: 'close' },
        body: JSON.stringify({ model: MODEL, prompt: sentence(8), max_tokens: 4 }) });
      await r.arrayBuffer();
      if (r.status !== 200) fail('close_each', r.status);
    }],
    ['tokenize', 1, async () => {
      const r = await post(`${url}/tokenize`, { model: MODEL, prompt: sentence(200) });
      if (r.status !== 200) fail('tokenize', r.status);
    }],
    ['observe', 1, async () => {
      for (const route of ['/metrics', '/v1/stats', '/health']) {
        const r = await fetch(`${url}${route}`);
        await r.arrayBuffer();
        if (r.status !== 200) fail('observe', `${route} ${r.status}`);
      }
    }],
  ];
}

const server = await startServer({ extraArgs: ['--max-num-seqs', '64'] });
const pid = server.child.pid;
let crashed = null;
let stopping = false;
server.exited.then(({ code, signal }) => { if (!stopping) crashed = { code, signal }; });
const table = scenarios(server.url);
const weighted = table.flatMap(([name, weight, run]) => Array(weight).fill([name, run]));
const startedAt = Date.now();
const endAt = startedAt + durationS * 1000;
const samples = [];

async function client() {
  while (Date.now() < endAt && !crashed) {
    const [name, run] = pick(weighted);
    try {
      await run();
      count(name);
    } catch (error) {
      if (!crashed) fail(name, error.message);
    }
  }
}

async function sampler() {
  while (Date.now() < endAt && !crashed) {
    await sleep(sampleEveryS * 1000);
    if (crashed) break;
    const s = stats(pid);
    const sample = {
      t_s: Math.round((Date.now() - startedAt) / 1000), ...s,
      requests: Object.values(counts).reduce((a, b) => a + b, 0),
      e2e_p50_ms: percentile(window.e2e_ms, 0.5), e2e_p99_ms: percentile(window.e2e_ms, 0.99),
      ttft_p50_ms: percentile(window.ttft_ms, 0.5), ttft_p99_ms: percentile(window.ttft_ms, 0.99),
    };
    window = { e2e_ms: [], ttft_ms: [] };
    samples.push(sample);
    console.log(JSON.stringify(sample));
  }
}

await Promise.all([sampler(), ...Array.from({ length: clients }, client)]);
await sleep(2000);  // aborted requests finish their cleanup
const end = crashed ? null : stats(pid);
stopping = true;
await server.stop();

const warmupS = Math.max(120, durationS * 0.1);
const steady = samples.filter((s) => s.t_s >= warmupS);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
// RSS after the warm-up: the mean of the first and of the last minute of samples.
const head = steady.slice(0, 6).map((s) => s.rss_mib);
const tail = steady.slice(-6).map((s) => s.rss_mib);
const growthPct = head.length && tail.length ? (mean(tail) / mean(head) - 1) * 100 : null;
const report = {
  duration_s: durationS, clients, crashed, unexpected_count: Object.entries(counts)
    .filter(([k]) => k.endsWith(':unexpected')).reduce((a, [, v]) => a + v, 0),
  unexpected, counts,
  rss_mib: { first: samples[0]?.rss_mib, after_warmup: head.length ? mean(head) : null, end: tail.length ? mean(tail) : null,
    max: Math.max(...samples.map((s) => s.rss_mib)), growth_after_warmup_pct: growthPct },
  fds: { first: samples[0]?.fds, end: end?.fds, max: Math.max(...samples.map((s) => s.fds)) },
  latency_ms: {
    e2e_p50_median: percentile(steady.map((s) => s.e2e_p50_ms).filter((x) => x !== null), 0.5),
    e2e_p99_max: Math.max(...steady.map((s) => s.e2e_p99_ms ?? 0)),
    ttft_p50_median: percentile(steady.map((s) => s.ttft_p50_ms).filter((x) => x !== null), 0.5),
    ttft_p99_max: Math.max(...steady.map((s) => s.ttft_p99_ms ?? 0)),
  },
  samples,
};
fs.writeFileSync(reportPath, JSON.stringify(report, null, 1));
const passed = !crashed && report.unexpected_count === 0 && growthPct !== null && growthPct < 1 &&
  end && end.fds <= samples[0].fds + 2;
console.log(`soak: ${durationS} s, ${report.samples.length} samples, requests ${JSON.stringify(counts)}`);
console.log(`soak: RSS ${report.rss_mib.after_warmup?.toFixed(1)} -> ${report.rss_mib.end?.toFixed(1)} MiB after warm-up ` +
  `(${growthPct?.toFixed(2)}%), max ${report.rss_mib.max.toFixed(1)}; fds ${report.fds.first} -> ${report.fds.end} ` +
  `(max ${report.fds.max}); crashed: ${crashed ? JSON.stringify(crashed) : 'no'}; unexpected answers: ${report.unexpected_count}`);
console.log(`soak: ${passed ? 'PASSED' : 'FAILED'} (report: ${reportPath})`);
process.exit(passed ? 0 : 1);
