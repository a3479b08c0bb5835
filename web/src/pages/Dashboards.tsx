// Dashboards: queue performance, user workload, process performance and SLA, escalations over time.
import { useEffect, useState } from "preact/hooks";
import { api, itemsOf } from "../api";
import { ChartView } from "../components/Chart";
import { ErrorNote, Section, useLoad } from "../components/common";
import { onLiveEvent } from "../events";
import { formatNumber, t } from "../i18n";

type Row = Record<string, unknown>;

/** The first numeric field of `row` among `names` (report fields vary in naming between APIs). */
export function num(row: Row, ...names: string[]): number {
  for (const name of names) {
    const value = row[name];
    if (typeof value === "number") return value;
    if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
  }
  return 0;
}

/** Hours from a field in hours, or from one in seconds (the API reports durations in seconds). */
function hours(row: Row, hourNames: string[], secondNames: string[]): number {
  const inHours = num(row, ...hourNames);
  return inHours || num(row, ...secondNames) / 3600;
}

/** A share shown as a percentage (fractions 0..1 and percentages both accepted); — when absent. */
function percent(row: Row, ...names: string[]): string {
  if (!names.some((name) => row[name] !== null && row[name] !== undefined)) return "—";
  const value = num(row, ...names);
  return `${formatNumber(value <= 1 ? value * 100 : value, 0)} %`;
}

function active(row: Row): number {
  if ("active" in row || "activeInstances" in row) return num(row, "active", "activeInstances");
  return Math.max(0, num(row, "started") - num(row, "completed", "completedInstances"));
}

function text(row: Row, ...names: string[]): string {
  for (const name of names) if (row[name] !== undefined && row[name] !== null) return String(row[name]);
  return "—";
}

const COLORS = ["#2563eb", "#f59e0b", "#dc2626", "#16a34a", "#7c3aed", "#0891b2"];

function rows(data: unknown): Row[] {
  if (Array.isArray(data)) return data as Row[];
  const object = (data ?? {}) as Row;
  for (const key of ["items", "queues", "users", "processes", "buckets", "series"]) {
    if (Array.isArray(object[key])) return object[key] as Row[];
  }
  return itemsOf(data as never);
}

export function DashboardsPage() {
  const [version, setVersion] = useState(0);
  const queues = useLoad(() => api.get<unknown>("/reports/queues"), [version]);
  const workload = useLoad(() => api.get<unknown>("/reports/workload"), [version]);
  const processes = useLoad(() => api.get<unknown>("/reports/processes"), [version]);
  const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
  const escalations = useLoad(() => api.get<unknown>("/reports/escalations", { from, bucket: "day" }), [version]);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = onLiveEvent(() => {
      clearTimeout(timer);
      timer = setTimeout(() => setVersion((v) => v + 1), 1000);
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, []);

  const queueRows = rows(queues.data);
  const userRows = rows(workload.data);
  const processRows = rows(processes.data);
  const escalationRows = rows(escalations.data);
  const totalOpen = queueRows.reduce((sum, row) => sum + num(row, "open", "openTasks"), 0);
  const totalClaimed = queueRows.reduce((sum, row) => sum + num(row, "claimed", "claimedTasks"), 0);
  const totalEscalated = queueRows.reduce((sum, row) => sum + num(row, "escalated", "escalatedTasks"), 0);
  const totalCompleted = processRows.reduce((sum, row) => sum + num(row, "completed", "completedInstances"), 0);
  const totalActive = processRows.reduce((sum, row) => sum + active(row), 0);

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("dash.title")}</h1>
        <button type="button" onClick={() => setVersion((v) => v + 1)}>{t("common.refresh")}</button>
      </div>
      <ul class="tiles" aria-label={t("dash.summary")}>
        <li><span class="tile-value" data-metric="open">{totalOpen}</span><span class="tile-label">{t("dash.open")}</span></li>
        <li><span class="tile-value" data-metric="claimed">{totalClaimed}</span><span class="tile-label">{t("dash.claimed")}</span></li>
        <li><span class="tile-value" data-metric="escalated">{totalEscalated}</span><span class="tile-label">{t("dash.escalated")}</span></li>
        <li><span class="tile-value" data-metric="active-instances">{totalActive}</span><span class="tile-label">{t("dash.activeInstances")}</span></li>
        <li><span class="tile-value" data-metric="completed-instances">{totalCompleted}</span><span class="tile-label">{t("dash.completedInstances")}</span></li>
      </ul>
      <div class="grid-2">
        <Section title={t("dash.queues")}>
          <ErrorNote error={queues.error} />
          <ChartView
            label={t("dash.queuesChart")}
            config={{
              type: "bar",
              data: {
                labels: queueRows.map((row) => text(row, "queueName", "name", "queue", "queueId")),
                datasets: [
                  { label: t("dash.open"), data: queueRows.map((row) => num(row, "open", "openTasks")), backgroundColor: COLORS[0] },
                  { label: t("dash.claimed"), data: queueRows.map((row) => num(row, "claimed", "claimedTasks")), backgroundColor: COLORS[1] },
                  { label: t("dash.escalated"), data: queueRows.map((row) => num(row, "escalated", "escalatedTasks")), backgroundColor: COLORS[2] },
                ],
              },
              options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
            }}
          />
          <table class="compact">
            <caption class="sr-only">{t("dash.queues")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("tasks.queue")}</th><th scope="col">{t("dash.open")}</th><th scope="col">{t("dash.claimed")}</th>
                <th scope="col">{t("dash.escalated")}</th><th scope="col">{t("dash.avgAge")}</th><th scope="col">{t("dash.utilisation")}</th>
              </tr>
            </thead>
            <tbody>
              {queueRows.map((row, index) => (
                <tr key={index} data-queue={text(row, "queueName", "name", "queue", "queueId")}>
                  <td>{text(row, "queueName", "name", "queue", "queueId")}</td>
                  <td data-col="open">{num(row, "open", "openTasks")}</td>
                  <td>{num(row, "claimed", "claimedTasks")}</td>
                  <td>{num(row, "escalated", "escalatedTasks")}</td>
                  <td>{formatNumber(hours(row, ["averageAgeHours", "avgAgeHours"], ["averageAgeSeconds"]))} h</td>
                  <td>{percent(row, "utilisation", "utilization")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section title={t("dash.workload")}>
          <ErrorNote error={workload.error} />
          <ChartView
            label={t("dash.workloadChart")}
            config={{
              type: "bar",
              data: {
                labels: userRows.map((row) => text(row, "displayName", "userName", "name", "userId")),
                datasets: [
                  { label: t("dash.claimed"), data: userRows.map((row) => num(row, "claimed", "claimedTasks", "open", "openTasks")), backgroundColor: COLORS[0] },
                  { label: t("dash.completedWeek"), data: userRows.map((row) => num(row, "completedLastWeek", "completed7d", "completed")), backgroundColor: COLORS[3] },
                ],
              },
              options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { ticks: { autoSkip: false } } } },
            }}
          />
        </Section>
        <Section title={t("dash.processes")}>
          <ErrorNote error={processes.error} />
          <ChartView
            label={t("dash.processesChart")}
            config={{
              type: "bar",
              data: {
                labels: processRows.map((row) => text(row, "processName", "name", "processKey")),
                datasets: [
                  { label: t("dash.avgHours"), data: processRows.map((row) => hours(row, ["avgCompletionHours", "averageCompletionHours"], ["averageCompletionSeconds"])), backgroundColor: COLORS[0] },
                  { label: t("dash.p95Hours"), data: processRows.map((row) => hours(row, ["p95CompletionHours"], ["p95CompletionSeconds"])), backgroundColor: COLORS[4] },
                ],
              },
              options: { scales: { y: { beginAtZero: true } } },
            }}
          />
          <table class="compact">
            <caption class="sr-only">{t("dash.processes")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("monitor.process")}</th><th scope="col">{t("dash.activeInstances")}</th><th scope="col">{t("dash.completedInstances")}</th>
                <th scope="col">{t("dash.avgHours")}</th><th scope="col">{t("dash.p95Hours")}</th><th scope="col">{t("dash.slaCompliance")}</th>
              </tr>
            </thead>
            <tbody>
              {processRows.map((row, index) => {
                return (
                  <tr key={index} data-process={text(row, "processKey", "key")}>
                    <td>{text(row, "processName", "name", "processKey")}</td>
                    <td data-col="active">{active(row)}</td>
                    <td data-col="completed">{num(row, "completed", "completedInstances")}</td>
                    <td>{formatNumber(hours(row, ["avgCompletionHours", "averageCompletionHours"], ["averageCompletionSeconds"]))}</td>
                    <td>{formatNumber(hours(row, ["p95CompletionHours"], ["p95CompletionSeconds"]))}</td>
                    <td>{percent(row, "slaCompliance", "slaCompliancePct")}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </Section>
        <Section title={t("dash.escalations")}>
          <ErrorNote error={escalations.error} />
          <ChartView
            label={t("dash.escalationsChart")}
            config={{
              type: "line",
              data: {
                labels: escalationRows.map((row) => text(row, "bucket", "day", "date", "from", "start").slice(0, 10)),
                datasets: [
                  {
                    label: t("dash.escalations"),
                    data: escalationRows.map((row) => num(row, "count", "escalations", "total")),
                    borderColor: COLORS[2],
                    backgroundColor: "rgba(220,38,38,0.15)",
                    fill: true,
                    tension: 0.25,
                  },
                ],
              },
              options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
            }}
          />
        </Section>
      </div>
    </div>
  );
}
