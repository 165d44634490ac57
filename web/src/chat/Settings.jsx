import { DEFAULT_SETTINGS } from '../lib/store.js';

// Per-chat system prompt and sampling settings (DeepSeek-R1's recommended defaults). Max tokens
// is empty unless the user sets it: the reply may then use the rest of the model's context
// (`maxModelLen`, /v1/models' max_model_len), prompt included.
export function Settings({ chat, maxModelLen, onChange, onClose }) {
  const set = (key, value) => onChange({ ...chat, settings: { ...chat.settings, [key]: value } });
  const num = (key, parse) => (e) => {
    const v = parse(e.currentTarget.value);
    if (Number.isFinite(v)) set(key, v);
  };
  const maxTokens = (e) => {
    const text = e.currentTarget.value.trim();
    const v = parseInt(text, 10);
    if (text === '') set('max_tokens', null);
    else if (Number.isFinite(v) && v >= 1) set('max_tokens', v);
  };
  const context = maxModelLen ? maxModelLen.toLocaleString('en-US') : null;
  return (
    <div class="settings" data-testid="settings">
      <label>System prompt
        <textarea rows="3" placeholder="None (DeepSeek-R1 recommends no system prompt)"
          value={chat.system} onInput={(e) => onChange({ ...chat, system: e.currentTarget.value })} />
      </label>
      <div class="settings-row">
        <label>Temperature
          <input type="number" min="0" max="2" step="0.05" value={chat.settings.temperature}
            onChange={num('temperature', parseFloat)} /></label>
        <label>Top p
          <input type="number" min="0" max="1" step="0.01" value={chat.settings.top_p}
            onChange={num('top_p', parseFloat)} /></label>
        <label>Max tokens
          <input type="number" min="1" step="1" max={maxModelLen || undefined} data-testid="max-tokens"
            placeholder={context ? `auto (up to ${context})` : 'auto'}
            value={chat.settings.max_tokens ?? ''} onChange={maxTokens} /></label>
      </div>
      <div class="settings-note" data-testid="context-limit">
        {context
          ? `Context: ${context} tokens (max_model_len), shared by the conversation and the reply. Leave Max tokens empty to let the reply use the rest.`
          : 'Leave Max tokens empty to let the reply use the rest of the context.'}
      </div>
      <div class="settings-row">
        <button type="button" onClick={() => onChange({ ...chat, system: '', settings: { ...DEFAULT_SETTINGS } })}>
          Reset to defaults</button>
        <button type="button" class="primary" onClick={onClose}>Done</button>
      </div>
    </div>
  );
}
