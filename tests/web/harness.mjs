// Starts the server under test (the built `kiln serve` on the demo model, CPU backend) and a
// headless Debian chromium for the browser tests.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
export const buildDir = path.resolve(root, process.env.KILN_BUILD_DIR || 'build');
export const screenshotDir = path.join(buildDir, 'web-screenshots');
export const SERVED_NAME = 'deepseek-ai/DeepSeek-R1-Distill-Llama-8B';
// The R1 tokenizer's `</think>`: the demo model's random weights never pick it on their own, so
// tests that need a reasoning/answer split bias it (see forceAnswerAfter in chat.test.mjs).
export const THINK_END_TOKEN = 128014;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// `kiln serve BUILD/models/demo` (KILN_DEMO_MODEL overrides) on a free loopback port, ready once
// /health answers 200.
export async function startServer({ apiKey = '', reasoningParser = 'deepseek_r1', maxModelLen = 8192 } = {}) {
  const model = process.env.KILN_DEMO_MODEL || path.join(buildDir, 'models/demo');
  const port = await freePort();
  const args = ['serve', model, '--host', '127.0.0.1', '--port', String(port), '--served-model-name', SERVED_NAME,
    '--max-model-len', String(maxModelLen), '--kv-cache-memory', '256MiB', '--device', 'cpu', '--drain-timeout', '1',
    '--reasoning-parser', reasoningParser];
  if (apiKey) args.push('--api-key', apiKey);
  const child = spawn(path.join(buildDir, 'kiln'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kiln serve exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kiln serve never became healthy:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
    },
  };
}

// Rewrites the UI's chat requests on their way to the server (Playwright routing): the demo
// model's text is random, so tests bound its length or steer it with logit_bias.
export async function patchChatRequests(page, patch) {
  await page.route('**/v1/chat/completions', async (route) => {
    const body = JSON.parse(route.request().postData() || '{}');
    await route.continue({ postData: JSON.stringify({ ...body, ...patch(body) }) });
  });
}

export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.KILN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // Playwright gives launch() a fresh temporary profile (--user-data-dir) of its own and
    // refuses one passed in args.
  });
  mkdirSync(screenshotDir, { recursive: true });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

export async function metricValue(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} is missing from /metrics`);
  return Number(line.trim().split(/\s+/).pop());
}

export async function waitFor(check, { timeoutMs = 10000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The tick labels a dashboard chart drew last (Chart.jsx keeps them in data attributes: uPlot
// draws on a canvas), checked for what a reader needs: distinct labels, no exponents, values
// from 0, and a time axis in whole seconds or minutes.
export async function axisLabels(page, testid) {
  const chart = page.getByTestId(testid);
  return {
    x: JSON.parse((await chart.getAttribute('data-x-ticks')) || '[]'),
    y: JSON.parse((await chart.getAttribute('data-y-ticks')) || '[]'),
    plotWidth: Number(await chart.getAttribute('data-plot-width')),
  };
}
