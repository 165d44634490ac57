import { useEffect, useRef, useState } from 'preact/hooks';
import { loadApiKey, saveApiKey } from '../lib/api.js';
import { applyTheme, loadTheme } from '../lib/theme.js';
import { Chart } from './Chart.jsx';
import { computeRates, formatBytes, statsFromMetrics } from './rates.js';

const POLL_MS = 1000;
const WINDOW = 300; // points kept per chart (5 minutes at 1 s)

// Fetches /v1/stats; a server without it (404) is read through /metrics instead.
async function fetchStats(apiKey, state) {
  if (!state.metricsOnly) {
    const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
    const r = await fetch('/v1/stats', { headers, cache: 'no-store' });
    if (r.status === 401) {
      const e = new Error('unauthorized');
      e.status = 401;
      throw e;
    }
    if (r.ok) {
      const stats = await r.json();
      stats.time ??= Date.now() / 1000;
      return stats;
    }
    if (r.status !== 404) throw new Error(`/v1/stats: HTTP ${r.status}`);
    state.metricsOnly = true;
  }
  const r = await fetch('/metrics', { cache: 'no-store' });
  if (!r.ok) throw new Error(`/metrics: HTTP ${r.status}`);
  return statsFromMetrics(await r.text(), Date.now() / 1000);
}

function KeyValues({ title, values, testid }) {
  const entries = Object.entries(values || {});
  return (
    <section class="card" data-testid={testid}>
      <h3>{title}</h3>
      {entries.length === 0 ? <div class="muted">not reported</div> : (
        <table class="kv"><tbody>
          {entries.map(([k, v]) => (
            <tr key={k}><th>{k}</th>
              <td>{k.endsWith('_bytes') ? formatBytes(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)}</td></tr>
          ))}
        </tbody></table>
      )}
    </section>
  );
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));

function emptySeries(n) {
  return Array.from({ length: n + 1 }, () => []);
}

export function Dashboard() {
  const [stats, setStats] = useState(null);
  const [rates, setRates] = useState({});
  const [error, setError] = useState('');
  const [needKey, setNeedKey] = useState(false);
  const [keyDraft, setKeyDraft] = useState('');
  const [apiKey, setApiKey] = useState(loadApiKey);
  const [theme, setTheme] = useState(loadTheme);
  const [series, setSeries] = useState(() => ({
    tps: emptySeries(2), reqs: emptySeries(2), cache: emptySeries(2), lat: emptySeries(4),
  }));
  const prev = useRef(null);
  const state = useRef({ metricsOnly: false });

  useEffect(() => applyTheme(theme), [theme]);

  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const tick = async () => {
      try {
        const cur = await fetchStats(apiKey, state.current);
        if (stopped) return;
        const r = computeRates(prev.current, cur);
        prev.current = cur;
        setStats(cur);
        setRates(r);
        setError('');
        const g = cur.gauges || {};
        const l = cur.latency || {};
        const push = (old, values) => old.map((arr, i) => [...arr, i === 0 ? cur.time : values[i - 1]].slice(-WINDOW));
        setSeries((s) => ({
          tps: push(s.tps, [r.prompt_tps, r.generation_tps]),
          reqs: push(s.reqs, [g.num_requests_running ?? null, g.num_requests_waiting ?? null]),
          cache: push(s.cache, [g.kv_cache_usage == null ? null : g.kv_cache_usage * 100,
            r.prefix_hit_rate == null ? null : r.prefix_hit_rate * 100]),
          lat: push(s.lat, [l.ttft_ms?.p50 ?? null, l.ttft_ms?.p99 ?? null, l.itl_ms?.p50 ?? null, l.itl_ms?.p99 ?? null]),
        }));
      } catch (e) {
        if (stopped) return;
        if (e.status === 401) setNeedKey(true);
        else setError(e.message);
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [apiKey]);

  const g = stats?.gauges || {};
  const lat = stats?.latency || {};
  return (
    <div class="dash">
      <header class="dash-top">
        <h1>kiln dashboard</h1>
        <div class="dash-model" data-testid="dash-model">
          {stats ? <>{stats.served_model_name}{stats.model && stats.model !== stats.served_model_name &&
            <span class="muted"> ({stats.model})</span>}</> : 'connecting…'}
        </div>
        {stats?.source === 'metrics' && <span class="badge" title="/v1/stats is not served; reading /metrics">metrics only</span>}
        <a href="/">Chat</a>
        <button type="button" onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>
          {theme === 'dark' ? '☀' : '☾'}</button>
      </header>
      {error && <div class="dash-error" data-testid="dash-error">{error}</div>}
      <div class="tiles" data-testid="tiles">
        <div class="tile"><span>Generation</span><b data-testid="gen-tps">{fmt(rates.generation_tps)}</b><small>tok/s</small></div>
        <div class="tile"><span>Prompt</span><b>{fmt(rates.prompt_tps)}</b><small>tok/s</small></div>
        <div class="tile"><span>Running</span><b data-testid="running">{g.num_requests_running ?? '–'}</b><small>requests</small></div>
        <div class="tile"><span>Waiting</span><b>{g.num_requests_waiting ?? '–'}</b><small>requests</small></div>
        <div class="tile"><span>KV cache</span><b>{g.kv_cache_usage == null ? '–' : fmt(g.kv_cache_usage * 100)}</b><small>% used</small></div>
        <div class="tile"><span>TTFT p50</span><b>{fmt(lat.ttft_ms?.p50, 0)}</b><small>ms</small></div>
      </div>
      <div class="charts">
        <Chart testid="chart-tps" title="Tokens per second" data={series.tps} kind="rate"
          series={[{ label: 'prompt', color: '#4e9af1' }, { label: 'generation', color: '#e07a3f' }]} />
        <Chart testid="chart-requests" title="Requests" data={series.reqs} kind="count"
          series={[{ label: 'running', color: '#3fb950' }, { label: 'waiting', color: '#d29922' }]} />
        <Chart testid="chart-cache" title="KV cache usage / prefix cache hit rate (%)" data={series.cache}
          kind="percent" unit="%"
          series={[{ label: 'KV cache used', color: '#a371f7' }, { label: 'prefix hits', color: '#39c5cf' }]} />
        <Chart testid="chart-latency" title="Latency (ms)" data={series.lat} kind="latency"
          series={[{ label: 'TTFT p50', color: '#4e9af1' }, { label: 'TTFT p99', color: '#1f6feb' },
            { label: 'ITL p50', color: '#e07a3f' }, { label: 'ITL p99', color: '#f85149' }]} />
      </div>
      <div class="panels">
        <KeyValues testid="config" title="Configuration" values={stats?.config} />
        <KeyValues testid="memory" title="Memory plan" values={stats?.memory_plan} />
        <KeyValues testid="device" title="Device" values={stats?.device} />
        <section class="card">
          <h3>Latency percentiles (ms)</h3>
          <table class="kv"><thead><tr><th /><th>p50</th><th>p90</th><th>p99</th></tr></thead><tbody>
            {['ttft_ms', 'itl_ms', 'e2e_ms'].map((k) => (
              <tr key={k}><th>{k.replace('_ms', '').toUpperCase()}</th>
                <td>{fmt(lat[k]?.p50)}</td><td>{fmt(lat[k]?.p90)}</td><td>{fmt(lat[k]?.p99)}</td></tr>
            ))}
          </tbody></table>
        </section>
      </div>
      <section class="card">
        <h3>Recent requests</h3>
        <div class="table-wrap">
          <table class="requests" data-testid="recent-requests">
            <thead><tr><th>id</th><th>prompt</th><th>completion</th><th>cached</th><th>TTFT ms</th>
              <th>total ms</th><th>tok/s</th><th>finish</th><th>finished</th></tr></thead>
            <tbody>
              {(stats?.recent_requests || []).map((q) => (
                <tr key={q.id}><td class="mono">{q.id}</td><td>{q.prompt_tokens}</td><td>{q.completion_tokens}</td>
                  <td>{q.cached_tokens ?? '–'}</td><td>{fmt(q.ttft_ms, 0)}</td><td>{fmt(q.e2e_ms, 0)}</td>
                  <td>{q.e2e_ms > q.ttft_ms && q.completion_tokens > 1
                    ? fmt(((q.completion_tokens - 1) * 1000) / (q.e2e_ms - q.ttft_ms)) : '–'}</td>
                  <td>{q.finish_reason}</td>
                  <td>{q.finished_at ? new Date(q.finished_at * 1000).toLocaleTimeString() : '–'}</td></tr>
              ))}
            </tbody>
          </table>
          {stats && !(stats.recent_requests || []).length && <div class="muted">no finished requests yet</div>}
        </div>
      </section>
      {needKey && (
        <div class="modal-backdrop">
          <form class="modal" data-testid="api-key-dialog" onSubmit={(e) => {
            e.preventDefault();
            saveApiKey(keyDraft.trim());
            setNeedKey(false);
            setApiKey(keyDraft.trim());
          }}>
            <h2>API key</h2>
            <p>The server requires an API key for /v1/stats.</p>
            <input type="password" data-testid="api-key-input" value={keyDraft} autoFocus
              onInput={(e) => setKeyDraft(e.currentTarget.value)} />
            <button type="submit" class="primary">Save</button>
          </form>
        </div>
      )}
    </div>
  );
}
