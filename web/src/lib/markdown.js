// Markdown to safe HTML: marked for the syntax, highlight.js for code, KaTeX for math
// ($$…$$, \[…\], $…$, \(…\) as R1 writes them), DOMPurify last so that nothing the model writes
// can run script in the page.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/common';
import katex from 'katex';

function renderMath(tex, displayMode) {
  try {
    return katex.renderToString(tex, { displayMode, throwOnError: false, output: 'htmlAndMathml' });
  } catch {
    return `<code>${tex.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c])}</code>`;
  }
}

const blockMath = {
  name: 'blockMath',
  level: 'block',
  start: (src) => src.match(/\$\$|\\\[/)?.index,
  tokenizer(src) {
    const m = /^(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])(?:\n|$)/.exec(src);
    if (m) return { type: 'blockMath', raw: m[0], text: (m[1] ?? m[2]).trim() };
    return undefined;
  },
  renderer: (token) => `<div class="math-block">${renderMath(token.text, true)}</div>`,
};

const inlineMath = {
  name: 'inlineMath',
  level: 'inline',
  start: (src) => src.match(/\$|\\\(/)?.index,
  tokenizer(src) {
    const m = /^(?:\$\$([^$]+?)\$\$|\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)|\\\(([\s\S]+?)\\\))/.exec(src);
    if (m) {
      const display = m[1] !== undefined;
      return { type: 'inlineMath', raw: m[0], text: m[1] ?? m[2] ?? m[3], display };
    }
    return undefined;
  },
  renderer: (token) => renderMath(token.text, token.display),
};

const marked = new Marked({
  gfm: true,
  breaks: false,
  extensions: [blockMath, inlineMath],
  renderer: {
    code({ text, lang }) {
      const language = (lang || '').split(/\s/)[0];
      const html = language && hljs.getLanguage(language)
        ? hljs.highlight(text, { language, ignoreIllegals: true }).value
        : hljs.highlightAuto(text).value;
      const label = language || 'code';
      return `<div class="code-block"><div class="code-head"><span>${label}</span>` +
        `<button class="copy-code" type="button">Copy</button></div>` +
        `<pre><code class="hljs">${html}</code></pre></div>`;
    },
  },
});

export function renderMarkdown(text) {
  const html = marked.parse(text || '');
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true, mathMl: true, svg: true } });
}
