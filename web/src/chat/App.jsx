import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { AuthError, fetchModels, loadApiKey, saveApiKey, streamChat } from '../lib/api.js';
import { isReasoningModel, ReplyTracker } from '../lib/reasoning.js';
import { createChat, deleteChat, listChats, loadChat, samplingFields, saveChat, searchChats, titleFrom } from '../lib/store.js';
import { applyTheme, loadTheme } from '../lib/theme.js';
import { Message } from './Message.jsx';
import { Settings } from './Settings.jsx';
import { Sidebar } from './Sidebar.jsx';

// What goes to the server: the system prompt, then each turn's answer without its reasoning
// (DeepSeek's advice: earlier thinking is not fed back).
function requestMessages(chat) {
  const messages = chat.system.trim() ? [{ role: 'system', content: chat.system }] : [];
  for (const m of chat.messages) messages.push({ role: m.role, content: m.content || '' });
  return messages;
}

function initialChat() {
  const first = listChats()[0];
  return (first && loadChat(first.id)) || createChat();
}

export function App() {
  const [chat, setChat] = useState(initialChat);
  const [chats, setChats] = useState(() => listChats());
  const [query, setQuery] = useState('');
  const [live, setLive] = useState(null); // the streaming reply's view
  const [model, setModel] = useState('');
  const [maxModelLen, setMaxModelLen] = useState(null); // the model's context, from /v1/models
  const [apiKey, setApiKey] = useState(loadApiKey);
  const [askKey, setAskKey] = useState(null); // null or the message shown in the key dialog
  const [keyDraft, setKeyDraft] = useState('');
  const [theme, setTheme] = useState(loadTheme);
  const [showSettings, setShowSettings] = useState(false);
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [input, setInput] = useState('');
  const [notice, setNotice] = useState('');
  const abortRef = useRef(null);
  const retryRef = useRef(null);
  const bottomRef = useRef(null);

  const refreshList = useCallback((q = query) => setChats(searchChats(q)), [query]);

  const persist = useCallback((next) => {
    setChat(next);
    if (next.messages.length || next.system) {
      saveChat(next);
      setChats(searchChats(query));
    }
  }, [query]);

  useEffect(() => applyTheme(theme), [theme]);

  useEffect(() => {
    fetchModels(apiKey)
      .then((models) => {
        setModel(models[0]?.id || '');
        setMaxModelLen(models[0]?.maxModelLen ?? null);
      })
      .catch((e) => {
        if (e instanceof AuthError) setAskKey(apiKey ? 'The API key was rejected.' : 'This server requires an API key.');
        else setNotice(`Cannot reach the server: ${e.message}`);
      });
  }, [apiKey]);

  useEffect(() => bottomRef.current?.scrollIntoView({ block: 'end' }), [live, chat.messages.length]);

  const stop = useCallback(() => abortRef.current?.abort(), []);

  // Streams a reply to `base` (whose last message is the user's) and stores it.
  const generate = useCallback(async (base) => {
    const controller = new AbortController();
    abortRef.current = controller;
    const tracker = new ReplyTracker(undefined, { expectThinking: isReasoningModel(model) });
    let usage = null;
    let frame = 0;
    const draw = () => {
      frame = 0;
      setLive(tracker.view());
    };
    setLive(tracker.view());
    persist(base);
    let error = null;
    try {
      await streamChat({
        apiKey,
        signal: controller.signal,
        body: { model: model || undefined, messages: requestMessages(base), ...samplingFields(base.settings) },
        onChunk(chunk) {
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices?.[0];
          if (choice) {
            tracker.pushDelta(choice.delta);
            if (choice.finish_reason) tracker.finishReason = choice.finish_reason;
          }
          frame ||= requestAnimationFrame(draw);
        },
      });
    } catch (e) {
      if (e instanceof AuthError) {
        cancelAnimationFrame(frame);
        setLive(null);
        abortRef.current = null;
        retryRef.current = base;
        setAskKey(apiKey ? 'The API key was rejected.' : 'This server requires an API key.');
        return;
      }
      if (e.name !== 'AbortError') error = e.message;
    }
    cancelAnimationFrame(frame);
    const stopped = controller.signal.aborted;
    tracker.finish(stopped ? 'stopped' : tracker.finishReason);
    const view = tracker.view();
    const end = performance.now();
    const genSeconds = tracker.firstTokenAt === null ? null : (end - tracker.firstTokenAt) / 1000;
    const stats = {
      prompt_tokens: usage?.prompt_tokens ?? null,
      completion_tokens: usage?.completion_tokens ?? null,
      tokens_per_s: usage && genSeconds > 0 ? usage.completion_tokens / genSeconds : null,
      ttft_ms: tracker.firstTokenAt === null ? null : tracker.firstTokenAt - tracker.startedAt,
      finish_reason: stopped ? 'stopped' : tracker.finishReason,
    };
    const reply = { role: 'assistant', content: view.content, reasoning: view.reasoning,
      thinkMs: view.thinkMs, stats, error };
    abortRef.current = null;
    setLive(null);
    persist({ ...base, updated: Date.now(), messages: [...base.messages, reply] });
  }, [apiKey, model, persist]);

  const streaming = live !== null;

  const send = useCallback(() => {
    const text = input.trim();
    if (!text || streaming) return;
    setInput('');
    const title = chat.messages.length ? chat.title : titleFrom(text);
    generate({ ...chat, title, updated: Date.now(), messages: [...chat.messages, { role: 'user', content: text }] });
  }, [input, streaming, chat, generate]);

  const regenerate = () => {
    if (streaming) return;
    const messages = [...chat.messages];
    while (messages.length && messages[messages.length - 1].role === 'assistant') messages.pop();
    if (messages.length) generate({ ...chat, messages });
  };

  const editAt = (index, text) => {
    if (streaming || !text.trim()) return;
    const messages = chat.messages.slice(0, index);
    messages.push({ role: 'user', content: text.trim() });
    generate({ ...chat, messages });
  };

  const copy = (text) => {
    navigator.clipboard?.writeText(text).then(() => setNotice('Copied'), () => setNotice('Copy failed'));
    setTimeout(() => setNotice(''), 1500);
  };

  const saveKey = () => {
    saveApiKey(keyDraft.trim());
    setApiKey(keyDraft.trim());
    setAskKey(null);
    const retry = retryRef.current;
    retryRef.current = null;
    if (retry) setTimeout(() => generate(retry), 0);
  };

  useEffect(() => {
    const onKey = (e) => {
      if (e.key === 'Escape' && abortRef.current) {
        e.preventDefault();
        stop();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [stop]);

  // Copy buttons inside rendered code blocks.
  const onMessagesClick = (e) => {
    const button = e.target.closest?.('.copy-code');
    if (button) copy(button.closest('.code-block').querySelector('code').innerText);
  };

  const lastAssistant = chat.messages.length - 1;
  return (
    <div class="app">
      <Sidebar chats={chats} currentId={chat.id} query={query}
        onQuery={(q) => { setQuery(q); refreshList(q); }}
        onNew={() => { if (!streaming) { setChat(createChat()); setSidebarOpen(false); } }}
        onSelect={(id) => { if (!streaming) setChat(loadChat(id) || createChat()); }}
        onRename={(id, name) => {
          const target = id === chat.id ? chat : loadChat(id);
          if (!target || !name.trim()) return;
          const next = { ...target, title: name.trim() };
          saveChat(next);
          if (id === chat.id) setChat(next);
          refreshList();
        }}
        onDelete={(id) => {
          if (streaming && id === chat.id) return;
          deleteChat(id);
          if (id === chat.id) setChat(initialChat());
          refreshList();
        }}
        theme={theme} onTheme={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
        open={sidebarOpen} onClose={() => setSidebarOpen(false)} />
      {sidebarOpen && <div class="sidebar-backdrop" data-testid="sidebar-backdrop"
        onClick={() => setSidebarOpen(false)} />}
      <main class="main">
        <header class="topbar">
          <button type="button" class="icon menu" onClick={() => setSidebarOpen(!sidebarOpen)}>☰</button>
          <div class="title" data-testid="chat-title">{chat.title}</div>
          <div class="model" data-testid="model">{model}</div>
          <button type="button" data-testid="settings-toggle" onClick={() => setShowSettings(!showSettings)}>Settings</button>
        </header>
        {showSettings && <Settings chat={chat} maxModelLen={maxModelLen} onChange={persist}
          onClose={() => setShowSettings(false)} />}
        <div class="messages" data-testid="messages" onClick={onMessagesClick}>
          {chat.messages.length === 0 && !streaming && (
            <div class="welcome"><h1>kiln</h1><p>Ask anything. Enter sends, Shift+Enter adds a line, Esc stops.</p></div>
          )}
          {chat.messages.map((m, i) => (
            <Message key={`${chat.id}-${i}`} message={m} last={i === lastAssistant && !streaming}
              onCopy={copy} onRegenerate={regenerate} onEdit={(text) => editAt(i, text)} />
          ))}
          {streaming && <Message message={{ role: 'assistant' }} live={live} />}
          <div ref={bottomRef} />
        </div>
        <footer class="composer">
          <textarea data-testid="input" rows="1" placeholder="Message kiln" value={input}
            onInput={(e) => setInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send();
              }
            }} />
          {streaming
            ? <button type="button" class="stop" data-testid="stop" onClick={stop}>Stop</button>
            : <button type="button" class="primary" data-testid="send" onClick={send} disabled={!input.trim()}>Send</button>}
        </footer>
        {notice && <div class="notice" data-testid="notice">{notice}</div>}
      </main>
      {askKey !== null && (
        <div class="modal-backdrop">
          <form class="modal" data-testid="api-key-dialog" onSubmit={(e) => { e.preventDefault(); saveKey(); }}>
            <h2>API key</h2>
            <p>{askKey} It is kept in this browser and sent as a Bearer token.</p>
            <input type="password" data-testid="api-key-input" placeholder="sk-…" value={keyDraft}
              autoFocus onInput={(e) => setKeyDraft(e.currentTarget.value)} />
            <div class="settings-row">
              <button type="submit" class="primary" data-testid="api-key-save">Save</button>
            </div>
          </form>
        </div>
      )}
    </div>
  );
}
