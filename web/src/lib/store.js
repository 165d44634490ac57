// Conversations kept in the browser's localStorage, one JSON document per chat plus an index,
// so that saving the chat being streamed does not rewrite every other chat.

// max_tokens null: none is sent, and the server lets the reply use the rest of the context (as
// vLLM does), so a server started with a short --max-model-len answers too.
export const DEFAULT_SETTINGS = Object.freeze({ temperature: 0.6, top_p: 0.95, max_tokens: null });
// Chats saved before version 2 hold max_tokens 4096, the old default, which a server with a
// shorter context refuses: they are read as "not set".
const SETTINGS_VERSION = 2;
const LEGACY_DEFAULT_MAX_TOKENS = 4096;
const INDEX_KEY = 'kiln.chats';
const chatKey = (id) => `kiln.chat.${id}`;

function newId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export function createChat() {
  const now = Date.now();
  return { id: newId(), title: 'New chat', created: now, updated: now, system: '',
    settings: { ...DEFAULT_SETTINGS }, settingsVersion: SETTINGS_VERSION, messages: [] };
}

export function listChats(storage = localStorage) {
  try {
    const index = JSON.parse(storage.getItem(INDEX_KEY) || '[]');
    return Array.isArray(index) ? index.sort((a, b) => b.updated - a.updated) : [];
  } catch {
    return [];
  }
}

export function loadChat(id, storage = localStorage) {
  try {
    const chat = JSON.parse(storage.getItem(chatKey(id)) || 'null');
    if (!chat) return null;
    chat.settings = { ...DEFAULT_SETTINGS, ...(chat.settings || {}) };
    if (chat.settingsVersion !== SETTINGS_VERSION) {
      if (chat.settings.max_tokens === LEGACY_DEFAULT_MAX_TOKENS) chat.settings.max_tokens = null;
      chat.settingsVersion = SETTINGS_VERSION;
    }
    chat.messages ||= [];
    return chat;
  } catch {
    return null;
  }
}

export function saveChat(chat, storage = localStorage) {
  storage.setItem(chatKey(chat.id), JSON.stringify(chat));
  const index = listChats(storage).filter((c) => c.id !== chat.id);
  index.push({ id: chat.id, title: chat.title, updated: chat.updated,
    preview: chat.messages.find((m) => m.role === 'user')?.content.slice(0, 120) || '' });
  storage.setItem(INDEX_KEY, JSON.stringify(index));
}

export function deleteChat(id, storage = localStorage) {
  storage.removeItem(chatKey(id));
  storage.setItem(INDEX_KEY, JSON.stringify(listChats(storage).filter((c) => c.id !== id)));
}

// The sampling fields of a request from a chat's settings: those the user left unset are not
// sent, so the server's defaults apply (generation_config.json; the rest of the context for
// max_tokens).
export function samplingFields(settings) {
  const fields = {};
  for (const key of ['temperature', 'top_p', 'max_tokens']) {
    const value = settings?.[key];
    if (typeof value === 'number' && Number.isFinite(value)) fields[key] = value;
  }
  return fields;
}

// Search over titles and message text.
export function searchChats(query, storage = localStorage) {
  const chats = listChats(storage);
  const q = query.trim().toLowerCase();
  if (!q) return chats;
  return chats.filter((entry) => {
    if (entry.title.toLowerCase().includes(q)) return true;
    const chat = loadChat(entry.id, storage);
    return chat?.messages.some((m) => (m.content || '').toLowerCase().includes(q));
  });
}

// A title from the first user message.
export function titleFrom(text) {
  const line = text.trim().split('\n')[0];
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || 'New chat';
}
