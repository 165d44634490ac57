// The dashboard at /dashboard under load, against `kiln serve` on the demo model: its GET
// /v1/stats (docs/dashboard-api.md) feeds every panel.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { launchBrowser, SERVED_NAME, screenshotDir, startServer, waitFor } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function streamOnce(url, content) {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: SERVED_NAME, stream: true, max_tokens: 24, messages: [{ role: 'user', content }] }),
  });
  assert.equal(r.status, 200);
  await r.text();
}

it('shows the model, configuration and memory plan, and its charts follow the load', async () => {
  const context = await browser.browser.newContext({ viewport: { width: 1400, height: 1100 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/dashboard`);
  await page.getByTestId('dash-model').filter({ hasText: SERVED_NAME }).waitFor();
  // /v1/stats is served: no "metrics only" fallback.
  assert.equal(await page.getByText('metrics only').count(), 0);
  assert.match(await page.getByTestId('config').innerText(), /max_model_len\s+8192/);
  assert.match(await page.getByTestId('config').innerText(), /reasoning_parser\s+deepseek_r1/);
  assert.match(await page.getByTestId('memory').innerText(), /kv_cache_bytes\s+25\d\.\d\d MiB/);
  assert.match(await page.getByTestId('memory').innerText(), /num_gpu_blocks\s+\d+/);
  assert.match(await page.getByTestId('device').innerText(), /kind\s+cpu/);

  const points = async () => Number(await page.getByTestId('chart-tps').getAttribute('data-points'));
  const startPoints = await points();
  // Load: 3 waves of 4 concurrent streams while the page polls.
  let sawRunning = false;
  const load = (async () => {
    for (let wave = 0; wave < 3; wave++) {
      await Promise.all([0, 1, 2, 3].map((i) => streamOnce(server.url, `load ${wave} ${i} long`)));
    }
  })();
  await waitFor(async () => {
    const running = Number(await page.getByTestId('running').innerText());
    sawRunning ||= running > 0;
    return sawRunning && Number(await page.getByTestId('gen-tps').innerText()) > 0;
  }, { timeoutMs: 20000, what: 'running requests and a generation rate on the dashboard' });
  await load;
  await waitFor(async () => (await page.getByTestId('recent-requests').locator('tbody tr').count()) >= 12,
    { timeoutMs: 10000, what: 'the recent requests table' });
  assert.ok((await points()) >= startPoints + 2, 'the charts gained points');
  const rows = await page.getByTestId('recent-requests').locator('tbody tr').first().innerText();
  assert.match(rows, /chatcmpl-[0-9a-f-]+\s+\d+\s+24\s/);
  assert.match(rows, /length/);
  const stats = await (await fetch(`${server.url}/v1/stats`)).json();
  assert.equal(stats.counters.requests_finished_total, 12);
  assert.ok(stats.latency.ttft_ms.p50 > 0 && stats.latency.itl_ms.p99 > 0, JSON.stringify(stats.latency));
  await page.screenshot({ path: path.join(screenshotDir, 'dashboard.png'), fullPage: true });
  await context.close();
});

it('falls back to /metrics when the server has no /v1/stats', async () => {
  const context = await browser.browser.newContext();
  const page = await context.newPage();
  await page.route('**/v1/stats', (route) => route.fulfill({ status: 404, body: '{"error":{"message":"Not Found"}}' }));
  await page.goto(`${server.url}/dashboard`);
  await page.getByText('metrics only').waitFor();
  await page.getByTestId('dash-model').filter({ hasText: SERVED_NAME }).waitFor();
  await streamOnce(server.url, 'one more');
  await waitFor(async () => Number(await page.getByTestId('gen-tps').innerText()) >= 0,
    { what: 'a generation rate from /metrics' });
  await context.close();
});
