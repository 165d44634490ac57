// The dashboard at /dashboard under load, against `kiln serve` on the demo model: its GET
// /v1/stats (docs/dashboard-api.md) feeds every panel.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { axisLabels, launchBrowser, SERVED_NAME, screenshotDir, startServer, waitFor } from './harness.mjs';

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

const CHARTS = { 'chart-tps': 'rate', 'chart-requests': 'count', 'chart-cache': 'percent', 'chart-latency': 'rate' };

const secondsOfDay = (label) => label.split(':').map(Number).reduce((t, part, i) => t + part * [3600, 60, 1][i], 0);

// Every chart's axes read at a glance (axisLabels: the labels uPlot drew last).
async function assertReadableAxes(page, when) {
  for (const [testid, kind] of Object.entries(CHARTS)) {
    const { x, y, plotWidth } = await axisLabels(page, testid);
    const where = `${testid} ${when}: x ${JSON.stringify(x)} y ${JSON.stringify(y)}`;
    assert.ok(y.length >= 2 && x.length >= 2, where);
    assert.equal(new Set(y).size, y.length, `distinct value labels: ${where}`);
    assert.ok(y.every((l) => !/e/i.test(l) && !l.startsWith('-')), `no exponents or negatives: ${where}`);
    const values = y.map((l) => Number.parseFloat(l));
    assert.equal(values[0], 0, `values from 0: ${where}`);
    const step = values[1] - values[0];
    assert.ok(values.every((v, i) => Math.abs(v - i * step) < 1e-9 * Math.max(1, v)), `evenly spaced, unrounded: ${where}`);
    if (kind === 'percent') {
      assert.equal(y[0], '0%', where);
      assert.equal(y.at(-1), '100%', `KV cache 0-100%: ${where}`);
    } else {
      assert.ok(Math.max(...values) >= 1 || values.length >= 5, `a range of at least 1: ${where}`);
    }
    if (kind === 'count') assert.ok(y.every((l) => /^\d+$/.test(l)), `whole requests: ${where}`);
    assert.ok(x.every((l) => /^\d\d:\d\d(:\d\d)?$/.test(l)), `clock times in seconds or minutes: ${where}`);
    assert.equal(new Set(x).size, x.length, `distinct time labels: ${where}`);
    // An HH:MM:SS label is about 55 px wide in the axis font: more than one per 60 px overlap.
    assert.ok(x.length * 60 <= plotWidth, `time labels do not overlap (${plotWidth} px): ${where}`);
    const times = x.map(secondsOfDay);
    for (let i = 1; i < times.length; i++) {
      const step = (times[i] - times[i - 1] + 86400) % 86400;
      assert.ok(step >= 1, `ticks at least a second apart: ${where}`);
    }
  }
}

it('draws readable axes on an idle server', async () => {
  const context = await browser.browser.newContext({ viewport: { width: 1400, height: 1100 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/dashboard`);
  await page.getByTestId('dash-model').filter({ hasText: SERVED_NAME }).waitFor();
  // A few polls of an idle server: zero rates, no latency samples yet.
  await waitFor(async () => Number(await page.getByTestId('chart-tps').getAttribute('data-points')) >= 3,
    { what: 'three polls on the charts' });
  await assertReadableAxes(page, 'idle');
  await page.screenshot({ path: path.join(screenshotDir, 'dashboard-idle.png'), fullPage: true });
  await context.close();
});

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
  await assertReadableAxes(page, 'under load');
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
