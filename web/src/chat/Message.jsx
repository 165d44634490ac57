import { useEffect, useRef, useState } from 'preact/hooks';
import { renderMarkdown } from '../lib/markdown.js';
import { thinkLabel } from '../lib/reasoning.js';

function Markdown({ text, className }) {
  const ref = useRef(null);
  useEffect(() => {
    if (ref.current) ref.current.innerHTML = renderMarkdown(text);
  }, [text]);
  return <div class={`markdown ${className || ''}`} ref={ref} />;
}

function ThinkingBlock({ reasoning, thinking, thinkMs }) {
  // Open while thinking, closed once the answer starts; the user may toggle it either way.
  const [userOpen, setUserOpen] = useState(null);
  const open = userOpen ?? thinking;
  return (
    <div class={`thinking ${thinking ? 'live' : 'done'}`} data-testid="thinking">
      <button class="thinking-head" type="button" aria-expanded={open}
        onClick={() => setUserOpen(!open)}>
        <span class="chevron">{open ? '▾' : '▸'}</span>
        <span class="thinking-label">{thinkLabel(thinking, thinkMs)}</span>
      </button>
      {open && <Markdown className="thinking-body" text={reasoning} />}
    </div>
  );
}

export function Stats({ stats }) {
  if (!stats) return null;
  const parts = [];
  if (stats.completion_tokens != null) parts.push(`${stats.completion_tokens} tokens`);
  if (stats.tokens_per_s != null) parts.push(`${stats.tokens_per_s.toFixed(1)} tok/s`);
  if (stats.prompt_tokens != null) parts.push(`prompt ${stats.prompt_tokens}`);
  if (stats.ttft_ms != null) parts.push(`TTFT ${Math.round(stats.ttft_ms)} ms`);
  if (stats.finish_reason) parts.push(stats.finish_reason);
  return <div class="stats" data-testid="reply-stats">{parts.join(' · ')}</div>;
}

export function Message({ message, live, last, onCopy, onRegenerate, onEdit }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  if (message.role === 'user') {
    if (editing) {
      return (
        <div class="msg user editing">
          <textarea class="edit-box" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
          <div class="edit-actions">
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
            <button type="button" class="primary" data-testid="edit-send"
              onClick={() => { setEditing(false); onEdit(draft); }}>Send</button>
          </div>
        </div>
      );
    }
    return (
      <div class="msg user" data-testid="user-message">
        <div class="bubble">{message.content}</div>
        <div class="actions">
          <button type="button" title="Edit and resend" data-testid="edit"
            onClick={() => { setDraft(message.content); setEditing(true); }}>Edit</button>
          <button type="button" title="Copy" onClick={() => onCopy(message.content)}>Copy</button>
        </div>
      </div>
    );
  }
  const view = live || {
    reasoning: message.reasoning || '', content: message.content || '', thinking: false,
    thinkMs: message.thinkMs ?? null,
  };
  return (
    <div class="msg assistant" data-testid="assistant-message">
      {view.reasoning && <ThinkingBlock reasoning={view.reasoning} thinking={view.thinking}
        thinkMs={view.thinkMs} />}
      <Markdown className="answer" text={view.content} />
      {live && !view.content && !view.reasoning && <div class="typing">●●●</div>}
      {message.error && <div class="error" data-testid="reply-error">{message.error}</div>}
      {!live && (
        <div class="actions">
          <button type="button" title="Copy" onClick={() => onCopy(message.content)}>Copy</button>
          {last && <button type="button" data-testid="regenerate" onClick={onRegenerate}>Regenerate</button>}
          <Stats stats={message.stats} />
        </div>
      )}
    </div>
  );
}
