// Hostile clients and files against the real `kiln serve` (issue 15). Each test is one class that
// once crashed, leaked or hung the server; each ends by checking that the server still answers
// /health, and the suite checks that its descriptors and memory came back to where they began.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, post, parseSse, sleep, metric, MODEL, demoModel, kilnBinary } from './harness.mjs';

// Under ASan (scripts/run-sanitizers.sh) freed memory sits in quarantine, so RSS says nothing
// about leaks there: LeakSanitizer checks at the server's exit instead (the last test), and the
// big inputs are smaller so that the sanitized build stays within CI's time.
const sanitized = process.env.KILN_E2E_SANITIZED === '1';

// --- helpers ---

function processStats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKib = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  return { rssMib: rssKib / 1024, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

// Sends `chunks` (strings or Buffers, with optional {delayMs} between) on a raw socket and
// collects everything until the server closes or `timeoutMs` passes.
function raw(port, chunks, { timeoutMs = 5000, keepOpen = false } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      if (!keepOpen) socket.destroy();
      resolve({ text: data.toString('latin1'), closed, socket });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d) => { data = Buffer.concat([data, d]); });
    socket.on('error', () => {});
    socket.on('close', () => { closed = true; finish(); });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (chunk && chunk.delayMs) {
          await sleep(chunk.delayMs);
        } else if (!socket.destroyed) {
          socket.write(chunk);
        }
      }
    });
  });
}

const statusOf = (text) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const postHead = (pathName, length, extra = '') =>
  `POST ${pathName} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}Content-Length: ${length}\r\n\r\n`;

async function healthy(server) {
  const response = await fetch(`${server.url}/health`);
  await response.arrayBuffer();
  assert.equal(response.status, 200, 'the server no longer answers /health');
}

// A copy of the demo model with its config.json changed (weights linked, not copied).
function modelWith(tmp, name, change) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const file of fs.readdirSync(demoModel)) {
    if (file === 'config.json') continue;
    fs.symlinkSync(path.join(demoModel, file), path.join(dir, file));
  }
  const config = JSON.parse(fs.readFileSync(path.join(demoModel, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), typeof change === 'function' ? change(config) : change);
  return dir;
}

// Runs `kiln serve DIR` to its exit (expected: a refusal before any port is served).
function serveExit(dir, timeoutMs = 20000) {
  return new Promise((resolve) => {
    const child = spawn(kilnBinary, ['serve', dir, '--device', 'cpu', '--port', '0', '--host', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => { log += d; });
    child.stderr.on('data', (d) => { log += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, log });
    });
  });
}

let server;
let baseline;
let tmp;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-hostile-'));
  server = await startServer({ extraArgs: ['--http-body-timeout', '2', '--http-write-timeout', '2'] });
  // Warm up allocator arenas and caches before the baseline is taken.
  for (let i = 0; i < 20; i++) {
    await post(`${server.url}/v1/completions`, { model: MODEL, prompt: `warm ${i}`, max_tokens: 2 });
  }
  baseline = processStats(server.child.pid);
});
after(async () => {
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// --- 1. exceptions in the HTTP layer ---

test('a chunked trailer with a 70 KB field gets 431 instead of killing the process', async () => {
  const response = await raw(server.port, [
    'POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n',
    `2\r\n{}\r\n0\r\nX-T: ${'a'.repeat(70000)}\r\n\r\n`,
  ]);
  assert.equal(statusOf(response.text), 431, response.text.slice(0, 200));
  await healthy(server);
});

// --- 2. the tokenizer's regex ---

test('10 MB of whitespace tokenizes, and is a 400 (too long) for generation, never an abort', async () => {
  // The old match limit failed from ~5 MB of whitespace on.
  const prompt = ' '.repeat((sanitized ? 6 : 10) << 20) + 'x';
  const tokenized = await post(`${server.url}/tokenize`, { model: MODEL, prompt });
  assert.equal(tokenized.status, 200, tokenized.text.slice(0, 300));
  const completion = await post(`${server.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 1 });
  assert.equal(completion.status, 400, completion.text.slice(0, 300));
  assert.match(completion.json.error.message, /maximum context length/);
  await healthy(server);
});

// --- 3. deep JSON ---

test('50,000 nested brackets anywhere in a request get a 400 naming the limit', async () => {
  const deep = '['.repeat(50000) + ']'.repeat(50000);
  const messages = '[{"role":"user","content":"hi"}]';
  const bodies = [
    ['/v1/chat/completions', `{"model":"${MODEL}","messages":${messages},"tools":${deep}}`],
    ['/v1/chat/completions', `{"model":"${MODEL}","messages":${messages},"chat_template_kwargs":{"x":${deep}}}`],
    ['/v1/chat/completions', `{"model":"${MODEL}","messages":[{"role":"user","content":"hi","extra":${deep}}]}`],
    ['/tokenize', `{"model":"${MODEL}","messages":[{"role":"user","content":"hi","x":${deep}}]}`],
    ['/v1/completions', `{"model":"${MODEL}","prompt":${deep}}`],
  ];
  for (const [route, body] of bodies) {
    const response = await post(`${server.url}${route}`, body);
    assert.equal(response.status, 400, `${route}: ${response.text.slice(0, 200)}`);
    assert.match(response.json.error.message, /deeper than 128 levels/);
  }
  await healthy(server);
});

// --- 4. the per-connection leak ---

test('generation requests on connections that close leave no sessions, memory or descriptors behind', async () => {
  const open = () => metric(server.url, 'kiln:http_open_connections');
  const before = processStats(server.child.pid);
  const openBefore = await open();
  const total = 600;
  for (let i = 0; i < total; i += 6) {
    await Promise.all(Array.from({ length: 6 }, (_, j) => {
      const body = JSON.stringify({ model: MODEL, prompt: `leak ${i + j}`, max_tokens: 1, stream: (i + j) % 2 === 0 });
      // Connection: close makes every request a new connection that the server closes after
      // the response: the case that leaked ~5-7 KB each (a session kept alive by a cycle).
      return raw(server.port, [postHead('/v1/completions', Buffer.byteLength(body), 'Connection: close\r\n') + body],
        { timeoutMs: 20000 });
    }));
  }
  let openAfter = await open();
  for (let i = 0; i < 100 && openAfter > openBefore; i++) {
    await sleep(100);
    openAfter = await open();
  }
  assert.ok(openAfter <= openBefore, `kiln:http_open_connections ${openBefore} -> ${openAfter} after ${total} closed connections`);
  const after = processStats(server.child.pid);
  assert.ok(after.fds <= before.fds + 2, `descriptors ${before.fds} -> ${after.fds}`);
  // RSS also grows while requests touch KV cache pages for the first time, so it is bounded
  // loosely here; the session count above is the exact check.
  const growthKib = (after.rssMib - before.rssMib) * 1024;
  if (!sanitized) assert.ok(growthKib / total < 40, `RSS grew ${growthKib.toFixed(0)} KiB over ${total} requests`);
  await healthy(server);
});

// --- 6. unbounded work from one small request ---

test('3,000 prompts x n=128 in one 45 KB body get a 400 naming --max-seqs-per-request', async () => {
  const prompt = Array.from({ length: 3000 }, (_, i) => `p${i}`);
  const started = Date.now();
  const response = await post(`${server.url}/v1/completions`, { model: MODEL, prompt, n: 128, max_tokens: 1 });
  assert.equal(response.status, 400, response.text.slice(0, 300));
  assert.match(response.json.error.message, /384000 sequences .* limit of 4096 per request \(--max-seqs-per-request\)/);
  assert.ok(Date.now() - started < 5000);
  await healthy(server);
});

test('a request at the cap (32 prompts x n=128), abandoned, is cleaned up within seconds', async () => {
  const body = JSON.stringify({ model: MODEL, prompt: Array.from({ length: 32 }, (_, i) => `cap ${i}`), n: 128,
    max_tokens: 64, ignore_eos: true, stream: true });
  const response = await raw(server.port, [postHead('/v1/completions', Buffer.byteLength(body)) + body],
    { timeoutMs: 3000 });  // reads the first events, then the client goes away
  assert.equal(statusOf(response.text), 200, response.text.slice(0, 200));
  const started = Date.now();
  let live = Infinity;
  while (Date.now() - started < 30000) {
    live = await metric(server.url, 'vllm:num_requests_running') + await metric(server.url, 'vllm:num_requests_waiting');
    if (live === 0) break;
    await sleep(100);
  }
  assert.equal(live, 0, 'the abandoned sequences are still in the engine');
  assert.ok(Date.now() - started < (sanitized ? 20000 : 10000), `cleanup took ${Date.now() - started} ms`);
  await healthy(server);
});

// --- 8. deadlines on reads ---

test('a slow but steady 1 MB upload over 6 s succeeds (the old 5 s deadline covered the body)', async () => {
  const body = JSON.stringify({ model: MODEL, prompt: 'ab '.repeat(350000) });
  const pieces = [postHead('/tokenize', Buffer.byteLength(body))];
  const size = Math.ceil(body.length / 12);
  for (let at = 0; at < body.length; at += size) pieces.push({ delayMs: 500 }, body.slice(at, at + size));
  const response = await raw(server.port, pieces, { timeoutMs: 20000 });
  assert.equal(statusOf(response.text), 200, response.text.slice(0, 300));
  await healthy(server);
});

test('a body that stalls gets 408 after --http-body-timeout', async () => {
  const started = Date.now();
  const response = await raw(server.port, [postHead('/tokenize', 1000), '{"prompt":"'], { timeoutMs: 10000 });
  assert.equal(statusOf(response.text), 408, response.text);
  assert.ok(Date.now() - started < 6000);
  await healthy(server);
});

test('headers that never finish get 408 after --http-header-timeout', async () => {
  const response = await raw(server.port, ['GET /health HTTP/1.1\r\nHost: x\r\n'], { timeoutMs: 10000 });
  assert.equal(statusOf(response.text), 408, response.text);
});

// --- 9. clients that never read ---

test('a client that never reads its response is disconnected after --http-write-timeout', async () => {
  const before = processStats(server.child.pid);
  const body = JSON.stringify({ model: MODEL, prompt: 'a b '.repeat(sanitized ? 1_000_000 : 2_000_000), return_token_strs: true });
  const socket = net.connect(server.port, '127.0.0.1');
  await new Promise((resolve) => socket.on('connect', resolve));
  socket.on('error', () => {});
  socket.pause();  // never read: the kernel buffers fill and the server's writes stall
  socket.write(postHead('/tokenize', Buffer.byteLength(body)) + body);
  // The server's own word that it gave up on the write, then its descriptor count back down.
  const pattern = /no write progress for 2 s \(--http-write-timeout\)/;
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline && !pattern.test(server.log)) await sleep(200);
  assert.match(server.log, pattern);
  let fds = processStats(server.child.pid).fds;
  for (let i = 0; i < 50 && fds > before.fds; i++) {
    await sleep(100);
    fds = processStats(server.child.pid).fds;
  }
  socket.destroy();
  assert.ok(fds <= before.fds, `descriptors ${before.fds} -> ${fds}`);
  await healthy(server);
});

// --- 9. a request's own chat template ---

test('a request chat_template is refused unless --trust-request-chat-template', async () => {
  const body = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], chat_template: '{{ messages[0].content }}!' };
  const refused = await post(`${server.url}/v1/chat/completions`, { ...body, max_tokens: 1 });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.message,
    'Chat template is passed with request, but --trust-request-chat-template is not set. Refused request with untrusted chat template.');
  const viaKwargs = await post(`${server.url}/tokenize`, { model: MODEL, messages: body.messages,
    chat_template_kwargs: { chat_template: '{{ 1 }}' } });
  assert.equal(viaKwargs.status, 400);
  const trusting = await startServer({ extraArgs: ['--trust-request-chat-template'] });
  try {
    const own = await post(`${trusting.url}/tokenize`, { ...body, return_token_strs: true });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.json.token_strs.join(''), 'hi!');
  } finally {
    await trusting.stop();
  }
});

// --- 7. descriptor exhaustion ---

// UBSan's vptr check asks whether memory is readable by writing it to a pipe; with no descriptor
// left for the pipe every virtual call reads as an "invalid vptr". Under the sanitizers this
// server runs without that one check (ASan still watches every access).
function withoutVptrCheck() {
  if (!sanitized) return {};
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-ubsan-')), 'vptr.supp');
  fs.writeFileSync(file, 'vptr:*\n');
  const options = process.env.UBSAN_OPTIONS ? `${process.env.UBSAN_OPTIONS}:` : '';
  return { UBSAN_OPTIONS: `${options}suppressions=${file}` };
}

test('out of file descriptors: accept backs off, logs rarely, and open connections keep working', async () => {
  const limited = await startServer({ wrapper: ['prlimit', '--nofile=96:96', '--'],
    extraArgs: ['--http-keep-alive-timeout', '30'], env: withoutVptrCheck() });
  const sockets = [];
  try {
    // One keep-alive connection opened before the flood, used afterwards.
    const kept = net.connect(limited.port, '127.0.0.1');
    await new Promise((resolve) => kept.on('connect', resolve));
    kept.on('error', () => {});
    for (let i = 0; i < 150; i++) {
      const s = net.connect(limited.port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
    }
    await sleep(3000);
    const lines = limited.log.split('\n').filter((l) => l.includes('accept failed'));
    assert.ok(lines.length >= 1 && lines.length <= 3, `${lines.length} accept log lines in 3 s`);
    assert.match(lines[0], /Too many open files/);
    const answer = await new Promise((resolve) => {
      let text = '';
      kept.on('data', (d) => { text += d; if (text.includes('\r\n\r\n')) resolve(text); });
      kept.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      setTimeout(() => resolve(text), 5000);
    });
    assert.equal(statusOf(answer), 200, `the existing connection got: ${answer.slice(0, 100)}`);
    kept.destroy();
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    const deadline = Date.now() + 10000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      try {
        status = (await fetch(`${limited.url}/health`)).status;
      } catch { await sleep(100); }
    }
    assert.equal(status, 200);
  } finally {
    for (const s of sockets) s.destroy();
    await limited.stop();
  }
});

// --- 5 and 9. signals and the drain ---

test('a second SIGTERM during drain exits at once and cleanly', async () => {
  const own = await startServer({ extraArgs: ['--drain-timeout', '60'] });
  const stream = fetch(`${own.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'go', max_tokens: 4000, ignore_eos: true, stream: true }) })
    .then((r) => r.text()).catch(() => '');
  await sleep(500);
  own.child.kill('SIGTERM');
  await sleep(300);
  const started = Date.now();
  own.child.kill('SIGTERM');
  const { code, signal } = await own.exited;
  await stream;
  assert.equal(signal, null, `died of ${signal}:\n${own.log.slice(-2000)}`);
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000);
});

test('streams cut by the drain timeout end with an error event and [DONE]', async () => {
  const own = await startServer({ extraArgs: ['--drain-timeout', '1'] });
  const response = await fetch(`${own.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'go', max_tokens: 4000, ignore_eos: true, stream: true }) });
  assert.equal(response.status, 200);
  const text = response.text();
  await sleep(300);
  own.child.kill('SIGTERM');
  const events = parseSse(await text);
  assert.equal(events.at(-1), '[DONE]');
  const error = JSON.parse(events.at(-2));
  assert.equal(error.error.code, 503);
  assert.match(error.error.message, /drain timeout of 1 s/);
  const { code } = await own.exited;
  assert.equal(code, 0);
});

// --- 9. hostile model files ---

test('model files: eos_token_id 2^40, 1e6 layers, 2^31-1 positions, deep JSON and a FIFO are clear errors', async () => {
  const cases = [
    ['eos', (c) => JSON.stringify({ ...c, eos_token_id: 1099511627776 }), /config\.json: eos_token_id 1099511627776 is outside the vocabulary/],
    ['layers', (c) => JSON.stringify({ ...c, num_hidden_layers: 1000000 }), /num_hidden_layers 1000000 is larger than kiln supports/],
    ['positions', (c) => JSON.stringify({ ...c, max_position_embeddings: 2147483647 }), /max_position_embeddings 2147483647 is larger than kiln supports/],
    ['deep', (c) => JSON.stringify(c).replace(/}$/, `,"x":${'['.repeat(100000)}${']'.repeat(100000)}}`), /nests JSON deeper than 64 levels/],
  ];
  for (const [name, change, pattern] of cases) {
    const started = Date.now();
    const { code, log } = await serveExit(modelWith(tmp, name, change));
    assert.equal(code, 2, `${name}: exit ${code}\n${log.slice(-500)}`);
    assert.match(log, pattern, name);
    assert.ok(Date.now() - started < 15000, `${name} took ${Date.now() - started} ms`);
  }
  const fifoDir = modelWith(tmp, 'fifo', (c) => JSON.stringify(c));
  fs.unlinkSync(path.join(fifoDir, 'model.safetensors'));
  await new Promise((resolve, reject) => {
    spawn('mkfifo', [path.join(fifoDir, 'model.safetensors')]).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('mkfifo'))));
  });
  const fifo = await serveExit(fifoDir);
  assert.notEqual(fifo.signal, 'SIGKILL', 'kiln serve hung on a FIFO');
  assert.match(fifo.log, /model\.safetensors: is a FIFO, not a regular file/);
});

// --- the whole suite ---

test('after all of it: descriptors and memory are back near the baseline', async () => {
  await sleep(500);
  const now = processStats(server.child.pid);
  assert.ok(now.fds <= baseline.fds + 2, `descriptors ${baseline.fds} -> ${now.fds}`);
  // The 10 MB prompts and 8 MB responses above may leave the allocator's high-water mark up;
  // a leak of every connection would show as far more.
  if (!sanitized) {
    assert.ok(now.rssMib < baseline.rssMib + 200, `RSS ${baseline.rssMib.toFixed(0)} -> ${now.rssMib.toFixed(0)} MiB`);
  }
  await healthy(server);
});

test('the server exits 0 on SIGTERM (under ASan: LeakSanitizer found nothing)', async () => {
  server.child.kill('SIGTERM');
  const { code, signal } = await server.exited;
  assert.equal(signal, null);
  assert.equal(code, 0, server.log.slice(-4000));
});
