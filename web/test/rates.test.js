import { describe, expect, it } from 'vitest';
import { computeRates, formatBytes, histogramQuantile, parsePrometheus, statsFromMetrics } from '../src/dashboard/rates.js';

describe('computeRates', () => {
  const at = (time, prompt, gen, queries, hits) => ({ time, counters: {
    prompt_tokens_total: prompt, generation_tokens_total: gen,
    prefix_cache_queries_total: queries, prefix_cache_hits_total: hits } });

  it('divides counter deltas by the time between polls', () => {
    expect(computeRates(at(10, 100, 50, 40, 10), at(12, 300, 250, 80, 30)))
      .toEqual({ prompt_tps: 100, generation_tps: 100, prefix_hit_rate: 0.5 });
  });

  it('has no rate on the first poll or without elapsed time', () => {
    expect(computeRates(null, at(1, 1, 1, 1, 1)).generation_tps).toBeNull();
    expect(computeRates(at(1, 1, 1, 1, 1), at(1, 2, 2, 2, 2)).generation_tps).toBeNull();
  });

  it('has no hit rate without prefix cache queries', () => {
    expect(computeRates(at(0, 0, 0, 5, 1), at(1, 0, 0, 5, 1)).prefix_hit_rate).toBeNull();
  });

  it('survives a server restart (counters going back)', () => {
    expect(computeRates(at(0, 1000, 1000, 0, 0), at(1, 30, 20, 0, 0)).generation_tps).toBe(20);
  });
});

const METRICS = `# HELP vllm:num_requests_running Number of requests running.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="tiny"} 3
vllm:num_requests_waiting{model_name="tiny"} 1
vllm:kv_cache_usage_perc{model_name="tiny"} 0.25
vllm:prompt_tokens_total{model_name="tiny"} 1200
vllm:generation_tokens_total{model_name="tiny"} 800
vllm:request_success_total{finished_reason="stop",model_name="tiny"} 4
vllm:request_success_total{finished_reason="length",model_name="tiny"} 2
vllm:time_to_first_token_seconds_bucket{le="0.01",model_name="tiny"} 0
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="tiny"} 5
vllm:time_to_first_token_seconds_bucket{le="1",model_name="tiny"} 10
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="tiny"} 10
vllm:time_to_first_token_seconds_count{model_name="tiny"} 10
`;

describe('metrics fallback', () => {
  it('parses series with labels', () => {
    const s = parsePrometheus(METRICS);
    expect(s.get('vllm:request_success_total')).toHaveLength(2);
    expect(s.get('vllm:num_requests_running')[0]).toEqual({ labels: { model_name: 'tiny' }, value: 3 });
  });

  it('interpolates histogram quantiles inside buckets', () => {
    const s = parsePrometheus(METRICS);
    expect(histogramQuantile(s, 'vllm:time_to_first_token_seconds', 0.5)).toBeCloseTo(0.1);
    expect(histogramQuantile(s, 'vllm:time_to_first_token_seconds', 0.75)).toBeCloseTo(0.55);
    expect(histogramQuantile(s, 'vllm:inter_token_latency_seconds', 0.5)).toBeNull();
  });

  it('builds the stats shape', () => {
    const stats = statsFromMetrics(METRICS, 5);
    expect(stats).toMatchObject({ time: 5, model: 'tiny', source: 'metrics',
      gauges: { num_requests_running: 3, num_requests_waiting: 1, kv_cache_usage: 0.25 },
      counters: { prompt_tokens_total: 1200, generation_tokens_total: 800, requests_finished_total: 6 } });
    expect(stats.latency.ttft_ms.p50).toBeCloseTo(100);
  });

  it('formats bytes', () => {
    expect(formatBytes(16 * 1024 ** 3)).toBe('16.00 GiB');
    expect(formatBytes(512)).toBe('512 B');
  });
});
