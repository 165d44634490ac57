// The browser side of kiln's OpenAI-compatible API: the model list and streaming chat.
import { SseParser, classifyEvent } from './sse.js';

const KEY_STORAGE = 'kiln.apiKey';

export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AuthError';
  }
}

export function loadApiKey() {
  return localStorage.getItem(KEY_STORAGE) || '';
}

export function saveApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(apiKey, json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  if (apiKey) h.Authorization = `Bearer ${apiKey}`;
  return h;
}

// Turns a non-2xx response into an Error carrying the server's OpenAI-style message.
async function responseError(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body?.error?.message) message = body.error.message;
    else if (typeof body?.message === 'string') message = body.message;
  } catch {
    // A body that is not JSON: keep the status line.
  }
  if (response.status === 401) return new AuthError(message);
  const error = new Error(message);
  error.status = response.status;
  return error;
}

export async function fetchModels(apiKey, fetchImpl = fetch) {
  const response = await fetchImpl('/v1/models', { headers: headers(apiKey, false) });
  if (!response.ok) throw await responseError(response);
  const body = await response.json();
  return (body.data || []).map((m) => ({ id: m.id, maxModelLen: m.max_model_len ?? null }));
}

// Streams one chat completion. onChunk gets each parsed chunk object; resolves when the
// stream ends with [DONE] (or the connection closes), rejects with the server's error.
// Aborting `signal` closes the connection, which makes kiln abort the request and free it.
export async function streamChat({ apiKey, body, signal, onChunk, fetchImpl = fetch }) {
  const response = await fetchImpl('/v1/chat/completions', {
    method: 'POST',
    headers: headers(apiKey, true),
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!response.ok) throw await responseError(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const handle = (payloads) => {
    for (const data of payloads) {
      const event = classifyEvent(data);
      if (event.type === 'done') return true;
      if (event.type === 'error') throw new Error(event.message);
      onChunk(event.chunk);
    }
    return false;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      handle(parser.push(decoder.decode()).concat(parser.finish()));
      return;
    }
    if (handle(parser.push(decoder.decode(value, { stream: true })))) {
      await reader.cancel().catch(() => {});
      return;
    }
  }
}
