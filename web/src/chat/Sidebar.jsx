import { useState } from 'preact/hooks';

export function Sidebar({ chats, currentId, query, onQuery, onNew, onSelect, onRename, onDelete,
  theme, onTheme, open, onClose }) {
  const [renaming, setRenaming] = useState(null);
  const [name, setName] = useState('');
  return (
    <aside class={`sidebar ${open ? 'open' : ''}`}>
      <div class="sidebar-top">
        <button type="button" class="new-chat" data-testid="new-chat" onClick={onNew}>+ New chat</button>
        <input class="search" type="search" placeholder="Search chats" value={query}
          data-testid="search" onInput={(e) => onQuery(e.currentTarget.value)} />
      </div>
      <nav class="chat-list" data-testid="chat-list">
        {chats.map((c) => (
          <div key={c.id} class={`chat-item ${c.id === currentId ? 'current' : ''}`}>
            {renaming === c.id ? (
              <input class="rename" value={name} autoFocus data-testid="rename-input"
                onInput={(e) => setName(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') { onRename(c.id, name); setRenaming(null); }
                  if (e.key === 'Escape') setRenaming(null);
                }}
                onBlur={() => { onRename(c.id, name); setRenaming(null); }} />
            ) : (
              <button type="button" class="chat-title" title={c.preview}
                onClick={() => { onSelect(c.id); onClose(); }}>{c.title}</button>
            )}
            <button type="button" class="icon" title="Rename" data-testid="rename"
              onClick={() => { setName(c.title); setRenaming(c.id); }}>✎</button>
            <button type="button" class="icon" title="Delete" data-testid="delete"
              onClick={() => onDelete(c.id)}>✕</button>
          </div>
        ))}
        {chats.length === 0 && <div class="empty-list">No chats yet</div>}
      </nav>
      <div class="sidebar-bottom">
        <button type="button" onClick={onTheme} data-testid="theme">
          {theme === 'dark' ? '☀ Light theme' : '☾ Dark theme'}</button>
        <a href="/dashboard">Dashboard →</a>
      </div>
    </aside>
  );
}
