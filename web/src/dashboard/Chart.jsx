import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { COUNT_INCRS, PERCENT_INCRS, TIME_INCRS, TIME_LABEL_SPACE_PX, timeLabels, timeRange, valueLabels, valueRange,
  VALUE_INCRS } from './axes.js';

// One uPlot time-series chart. `data` is [times (Unix seconds), ...series]; series is
// [{label, color}]. `kind` picks the value axis (axes.js): 'percent' (0-100), 'count' (whole
// numbers), or a rate or latency from 0 to at least 1; `unit` follows each value label. The
// labels drawn last are kept in data-x-ticks / data-y-ticks (JSON) with the plot's width in CSS
// pixels (data-plot-width), which the browser tests read: uPlot draws them on a canvas.
export function Chart({ title, series, data, kind = 'rate', unit = '', testid }) {
  const section = useRef(null);
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = () => Math.max(260, box.current.clientWidth - 4);
    const labels = { x: [], y: [] };
    const grid = { stroke: 'rgba(128,128,128,0.15)' };
    plot.current = new uPlot({
      width: width(),
      height: 190,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: (u, min, max) => timeRange(min, max) },
        y: { range: (u, min, max) => valueRange(kind, max) },
      },
      axes: [
        { stroke: '#888', grid, incrs: TIME_INCRS, space: TIME_LABEL_SPACE_PX,
          values: (u, ticks, axis, space, spacing) => (labels.x = timeLabels(ticks, spacing)) },
        { stroke: '#888', grid, size: 60, incrs: kind === 'count' ? COUNT_INCRS : kind === 'percent' ? PERCENT_INCRS : VALUE_INCRS,
          values: (u, ticks, axis, space, spacing) => (labels.y = valueLabels(ticks, spacing, unit)) },
      ],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true }))],
      hooks: {
        draw: [(u) => {
          section.current.dataset.plotWidth = String(Math.round(u.bbox.width / uPlot.pxRatio));
          section.current.dataset.xTicks = JSON.stringify(labels.x);
          section.current.dataset.yTicks = JSON.stringify(labels.y);
        }],
      },
    }, data, box.current);
    const onResize = () => plot.current.setSize({ width: width(), height: 190 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      plot.current.destroy();
    };
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return (
    <section class="card chart" ref={section} data-testid={testid} data-points={data[0].length}>
      <h3>{title}</h3>
      <div ref={box} />
    </section>
  );
}
