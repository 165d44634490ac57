import { describe, expect, it } from 'vitest';
import { isReasoningModel, ReplyTracker, splitThinking, thinkLabel } from '../src/lib/reasoning.js';

function clock() {
  let t = 0;
  const now = () => t;
  now.advance = (ms) => { t += ms; };
  return now;
}

describe('splitThinking', () => {
  it('splits an inline think block', () => {
    expect(splitThinking('<think>\nhmm\n</think>\n\nAnswer')).toEqual(
      { reasoning: '\nhmm\n', content: '\n\nAnswer', thinking: false });
  });

  it('treats an unclosed think block as reasoning still going', () => {
    expect(splitThinking('<think>step 1')).toEqual({ reasoning: 'step 1', content: '', thinking: true });
  });

  it('hides a closing tag that is still arriving', () => {
    expect(splitThinking('<think>step</th').reasoning).toBe('step');
    expect(splitThinking('plain </thi').content).toBe('plain ');
  });

  it('waits while the opening tag may still be arriving', () => {
    expect(splitThinking('<thi')).toEqual({ reasoning: '', content: '', thinking: false });
  });

  it('takes text before a lone </think> as reasoning (R1 without the opening tag)', () => {
    expect(splitThinking('Okay, so 2+2.\n</think>\n\n4')).toEqual(
      { reasoning: 'Okay, so 2+2.\n', content: '\n\n4', thinking: false });
  });

  it('leaves text without tags as content', () => {
    expect(splitThinking('Just an answer')).toEqual({ reasoning: '', content: 'Just an answer', thinking: false });
  });
});

describe('ReplyTracker', () => {
  it('follows reasoning_content deltas, collapses on the first content and times the thinking', () => {
    const now = clock();
    const r = new ReplyTracker(now);
    r.pushDelta({ role: 'assistant', content: '' });
    now.advance(100);
    r.pushDelta({ reasoning_content: 'Let me ', reasoning: 'Let me ' });
    expect(r.view()).toMatchObject({ reasoning: 'Let me ', content: '', thinking: true, collapsed: false });
    now.advance(1500);
    r.pushDelta({ reasoning_content: 'think.', reasoning: 'think.' });
    now.advance(500);
    r.pushDelta({ content: '\n\n' }); // blank content does not end the thinking
    expect(r.view().thinking).toBe(true);
    r.pushDelta({ content: 'Answer' });
    now.advance(1000);
    const v = r.view();
    expect(v).toMatchObject({ reasoning: 'Let me think.', content: '\n\nAnswer', thinking: false, collapsed: true });
    expect(v.thinkMs).toBe(2000);
  });

  it('accepts the newer `reasoning` field alone', () => {
    const r = new ReplyTracker(clock());
    r.pushDelta({ reasoning: 'abc' });
    expect(r.view().reasoning).toBe('abc');
  });

  it('follows inline <think> split over deltas at every position', () => {
    const text = '<think>\nweigh options\n</think>\n\nFinal answer.';
    for (let cut = 1; cut < text.length; cut++) {
      const r = new ReplyTracker(clock());
      r.pushDelta({ content: text.slice(0, cut) });
      const mid = r.view();
      expect(mid.content.includes('<')).toBe(false);
      r.pushDelta({ content: text.slice(cut) });
      expect(r.view()).toMatchObject({ reasoning: '\nweigh options\n', content: '\n\nFinal answer.', thinking: false });
    }
  });

  it('moves text into the thinking block when a lone </think> arrives', () => {
    const now = clock();
    const r = new ReplyTracker(now);
    r.pushDelta({ content: 'Okay, the user asks' });
    expect(r.view()).toMatchObject({ reasoning: '', content: 'Okay, the user asks' });
    now.advance(300);
    r.pushDelta({ content: '.\n</think>\n\nHello!' });
    expect(r.view()).toMatchObject({ reasoning: 'Okay, the user asks.\n', content: '\n\nHello!', thinking: false });
  });

  it('ends the thinking when the stream stops inside it', () => {
    const now = clock();
    const r = new ReplyTracker(now);
    r.pushDelta({ content: '<think>still going' });
    expect(r.view().thinking).toBe(true);
    now.advance(700);
    r.finish('stopped');
    expect(r.view()).toMatchObject({ thinking: false, thinkMs: 700, content: '' });
  });

  it('has no thinking block for a reply without reasoning', () => {
    const r = new ReplyTracker(clock());
    r.pushDelta({ content: 'hi' });
    expect(r.view()).toMatchObject({ reasoning: '', thinking: false, thinkMs: null });
  });
});

describe('thinkLabel', () => {
  it('says how long it thought', () => {
    expect(thinkLabel(false, 3240)).toBe('Thought for 3.2 seconds');
    expect(thinkLabel(false, 42000)).toBe('Thought for 42 seconds');
    expect(thinkLabel(true, 1500)).toBe('Thinking… 1.5 s');
  });
});

describe('reasoning models behind --reasoning-parser none', () => {
  it('recognises reasoning model names', () => {
    expect(isReasoningModel('deepseek-ai/DeepSeek-R1-Distill-Llama-8B')).toBe(true);
    expect(isReasoningModel('deepseek-r1')).toBe(true);
    expect(isReasoningModel('Qwen/QwQ-32B')).toBe(true);
    expect(isReasoningModel('meta-llama/Llama-3.1-8B-Instruct')).toBe(false);
    expect(isReasoningModel('gpt-4o')).toBe(false);
  });

  it('shows untagged text as live thinking until </think>, then the answer', () => {
    const now = clock();
    const r = new ReplyTracker(now, { expectThinking: true });
    r.pushDelta({ content: 'Okay, the user' });
    expect(r.view()).toMatchObject({ reasoning: 'Okay, the user', content: '', thinking: true });
    now.advance(800);
    r.pushDelta({ content: ' asks.\n</thi' });
    expect(r.view()).toMatchObject({ reasoning: 'Okay, the user asks.\n', content: '', thinking: true });
    r.pushDelta({ content: 'nk>\n\nHi!' });
    expect(r.view()).toMatchObject({ reasoning: 'Okay, the user asks.\n', content: '\n\nHi!', thinking: false });
    expect(r.view().thinkMs).toBe(800);
  });

  it('turns the text back into the answer when the stream ends without </think>', () => {
    const r = new ReplyTracker(clock(), { expectThinking: true });
    r.pushDelta({ content: 'Just an answer' });
    expect(r.view().thinking).toBe(true);
    r.finish('stop');
    expect(r.view()).toMatchObject({ reasoning: '', content: 'Just an answer', thinking: false });
  });

  it('does not apply once the server splits the reasoning itself', () => {
    const r = new ReplyTracker(clock(), { expectThinking: true });
    r.pushDelta({ reasoning_content: 'hmm' });
    r.pushDelta({ content: 'Answer' });
    expect(r.view()).toMatchObject({ reasoning: 'hmm', content: 'Answer', thinking: false });
  });
});
