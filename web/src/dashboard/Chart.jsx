import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

// One uPlot time-series chart. `data` is [times, ...series]; series is [{label, color}].
export function Chart({ title, series, data, yFormat, testid }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = () => Math.max(260, box.current.clientWidth - 4);
    plot.current = new uPlot({
      width: width(),
      height: 190,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, 1e-9) * 1.15] } },
      axes: [
        { stroke: '#888', grid: { stroke: 'rgba(128,128,128,0.15)' } },
        { stroke: '#888', grid: { stroke: 'rgba(128,128,128,0.15)' }, size: 60,
          values: (u, ticks) => ticks.map((v) => (yFormat ? yFormat(v) : v)) },
      ],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true }))],
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
    <section class="card chart" data-testid={testid} data-points={data[0].length}>
      <h3>{title}</h3>
      <div ref={box} />
    </section>
  );
}
