// Axes the dashboard's charts read at a glance, idle or busy: values from 0 with a minimum
// range (KV cache 0-100%, rates and counts up to at least 1), tick labels with just the decimals
// their spacing needs (never "0, 0, 0" or "1e-9"), and a time axis in whole seconds or minutes
// over at least a minute (never ":16.500").

// Tick spacings of the time axis, in seconds: whole seconds, then minutes.
export const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
// The time axis spans at least this many seconds, so that the first polls do not stretch
// across the chart with sub-second ticks.
export const MIN_TIME_SPAN_S = 60;
// Tick spacings of a count axis (requests): whole numbers.
export const COUNT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];
// Tick spacings of a percent axis.
export const PERCENT_INCRS = [10, 20, 25, 50];
// Tick spacings of a rate or latency axis: 1-2-5 steps, so one decimal less than the spacing's
// own never rounds a label (0.25 would print as 0.3 with one decimal).
export const VALUE_INCRS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000,
  5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000];
// Room the time axis leaves per label (HH:MM:SS): uPlot picks a tick spacing that keeps them apart.
export const TIME_LABEL_SPACE_PX = 72;

// [min, max] of the time axis: the data's span, at least MIN_TIME_SPAN_S, ending at the newest.
export function timeRange(min, max) {
  if (min == null || max == null) {
    const now = Date.now() / 1000;
    return [now - MIN_TIME_SPAN_S, now];
  }
  return [Math.min(min, max - MIN_TIME_SPAN_S), max];
}

// The y range of a chart of `kind`: 'percent' is 0-100; others start at 0 and reach 15% above
// the largest value, but at least `floor` (1 unless said otherwise).
export function valueRange(kind, max, floor = 1) {
  if (kind === 'percent') return [0, 100];
  const top = max == null || !Number.isFinite(max) ? 0 : max;
  return [0, Math.max(top * 1.15, floor)];
}

const pad = (n) => String(n).padStart(2, '0');

// Labels of time ticks (Unix seconds) in local time: HH:MM:SS, or HH:MM once the spacing is
// whole minutes.
export function timeLabels(ticks, spacing_s) {
  return ticks.map((t) => {
    const d = new Date(Math.round(t) * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return spacing_s >= 60 && spacing_s % 60 === 0 ? hm : `${hm}:${pad(d.getSeconds())}`;
  });
}

// Decimals that write `spacing` exactly (0.2 -> 1, 0.25 -> 2, 5 -> 0), at most 6.
function decimalsOf(spacing) {
  for (let d = 0; d < 6; d++) {
    const scaled = spacing * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-9 * Math.max(1, scaled)) return d;
  }
  return 6;
}

// Labels of value ticks `spacing` apart: as many decimals as the spacing needs, then `unit`.
export function valueLabels(ticks, spacing, unit = '') {
  const decimals = spacing > 0 ? decimalsOf(spacing) : 0;
  return ticks.map((v) => `${(Math.abs(v) < 1e-12 ? 0 : v).toFixed(decimals)}${unit}`);
}
