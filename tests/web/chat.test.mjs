// The chat page at / in a real browser against `kiln serve` on the demo model (random weights,
// the real DeepSeek-R1 tokenizer and chat template): what the page does with a real server's
// streams, aborts and errors. The demo model's words are random, so the tests bound the length
// of replies and steer the reasoning/answer split with logit_bias on `</think>` (harness.mjs).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, metricValue, patchChatRequests, screenshotDir, SERVED_NAME, startServer,
  THINK_END_TOKEN, waitFor } from './harness.mjs';

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

// Sampled with a fixed seed and `</think>` made likely enough that the reply reasons for about
// 55 tokens, closes the think block, then answers. The page draws once per animation frame, so
// the reasoning must outlast several frames even on an idle machine: with a few tokens of it
// (bias 9) the whole phase could fall inside one frame and "Thinking…" was never drawn (one
// run in three failed on an idle CI box).
const SPLIT_MAX_TOKENS = 96;
const splitReply = () => ({ max_tokens: SPLIT_MAX_TOKENS, temperature: 1, seed: 2, logit_bias: { [THINK_END_TOKEN]: 7.5 } });
// Short, sampled at the page's temperature (0.6): `</think>` comes early (about one token in
// seven), so there is an answer, and each reply differs.
const shortReply = () => ({ max_tokens: 24, logit_bias: { [THINK_END_TOKEN]: 6 } });
const longReply = () => ({ max_tokens: 4000, logit_bias: { [THINK_END_TOKEN]: 6 } });

async function openChat(context, patch = shortReply) {
  const page = await context.newPage();
  await patchChatRequests(page, patch);
  await page.goto(server.url);
  // Attached, not visible: the model name is hidden at phone width.
  await page.getByTestId('model').filter({ hasText: SERVED_NAME }).waitFor({ state: 'attached' });
  return page;
}

async function send(page, text) {
  await page.getByTestId('input').fill(text);
  await page.getByTestId('input').press('Enter');
}

describe('chat', () => {
  it('streams a reply, shows the thinking block live, then collapses it with its duration', async () => {
    const context = await browser.browser.newContext({ viewport: { width: 1200, height: 800 }, colorScheme: 'dark' });
    const page = await openChat(context, splitReply);
    await send(page, 'Hi there');
    const thinking = page.getByTestId('thinking');
    // While reasoning streams the block is open and labelled "Thinking…".
    await thinking.filter({ hasText: /Thinking…/ }).waitFor();
    const reply = page.getByTestId('assistant-message').last();
    await page.getByTestId('reply-stats').waitFor();
    // The answer came after `</think>`: the block collapsed to "Thought for N seconds".
    assert.match(await thinking.innerText(), /Thought for \d+(\.\d)? seconds?/);
    assert.equal(await thinking.locator('.thinking-head').getAttribute('aria-expanded'), 'false');
    assert.ok((await reply.locator('.answer').innerText()).trim().length > 0, 'an answer after the reasoning');
    const stats = await page.getByTestId('reply-stats').innerText();
    const m = /(\d+) tokens · [\d.]+ tok\/s · prompt (\d+)/.exec(stats);
    assert.ok(m, stats);
    assert.equal(Number(m[1]), SPLIT_MAX_TOKENS, 'max_tokens reached');
    // The block opens again on click and shows the reasoning text.
    await thinking.locator('.thinking-head').click();
    assert.equal(await thinking.locator('.thinking-head').getAttribute('aria-expanded'), 'true');
    assert.ok((await thinking.innerText()).length > 'Thought for 0 seconds'.length);
    await page.screenshot({ path: path.join(screenshotDir, 'chat.png') });
    await context.close();
  });

  it('handles inline <think> output without the opening tag (--reasoning-parser none)', async () => {
    const plain = await startServer({ reasoningParser: 'none' });
    try {
      const context = await browser.browser.newContext();
      const page = await context.newPage();
      // `</think>` a little likelier than in splitReply: this prompt's seed-2 sample needs it.
      await patchChatRequests(page, () => ({ ...splitReply(), logit_bias: { [THINK_END_TOKEN]: 10 } }));
      await page.goto(plain.url);
      await page.getByTestId('model').filter({ hasText: SERVED_NAME }).waitFor({ state: 'attached' });
      await send(page, 'inline please');
      const reply = page.getByTestId('assistant-message').last();
      await page.getByTestId('reply-stats').waitFor();
      // The server sent everything as content, `</think>` included: the page split it itself.
      assert.match(await reply.getByTestId('thinking').innerText(), /Thought for/);
      const answer = await reply.locator('.answer').innerText();
      assert.ok(answer.trim().length > 0, 'an answer after the inline reasoning');
      await context.close();
    } finally {
      await plain.stop();
    }
  });

  it('Stop aborts the request: it leaves num_requests_running; Esc stops too', async () => {
    const context = await browser.browser.newContext();
    const page = await openChat(context, longReply);
    for (const how of ['button', 'escape']) {
      await send(page, 'write a long essay');
      // The answer is streaming.
      await waitFor(async () => (await page.getByTestId('assistant-message').last().locator('.answer').innerText()).length > 20,
        { what: 'the long answer to stream' });
      assert.equal(await metricValue(server.url, 'vllm:num_requests_running'), 1);
      if (how === 'button') await page.getByTestId('stop').click();
      else await page.keyboard.press('Escape');
      await page.getByTestId('send').waitFor();
      await waitFor(async () => (await metricValue(server.url, 'vllm:num_requests_running')) === 0,
        { what: 'the stopped request to leave /metrics' });
      assert.match(await page.getByTestId('reply-stats').last().innerText(), /stopped/);
    }
    await context.close();
  });

  it('regenerates, edits and resends, and keeps history across a reload', async () => {
    const context = await browser.browser.newContext();
    const page = await openChat(context);
    await page.getByTestId('new-chat').click();
    await send(page, 'First question');
    await page.getByTestId('regenerate').waitFor();
    const firstText = await page.getByTestId('assistant-message').last().locator('.answer').innerText();
    await page.getByTestId('regenerate').click();
    await page.getByTestId('regenerate').waitFor();
    const assistants = page.getByTestId('assistant-message');
    assert.equal(await assistants.count(), 1, 'regenerate replaces the reply');
    assert.notEqual(await assistants.last().locator('.answer').innerText(), firstText);

    await page.getByTestId('edit').click();
    await page.locator('.edit-box').fill('Edited question');
    await page.getByTestId('edit-send').click();
    await page.getByTestId('regenerate').waitFor();
    assert.deepEqual(await page.getByTestId('user-message').allInnerTexts().then((t) => t.map((s) => s.split('\n')[0])),
      ['Edited question']);

    await page.reload();
    await page.getByTestId('assistant-message').first().waitFor();
    assert.equal(await page.getByTestId('user-message').count(), 1);
    assert.match(await page.getByTestId('user-message').innerText(), /Edited question/);
    assert.match(await page.getByTestId('chat-list').innerText(), /First question/);
    await context.close();
  });

  it('renames, searches and deletes chats', async () => {
    const context = await browser.browser.newContext();
    const page = await openChat(context);
    await page.getByTestId('new-chat').click();
    await send(page, 'Banana bread recipe');
    await page.getByTestId('regenerate').waitFor();
    const item = page.locator('.chat-item.current');
    await item.getByTestId('rename').click();
    await page.getByTestId('rename-input').fill('Baking');
    await page.getByTestId('rename-input').press('Enter');
    await page.getByTestId('chat-title').filter({ hasText: 'Baking' }).waitFor();
    await page.getByTestId('search').fill('banana');
    assert.deepEqual(await page.locator('.chat-title').allInnerTexts(), ['Baking']);
    await page.getByTestId('search').fill('');
    const before = await page.locator('.chat-item').count();
    await page.locator('.chat-item.current').getByTestId('delete').click();
    assert.equal(await page.locator('.chat-item').count(), before - 1);
    assert.doesNotMatch(await page.getByTestId('chat-list').innerText(), /Baking/);
    await context.close();
  });

  it('is usable at phone width in the light theme', async () => {
    const context = await browser.browser.newContext({ viewport: { width: 390, height: 760 }, isMobile: true });
    const page = await openChat(context);
    // The sidebar slides in from the menu button at this width; its theme button switches.
    await page.locator('.menu').click();
    const theme = page.getByTestId('theme');
    if ((await theme.innerText()).includes('Light')) await theme.click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    await page.getByTestId('sidebar-backdrop').click({ position: { x: 350, y: 400 } });
    await page.getByTestId('sidebar-backdrop').waitFor({ state: 'detached' });
    await send(page, 'Hi from a phone');
    await page.getByTestId('reply-stats').waitFor();
    const box = await page.getByTestId('input').boundingBox();
    assert.ok(box.width > 200 && box.x + box.width <= 390, 'the composer fits the screen');
    await page.screenshot({ path: path.join(screenshotDir, 'chat-phone-light.png') });
    await context.close();
  });
});

describe('max_tokens', () => {
  it('sends none unless set, so a short --max-model-len answers the first message; Settings shows the limit', async () => {
    const short = await startServer({ maxModelLen: 160 });
    try {
      const context = await browser.browser.newContext();
      const page = await context.newPage();
      const bodies = [];
      page.on('request', (request) => {
        if (request.url().endsWith('/v1/chat/completions')) bodies.push(JSON.parse(request.postData()));
      });
      await page.goto(short.url);
      await page.getByTestId('model').filter({ hasText: SERVED_NAME }).waitFor({ state: 'attached' });
      await send(page, 'Hello');
      const stats = page.getByTestId('reply-stats').last();
      await stats.waitFor({ timeout: 60000 });
      assert.equal(bodies.length, 1);
      assert.ok(!('max_tokens' in bodies[0]), JSON.stringify(bodies[0]));
      assert.equal(await page.getByTestId('reply-error').count(), 0, 'no error for the first message');
      // The reply used the rest of the context: prompt + completion = 160 (or it stopped at EOS).
      const m = /(\d+) tokens · .*prompt (\d+).*· (length|stop)$/.exec(await stats.innerText());
      assert.ok(m, await stats.innerText());
      if (m[3] === 'length') assert.equal(Number(m[1]) + Number(m[2]), 160);

      await page.getByTestId('settings-toggle').click();
      assert.match(await page.getByTestId('context-limit').innerText(), /Context: 160 tokens \(max_model_len\)/);
      assert.equal(await page.getByTestId('max-tokens').inputValue(), '');
      assert.match(await page.getByTestId('max-tokens').getAttribute('placeholder'), /auto \(up to 160\)/);
      await page.getByTestId('max-tokens').fill('5');
      await page.getByTestId('max-tokens').press('Tab');
      await page.screenshot({ path: path.join(screenshotDir, 'chat-settings.png') });
      await page.getByTestId('settings-toggle').click();
      await send(page, 'Again');
      await waitFor(async () => (await page.getByTestId('reply-stats').count()) === 2, { what: 'the second reply' });
      assert.equal(bodies[1].max_tokens, 5);
      assert.match(await page.getByTestId('reply-stats').last().innerText(), /^5 tokens .*length$/);

      // Cleared again: not sent.
      await page.getByTestId('settings-toggle').click();
      await page.getByTestId('max-tokens').fill('');
      await page.getByTestId('max-tokens').press('Tab');
      await page.getByTestId('settings-toggle').click();
      await page.getByTestId('regenerate').click();
      await waitFor(async () => bodies.length === 3, { what: 'the regenerated request' });
      assert.ok(!('max_tokens' in bodies[2]), JSON.stringify(bodies[2]));
      await page.getByTestId('regenerate').waitFor({ timeout: 60000 });
      await context.close();
    } finally {
      await short.stop();
    }
  });
});

describe('API key', () => {
  it('asks for the key on 401, stores it and sends it as Bearer', async () => {
    const secured = await startServer({ apiKey: 'sk-test-123' });
    try {
      const context = await browser.browser.newContext();
      const page = await context.newPage();
      await patchChatRequests(page, shortReply);
      await page.goto(secured.url);
      await page.getByTestId('api-key-dialog').waitFor();
      await page.getByTestId('api-key-input').fill('wrong');
      await page.getByTestId('api-key-save').click();
      await page.getByTestId('api-key-dialog').filter({ hasText: 'rejected' }).waitFor();
      await page.getByTestId('api-key-input').fill('sk-test-123');
      await page.getByTestId('api-key-save').click();
      await page.getByTestId('model').filter({ hasText: SERVED_NAME }).waitFor();
      await send(page, 'Secret hello');
      await page.getByTestId('reply-stats').waitFor();
      assert.equal(await page.evaluate(() => localStorage.getItem('kiln.apiKey')), 'sk-test-123');
      await context.close();
    } finally {
      await secured.stop();
    }
  });
});
