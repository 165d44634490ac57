// Incremental parser for Server-Sent Events as the OpenAI-compatible server sends them.
// Network chunks split the stream anywhere (inside a line, inside "\r\n", inside a UTF-8
// sequence when fed bytes through TextDecoder with stream: true), so the parser keeps the
// unfinished line between calls and dispatches an event only at a blank line.
export class SseParser {
  constructor() {
    this.buffer = '';
    this.dataLines = [];
    this.pendingCr = false;
  }

  // Feeds decoded text; returns the data payloads of the events completed by it.
  push(text) {
    const events = [];
    let start = 0;
    let i = 0;
    // A "\r" at the end of the previous chunk may be half of "\r\n".
    if (this.pendingCr && text.startsWith('\n')) {
      start = i = 1;
    }
    this.pendingCr = false;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      this.buffer += text.slice(start, i);
      this.#line(this.buffer, events);
      this.buffer = '';
      if (c === '\r') {
        if (i + 1 === text.length) this.pendingCr = true;
        else if (text[i + 1] === '\n') i++;
      }
      start = i + 1;
    }
    this.buffer += text.slice(start);
    return events;
  }

  // Ends the stream: an event without its closing blank line still counts.
  finish() {
    const events = [];
    if (this.buffer) this.#line(this.buffer, events);
    this.buffer = '';
    this.#line('', events);
    return events;
  }

  #line(line, events) {
    if (line === '') {
      if (this.dataLines.length) events.push(this.dataLines.join('\n'));
      this.dataLines = [];
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
  }
}

// Classifies one event payload of /v1/chat/completions.
//   {type: 'done'}                      for "[DONE]"
//   {type: 'error', message, error}     for {"error": {...}} or unparsable JSON
//   {type: 'chunk', chunk}              otherwise
export function classifyEvent(data) {
  if (data.trim() === '[DONE]') return { type: 'done' };
  let json;
  try {
    json = JSON.parse(data);
  } catch {
    return { type: 'error', message: `malformed stream event: ${data.slice(0, 200)}`, error: null };
  }
  if (json && json.error) {
    const error = typeof json.error === 'string' ? { message: json.error } : json.error;
    return { type: 'error', message: error.message || 'server error', error };
  }
  return { type: 'chunk', chunk: json };
}
