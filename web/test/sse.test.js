import { describe, expect, it } from 'vitest';
import { SseParser, classifyEvent } from '../src/lib/sse.js';

const STREAM =
  'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n' +
  'data: {"choices":[{"index":0,"delta":{"content":"Hé"}}]}\n\n' +
  ': keep-alive comment\n\n' +
  'data: {"choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]}\n\n' +
  'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n' +
  'data: [DONE]\n\n';

function parseInPieces(text, cuts) {
  const parser = new SseParser();
  const out = [];
  let at = 0;
  for (const cut of [...cuts, text.length]) {
    out.push(...parser.push(text.slice(at, cut)));
    at = cut;
  }
  out.push(...parser.finish());
  return out;
}

describe('SseParser', () => {
  const whole = parseInPieces(STREAM, []);

  it('yields each data payload in order, skipping comments', () => {
    expect(whole).toHaveLength(5);
    expect(JSON.parse(whole[1]).choices[0].delta.content).toBe('Hé');
    expect(whole[4]).toBe('[DONE]');
  });

  it('gives the same events when the stream is cut at every position', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      expect(parseInPieces(STREAM, [cut])).toEqual(whole);
    }
  });

  it('gives the same events one character at a time', () => {
    const cuts = Array.from({ length: STREAM.length }, (_, i) => i);
    expect(parseInPieces(STREAM, cuts)).toEqual(whole);
  });

  it('handles CRLF line ends, also when a chunk ends between CR and LF', () => {
    const crlf = STREAM.replaceAll('\n', '\r\n');
    for (let cut = 0; cut <= crlf.length; cut += 7) {
      expect(parseInPieces(crlf, [cut])).toEqual(whole);
    }
  });

  it('joins multi-line data and returns several events from one chunk', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\ndata: b\n\ndata:c\n\nevent: x\ndata: d\n')).toEqual(['a\nb', 'c']);
    expect(parser.push('\n')).toEqual(['d']);
  });

  it('flushes an event whose closing blank line never came', () => {
    const parser = new SseParser();
    expect(parser.push('data: [DONE]')).toEqual([]);
    expect(parser.finish()).toEqual(['[DONE]']);
  });
});

describe('classifyEvent', () => {
  it('recognises [DONE]', () => {
    expect(classifyEvent('[DONE]')).toEqual({ type: 'done' });
  });

  it('returns chunks', () => {
    const e = classifyEvent('{"choices":[{"delta":{"content":"x"}}]}');
    expect(e.type).toBe('chunk');
    expect(e.chunk.choices[0].delta.content).toBe('x');
  });

  it('turns a mid-stream error event into an error with the server message', () => {
    const e = classifyEvent('{"error":{"message":"engine failed","type":"InternalServerError","code":500}}');
    expect(e).toMatchObject({ type: 'error', message: 'engine failed' });
    expect(e.error.code).toBe(500);
  });

  it('reports malformed JSON as an error instead of throwing', () => {
    expect(classifyEvent('{"choices":').type).toBe('error');
  });
});
