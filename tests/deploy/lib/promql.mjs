// Reads metric names and label matchers out of PromQL expressions and Prometheus text exposition.

const keywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
  "and", "or", "unless", "inf", "nan"]);

// [{ metric, labels: [label names used in its matcher] }] for every series selector in `expr`.
export function promqlSelectors(expr) {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');  // string literals
  s = s.replace(/\[[^\]]*\]/g, " ");                                    // range and subquery windows
  // Labels an aggregation groups by must be on the series it aggregates.
  const grouping = [...s.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)]
    .flatMap((m) => m[1].split(",").map((x) => x.trim()).filter(Boolean));
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const selectors = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?/g;
  let m;
  while ((m = re.exec(s))) {
    const [, name, matcher, call] = m;
    if (call || keywords.has(name.toLowerCase())) continue;  // a function or an operator keyword
    if (/^[0-9]/.test(name)) continue;
    const labels = matcher ? [...matcher.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((x) => x[1]) : [];
    selectors.push({ metric: name, labels: [...new Set([...labels, ...grouping])] });
  }
  return selectors;
}

// { samples: Map<sample name, Set<label name>>, families: Map<name, type> } of an exposition text.
export function parseExposition(text) {
  const samples = new Map();
  const families = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith("#")) {
      const t = line.match(/^#\s*TYPE\s+(\S+)\s+(\S+)/);
      if (t) families.set(t[1], t[2]);
      continue;
    }
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+/);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = samples.get(m[1]) ?? new Set();
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/g)) labels.add(l[1]);
    samples.set(m[1], labels);
  }
  return { samples, families };
}
