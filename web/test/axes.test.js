import { describe, expect, it } from 'vitest';
import { MIN_TIME_SPAN_S, timeLabels, timeRange, valueLabels, valueRange } from '../src/dashboard/axes.js';

describe('value axes', () => {
  it('start at 0 and reach at least 1, or 0-100 for percentages', () => {
    expect(valueRange('rate', 0)).toEqual([0, 1]);
    expect(valueRange('rate', null)).toEqual([0, 1]);
    expect(valueRange('rate', 1e-9)).toEqual([0, 1]);
    expect(valueRange('rate', 100)[1]).toBeCloseTo(115);
    expect(valueRange('percent', 0.2)).toEqual([0, 100]);
  });

  it('label ticks with the decimals their spacing needs', () => {
    expect(valueLabels([0, 0.2, 0.4, 0.6, 0.8, 1], 0.2)).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(valueLabels([0, 0.05, 0.1], 0.05)).toEqual(['0.00', '0.05', '0.10']);
    expect(valueLabels([0, 50, 100], 50, '%')).toEqual(['0%', '50%', '100%']);
    expect(valueLabels([0, 1000, 2000], 1000)).toEqual(['0', '1000', '2000']);
    expect(valueLabels([-1e-15], 0.5)).toEqual(['0.0']);
    expect(valueLabels([0, 0.25, 0.5], 0.25)).toEqual(['0.00', '0.25', '0.50']);
  });
});

describe('time axis', () => {
  it('spans at least a minute, ending at the newest point', () => {
    expect(timeRange(1000, 1002)).toEqual([1002 - MIN_TIME_SPAN_S, 1002]);
    expect(timeRange(1000, 1300)).toEqual([1000, 1300]);
    expect(timeRange(null, null)[1] - timeRange(null, null)[0]).toBe(MIN_TIME_SPAN_S);
  });

  it('labels whole seconds, or whole minutes', () => {
    const t = new Date(2026, 0, 2, 13, 4, 5).getTime() / 1000;
    expect(timeLabels([t, t + 10], 10)).toEqual(['13:04:05', '13:04:15']);
    expect(timeLabels([t - 5, t + 55], 60)).toEqual(['13:04', '13:05']);
  });
});
