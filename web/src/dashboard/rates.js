// Pure helpers for the dashboard: rates from counter deltas between two polls, and a fallback
// that builds the same stats shape from Prometheus /metrics when /v1/stats is not served.

// prev and cur are stats objects (docs/dashboard-api.md) with a `time` in seconds.
export function computeRates(prev, cur) {
  const out = { prompt_tps: null, generation_tps: null, prefix_hit_rate: null };
  if (!prev || !cur) return out;
  const dt = cur.time - prev.time;
  if (!(dt > 0)) return out;
  const d = (key) => {
    const a = prev.counters?.[key];
    const b = cur.counters?.[key];
    if (typeof a !== 'number' || typeof b !== 'number') return null;
    return b >= a ? b - a : b; // a restarted server starts its counters again from zero
  };
  const prompt = d('prompt_tokens_total');
  const gen = d('generation_tokens_total');
  if (prompt !== null) out.prompt_tps = prompt / dt;
  if (gen !== null) out.generation_tps = gen / dt;
  const queries = d('prefix_cache_queries_total');
  const hits = d('prefix_cache_hits_total');
  if (queries && hits !== null) out.prefix_hit_rate = hits / queries;
  return out;
}

// Prometheus text format -> Map(name -> [{labels, value}]).
export function parsePrometheus(text) {
  const series = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([\w]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    }
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    if (!series.has(m[1])) series.set(m[1], []);
    series.get(m[1]).push({ labels, value });
  }
  return series;
}

const sum = (series, name) => {
  const s = series.get(name);
  return s ? s.reduce((a, x) => a + x.value, 0) : null;
};

// Quantile q of a histogram from its cumulative buckets, interpolating inside the bucket as
// Prometheus' histogram_quantile does. Returns null with no observations.
export function histogramQuantile(series, name, q) {
  const buckets = (series.get(`${name}_bucket`) || [])
    .map((b) => ({ le: b.labels.le === '+Inf' ? Infinity : Number(b.labels.le), count: b.value }))
    .sort((a, b) => a.le - b.le);
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1].count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

function percentilesMs(series, name) {
  const p = (q) => {
    const v = histogramQuantile(series, name, q);
    return v === null ? null : v * 1000;
  };
  return { p50: p(0.5), p90: p(0.9), p99: p(0.99) };
}

// The stats shape from /metrics alone: counters, gauges, lifetime latency percentiles.
export function statsFromMetrics(text, time) {
  const s = parsePrometheus(text);
  const model = s.get('vllm:num_requests_running')?.[0]?.labels.model_name ?? null;
  const cacheInfo = s.get('vllm:cache_config_info')?.[0]?.labels;
  return {
    object: 'kiln.stats', source: 'metrics', time, model, served_model_name: model,
    config: cacheInfo ? { ...cacheInfo } : {}, memory_plan: {}, device: {},
    counters: {
      prompt_tokens_total: sum(s, 'vllm:prompt_tokens_total'),
      generation_tokens_total: sum(s, 'vllm:generation_tokens_total'),
      prefix_cache_queries_total: sum(s, 'vllm:prefix_cache_queries_total'),
      prefix_cache_hits_total: sum(s, 'vllm:prefix_cache_hits_total'),
      num_preemptions_total: sum(s, 'vllm:num_preemptions_total'),
      requests_finished_total: sum(s, 'vllm:request_success_total'),
    },
    gauges: {
      num_requests_running: sum(s, 'vllm:num_requests_running'),
      num_requests_waiting: sum(s, 'vllm:num_requests_waiting'),
      kv_cache_usage: sum(s, 'vllm:kv_cache_usage_perc') ?? sum(s, 'vllm:gpu_cache_usage_perc'),
    },
    latency: {
      ttft_ms: percentilesMs(s, 'vllm:time_to_first_token_seconds'),
      itl_ms: percentilesMs(s, 'vllm:inter_token_latency_seconds'),
      e2e_ms: percentilesMs(s, 'vllm:e2e_request_latency_seconds'),
    },
    recent_requests: [],
  };
}

export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return String(n ?? '–');
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 2 : 0)} ${units[i]}`;
}
