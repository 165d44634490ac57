// Starts the server under test and a headless Debian chromium for the browser tests.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
export const buildDir = path.resolve(root, process.env.KILN_BUILD_DIR || 'build');
export const screenshotDir = path.join(buildDir, 'web-screenshots');

// The mock server (mock-server.mjs) with the UI bundle the build made for embedding.
export async function startMockServer({ apiKey = '', reasoningParser = 'deepseek_r1', tokenMs } = {}) {
  const args = [path.join(here, 'mock-server.mjs'), '--static', path.join(buildDir, 'src/web/dist'),
    '--reasoning-parser', reasoningParser];
  if (apiKey) args.push('--api-key', apiKey);
  if (tokenMs) args.push('--token-ms', String(tokenMs));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`mock server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
    },
  };
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
