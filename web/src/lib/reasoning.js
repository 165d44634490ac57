// How a reply's text divides into reasoning ("Thinking") and answer.
//
// The server sends reasoning one of two ways:
//  - --reasoning-parser deepseek_r1: delta.reasoning_content (and the same text again as
//    delta.reasoning, vLLM's newer name: take one, never both) then delta.content;
//  - --reasoning-parser none: everything in delta.content with the reasoning inline as
//    "<think>...</think>". DeepSeek-R1's chat template already ends the prompt with "<think>\n",
//    so the model's output often starts without the opening tag and only "</think>" shows.
// splitThinking works on the whole accumulated content each time, so tags split across deltas
// are handled without a state machine (replies are a few thousand characters).

const OPEN = '<think>';
const CLOSE = '</think>';

// Length of the longest suffix of text that is a proper prefix of tag (a tag still arriving).
function partialTagSuffix(text, tag) {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}

// Returns {reasoning, content, thinking}: thinking is true while an opened think block has not
// closed yet. Text before a lone "</think>" is reasoning (R1 without the opening tag).
// assumeOpen: the model is known to start thinking without the tag (a reasoning model behind
// --reasoning-parser none), so text with no tag yet is shown as reasoning while it streams.
export function splitThinking(text, assumeOpen = false) {
  const lead = text.length - text.trimStart().length;
  const body = text.slice(lead);
  if (body.startsWith(OPEN)) {
    const rest = body.slice(OPEN.length);
    const end = rest.indexOf(CLOSE);
    if (end >= 0) {
      return { reasoning: rest.slice(0, end), content: rest.slice(end + CLOSE.length), thinking: false };
    }
    return { reasoning: rest.slice(0, rest.length - partialTagSuffix(rest, CLOSE)), content: '', thinking: true };
  }
  if (body.length < OPEN.length && OPEN.startsWith(body)) {
    return { reasoning: '', content: '', thinking: false }; // maybe "<think>" still arriving
  }
  const end = text.indexOf(CLOSE);
  if (end >= 0) {
    return { reasoning: text.slice(0, end), content: text.slice(end + CLOSE.length), thinking: false };
  }
  const shown = text.slice(0, text.length - partialTagSuffix(text, CLOSE));
  if (assumeOpen) return { reasoning: shown, content: '', thinking: shown.length > 0 };
  return { reasoning: '', content: shown, thinking: false };
}

// Served model names of models that think first (DeepSeek-R1 and its distills, QwQ, ...).
export function isReasoningModel(name) {
  return /(^|[^a-z])r1([^a-z0-9]|$)|r1-distill|qwq|reason|think/i.test(name || '');
}

// Follows one streamed reply: feed it the deltas, read view() for what to draw.
export class ReplyTracker {
  // expectThinking: see splitThinking's assumeOpen; it stops applying once reasoning_content
  // arrives (the server splits) and when the stream ends with no "</think>" (it was the answer).
  constructor(now = () => performance.now(), { expectThinking = false } = {}) {
    this.now = now;
    this.expectThinking = expectThinking;
    this.ended = false;
    this.reasoningField = ''; // from reasoning_content / reasoning deltas
    this.rawContent = ''; // delta.content as received, inline tags included
    this.startedAt = now();
    this.thinkStartAt = null;
    this.thinkEndAt = null;
    this.firstTokenAt = null;
    this.finishReason = null;
  }

  pushDelta(delta) {
    if (!delta) return;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    const t = this.now();
    if (typeof reasoning === 'string' && reasoning.length) {
      this.reasoningField += reasoning;
      this.firstTokenAt ??= t;
    }
    if (typeof delta.content === 'string' && delta.content.length) {
      this.rawContent += delta.content;
      this.firstTokenAt ??= t;
    }
    const v = this.#split();
    if (v.reasoning.length && this.thinkStartAt === null) this.thinkStartAt = this.firstTokenAt ?? t;
    // The answer has started once non-blank content shows: the thinking block collapses then.
    if (this.thinkStartAt !== null && this.thinkEndAt === null && v.content.trim().length) {
      this.thinkEndAt = t;
    }
  }

  // Stream ended (finished, stopped or failed): a think block still open ends here.
  finish(reason = null) {
    this.finishReason = reason;
    this.ended = true;
    if (this.thinkStartAt !== null && this.thinkEndAt === null) this.thinkEndAt = this.now();
  }

  #split() {
    const assumeOpen = this.expectThinking && !this.ended && this.reasoningField === '';
    const inline = splitThinking(this.rawContent, assumeOpen);
    const reasoning = this.reasoningField + inline.reasoning;
    return { reasoning, content: inline.content, inlineOpen: inline.thinking };
  }

  view() {
    const { reasoning, content } = this.#split();
    const thinking = reasoning.length > 0 && this.thinkEndAt === null;
    const thinkMs =
      this.thinkStartAt === null ? null : (this.thinkEndAt ?? this.now()) - this.thinkStartAt;
    return { reasoning, content, thinking, thinkMs, collapsed: !thinking };
  }
}

// "Thought for 3.2 seconds" style label.
export function thinkLabel(thinking, thinkMs) {
  if (thinking) return `Thinking… ${((thinkMs ?? 0) / 1000).toFixed(1)} s`;
  if (thinkMs === null || thinkMs === undefined) return 'Thoughts';
  const s = thinkMs / 1000;
  return `Thought for ${s < 10 ? s.toFixed(1) : Math.round(s)} seconds`;
}
