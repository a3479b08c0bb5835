// A chart (Chart.js, loaded on demand).
import { useEffect, useRef } from "preact/hooks";

/* eslint-disable @typescript-eslint/no-explicit-any */
export function ChartView(props: { config: any; label: string; height?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<any>(null);
  const key = JSON.stringify(props.config);
  useEffect(() => {
    let cancelled = false;
    (async () => {
      const { default: Chart } = await import("chart.js/auto");
      if (cancelled || !canvas.current) return;
      chart.current?.destroy();
      chart.current = new Chart(canvas.current, {
        ...props.config,
        options: { responsive: true, maintainAspectRatio: false, animation: false, ...props.config.options },
      });
    })();
    return () => {
      cancelled = true;
    };
  }, [key]);
  useEffect(() => () => chart.current?.destroy(), []);
  return (
    <div class="chart" style={{ height: `${props.height ?? 240}px` }}>
      <canvas ref={canvas} role="img" aria-label={props.label} />
    </div>
  );
}
