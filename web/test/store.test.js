import { describe, expect, it } from 'vitest';
import { createChat, DEFAULT_SETTINGS, loadChat, samplingFields, saveChat } from '../src/lib/store.js';

function memoryStorage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
  };
}

describe('samplingFields', () => {
  it('sends no max_tokens unless the user set one', () => {
    expect(DEFAULT_SETTINGS.max_tokens).toBeNull();
    expect(samplingFields(DEFAULT_SETTINGS)).toEqual({ temperature: 0.6, top_p: 0.95 });
    expect(samplingFields({ ...DEFAULT_SETTINGS, max_tokens: 64 })).toEqual({ temperature: 0.6, top_p: 0.95, max_tokens: 64 });
    expect(samplingFields({ temperature: Number.NaN, top_p: '0.5', max_tokens: undefined })).toEqual({});
  });
});

describe('stored chats', () => {
  it('read the old default max_tokens 4096 of chats saved before as unset, keep what was set since', () => {
    const storage = memoryStorage();
    const legacy = { id: 'old', title: 't', created: 1, updated: 1, system: '', messages: [],
      settings: { temperature: 0.6, top_p: 0.95, max_tokens: 4096 } };
    storage.setItem('kiln.chat.old', JSON.stringify(legacy));
    expect(loadChat('old', storage).settings.max_tokens).toBeNull();

    const chat = createChat();
    chat.settings.max_tokens = 4096;  // chosen by the user now: kept
    saveChat(chat, storage);
    expect(loadChat(chat.id, storage).settings.max_tokens).toBe(4096);
  });
});
