import { DEFAULT_SETTINGS } from '../lib/store.js';

// Per-chat system prompt and sampling settings (DeepSeek-R1's recommended defaults).
export function Settings({ chat, onChange, onClose }) {
  const set = (key, value) => onChange({ ...chat, settings: { ...chat.settings, [key]: value } });
  const num = (key, parse) => (e) => {
    const v = parse(e.currentTarget.value);
    if (Number.isFinite(v)) set(key, v);
  };
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
          <input type="number" min="1" step="1" value={chat.settings.max_tokens}
            onChange={num('max_tokens', (v) => parseInt(v, 10))} /></label>
      </div>
      <div class="settings-row">
        <button type="button" onClick={() => onChange({ ...chat, system: '', settings: { ...DEFAULT_SETTINGS } })}>
          Reset to defaults</button>
        <button type="button" class="primary" onClick={onClose}>Done</button>
      </div>
    </div>
  );
}
