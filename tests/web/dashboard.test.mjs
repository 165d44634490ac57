// The dashboard at /dashboard under load, against the mock server (see run.sh for why).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { launchBrowser, screenshotDir, startMockServer, waitFor } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startMockServer({ tokenMs: 15 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function streamOnce(url, content) {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'kiln-mock', stream: true, max_tokens: 60, messages: [{ role: 'user', content }] }),
  });
  await r.text();
}

it('shows the model, configuration and memory plan, and its charts follow the load', async () => {
  const context = await browser.browser.newContext({ viewport: { width: 1400, height: 1100 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/dashboard`);
  await page.getByTestId('dash-model').filter({ hasText: 'kiln-mock' }).waitFor();
  assert.match(await page.getByTestId('config').innerText(), /max_model_len\s+2048/);
  assert.match(await page.getByTestId('memory').innerText(), /kv_cache_bytes\s+6\.00 GiB/);
  assert.match(await page.getByTestId('device').innerText(), /mock device/);

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
  assert.match(rows, /chatcmpl-mock-\d+\s+\d+\s+\d+/);
  assert.match(rows, /length|stop/);
  await page.screenshot({ path: path.join(screenshotDir, 'dashboard.png'), fullPage: true });
  await context.close();
});

it('falls back to /metrics when the server has no /v1/stats', async () => {
  const context = await browser.browser.newContext();
  const page = await context.newPage();
  await page.route('**/v1/stats', (route) => route.fulfill({ status: 404, body: '{"error":{"message":"Not Found"}}' }));
  await page.goto(`${server.url}/dashboard`);
  await page.getByText('metrics only').waitFor();
  await page.getByTestId('dash-model').filter({ hasText: 'kiln-mock' }).waitFor();
  await streamOnce(server.url, 'one more');
  await waitFor(async () => Number(await page.getByTestId('gen-tps').innerText()) >= 0,
    { what: 'a generation rate from /metrics' });
  await context.close();
});
