// Starts the real `kiln serve` on the demo model on a free 127.0.0.1 port, waits for /health 200,
// and stops it at the end. KILN_BUILD_DIR names the build folder (default: build).
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const buildDir = path.resolve(root, process.env.KILN_BUILD_DIR || 'build');
export const kilnBinary = path.join(buildDir, 'kiln');
export const demoModel = path.join(buildDir, 'models/demo');
export const MODEL = 'deepseek-ai/DeepSeek-R1-Distill-Llama-8B';
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Polls GET url until it answers `status` (or throws after timeoutMs).
export async function waitForStatus(url, status, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status === status) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

// A running `kiln serve`. extraArgs are appended to the defaults; later flags win.
// maxNumBatchedTokens: null leaves --max-num-batched-tokens to its default.
// `wrapper` runs the binary through another command (e.g. ['prlimit', '--nofile=64']);
// `model` replaces the demo model directory.
export async function startServer({ extraArgs = [], env = {}, servedName = MODEL, maxNumBatchedTokens = 512,
                                    wrapper = [], model = demoModel } = {}) {
  const port = await freePort();
  const args = [
    'serve', model, '--host', '127.0.0.1', '--port', String(port),
    '--served-model-name', servedName, '--max-model-len', '8192',
    '--kv-cache-memory', '64MiB', '--device', 'cpu',
    ...(maxNumBatchedTokens === null ? [] : ['--max-num-batched-tokens', String(maxNumBatchedTokens)]), ...extraArgs,
  ];
  const childEnv = { ...process.env, ...env };
  delete childEnv.KILN_API_KEY;
  delete childEnv.VLLM_API_KEY;
  Object.assign(childEnv, env);
  const child = wrapper.length
    ? spawn(wrapper[0], [...wrapper.slice(1), kilnBinary, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(kilnBinary, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk) => {
    log += chunk.toString();
    if (log.length > 200000) log = log.slice(-100000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const server = {
    port, url, child, exited, servedName,
    get log() { return log; },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
  try {
    await Promise.race([
      waitForStatus(`${url}/health`, 200),
      exited.then(({ code, signal }) => {
        throw new Error(`kiln serve exited (code ${code}, signal ${signal}) before ready:\n${log}`);
      }),
    ]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

// POSTs a JSON body (object, or raw string/Buffer) and returns {status, headers, text, json}.
export async function post(url, body, headers = {}) {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const response = await fetch(url, {
    method: 'POST', body: raw, headers: { 'content-type': 'application/json', ...headers },
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: the caller checks */ }
  return { status: response.status, headers: response.headers, text, json };
}

// Parses an SSE body into its `data:` payloads, checking the framing strictly.
export function parseSse(text) {
  const events = text.split('\n\n');
  if (events.at(-1) !== '') throw new Error(`SSE body does not end with a blank line: ${JSON.stringify(text.slice(-80))}`);
  events.pop();
  return events.map((event) => {
    if (!event.startsWith('data: ') || event.includes('\n')) {
      throw new Error(`bad SSE event: ${JSON.stringify(event.slice(0, 200))}`);
    }
    return event.slice('data: '.length);
  });
}

// Reads one Prometheus sample value (the first series of `name` whose labels include `labels`).
export async function metric(url, name, labels = {}) {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  throw new Error(`metric ${name} ${JSON.stringify(labels)} not in /metrics`);
}
