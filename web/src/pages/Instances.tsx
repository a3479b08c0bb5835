// Monitoring: process instances by business key / case id / status; one instance with its
// diagram (active and completed elements), variables, timeline, incidents and controls.
import { useState } from "preact/hooks";
import { api, itemsOf, type Page } from "../api";
import { Diagram } from "../components/Diagram";
import { ErrorNote, KeyValues, Pager, PromptDialog, Section, SlaCountdown, StatusBadge, useLoad } from "../components/common";
import { formatDateTime, t } from "../i18n";
import { Link } from "../router";
import type { Me } from "../session";
import { activeIds, type HistoryEntry, type Incident, type Instance } from "../types";
import { MonitoringTabs } from "./Definitions";

const STATUSES = ["ACTIVE", "SUSPENDED", "COMPLETED", "TERMINATED", "FAILED"];

export function InstancesPage() {
  const initial = new URLSearchParams(location.search);
  const [filters, setFilters] = useState({
    businessKey: initial.get("businessKey") ?? "",
    caseId: initial.get("caseId") ?? "",
    status: initial.get("status") ?? "",
    processKey: initial.get("processKey") ?? "",
    page: 0,
  });
  const size = 25;
  const query = { ...filters, size, sort: "startedAt,desc" };
  const instances = useLoad(() => api.get<Page<Instance>>("/process-instances", query), [JSON.stringify(query)]);
  const items = itemsOf(instances.data);
  return (
    <div class="page">
      <MonitoringTabs current="instances" />
      <h1>{t("monitor.instances")}</h1>
      <form
        class="filters"
        role="search"
        aria-label={t("monitor.searchInstances")}
        onSubmit={(event) => {
          event.preventDefault();
          const data = new FormData(event.currentTarget as HTMLFormElement);
          setFilters({
            businessKey: String(data.get("businessKey") ?? "").trim(),
            caseId: String(data.get("caseId") ?? "").trim(),
            status: String(data.get("status") ?? ""),
            processKey: String(data.get("processKey") ?? "").trim(),
            page: 0,
          });
        }}
      >
        <label class="field"><span>{t("monitor.businessKey")}</span><input name="businessKey" defaultValue={filters.businessKey} /></label>
        <label class="field"><span>{t("monitor.caseId")}</span><input name="caseId" defaultValue={filters.caseId} /></label>
        <label class="field"><span>{t("monitor.key")}</span><input name="processKey" defaultValue={filters.processKey} /></label>
        <label class="field">
          <span>{t("monitor.status")}</span>
          <select name="status" defaultValue={filters.status}>
            <option value="">{t("common.any")}</option>
            {STATUSES.map((status) => <option value={status} key={status}>{t(`status.${status}` as never)}</option>)}
          </select>
        </label>
        <button type="submit">{t("common.search")}</button>
      </form>
      <ErrorNote error={instances.error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">{t("monitor.instances")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("monitor.businessKey")}</th>
              <th scope="col">{t("monitor.process")}</th>
              <th scope="col">{t("monitor.caseId")}</th>
              <th scope="col">{t("monitor.status")}</th>
              <th scope="col">{t("tasks.sla")}</th>
              <th scope="col">{t("monitor.startedAt")}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((instance) => (
              <tr key={instance.id} data-instance-id={instance.id}>
                <td><Link href={`/app/monitoring/instances/${encodeURIComponent(instance.id)}`}>{instance.businessKey || instance.id.slice(0, 8)}</Link></td>
                <td>{instance.processName || instance.processKey} {instance.version ? <span class="muted small">v{instance.version}</span> : null}</td>
                <td>{instance.caseId || "—"}</td>
                <td><StatusBadge status={instance.status} /></td>
                <td><SlaCountdown sla={{ dueAt: instance.dueAt, status: instance.slaStatus }} /></td>
                <td>{formatDateTime(instance.startedAt)}</td>
              </tr>
            ))}
            {!instances.loading && !items.length && <tr><td colSpan={6} class="muted empty">{t("common.none")}</td></tr>}
          </tbody>
        </table>
      </div>
      <Pager page={filters.page} size={size} total={instances.data?.total} count={items.length} onPage={(page) => setFilters({ ...filters, page })} />
    </div>
  );
}

export function InstancePage(props: { id: string; me: Me }) {
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [dialog, setDialog] = useState<"" | "suspend" | "resume" | "terminate">("");
  const path = `/process-instances/${encodeURIComponent(props.id)}`;
  const instance = useLoad(() => api.get<Instance>(path), [props.id, version]);
  const history = useLoad(() => api.get<Page<HistoryEntry> | HistoryEntry[]>(`${path}/history`).catch(() => []), [props.id, version]);
  const definitionId = instance.data?.definitionId;
  const xml = useLoad(() => (definitionId ? api.text(`/definitions/${encodeURIComponent(definitionId)}/xml`) : Promise.resolve(null)), [definitionId]);

  if (instance.error) return <ErrorNote error={instance.error} />;
  const data = instance.data;
  const entries = itemsOf(history.data as Page<HistoryEntry> | HistoryEntry[] | null);
  const active = activeIds(data);
  const completed = [...new Set(entries.filter((entry) => entry.endedAt && entry.elementId).map((entry) => entry.elementId as string))];
  const incidents: Incident[] = data?.incidents ?? [];
  const failed = incidents.map((incident) => incident.elementId ?? incident.activityId ?? "").filter(Boolean);
  const status = (data?.status ?? "").toUpperCase();
  const canControl = props.me.isOperator || props.me.isAdmin;

  return (
    <div class="page">
      <MonitoringTabs current="instances" />
      <div class="page-head">
        <div>
          <h1>{data?.businessKey || props.id}</h1>
          {data && (
            <p class="muted">
              {data.processName || data.processKey} v{data.version} · {t("monitor.caseId")}: {data.caseId || "—"} ·{" "}
              {t("monitor.startedAt")} {formatDateTime(data.startedAt)}
            </p>
          )}
        </div>
        <div class="head-facts">
          <StatusBadge status={data?.status} />
          <SlaCountdown sla={{ dueAt: data?.dueAt, status: data?.slaStatus }} />
        </div>
      </div>
      {canControl && data && (
        <div class="actions" role="group" aria-label={t("monitor.controls")}>
          {status === "ACTIVE" && <button type="button" onClick={() => setDialog("suspend")}>{t("monitor.suspend")}</button>}
          {status === "SUSPENDED" && <button type="button" onClick={() => setDialog("resume")}>{t("monitor.resume")}</button>}
          {(status === "ACTIVE" || status === "SUSPENDED") && (
            <button type="button" class="danger" onClick={() => setDialog("terminate")}>{t("monitor.terminate")}</button>
          )}
          <button type="button" onClick={() => setVersion((v) => v + 1)}>{t("common.refresh")}</button>
        </div>
      )}
      <ErrorNote error={error} />
      <Section title={t("monitor.diagram")}>
        <Diagram
          xml={xml.data ?? null}
          current={active}
          active={active}
          completed={completed}
          failed={failed}
          label={t("monitor.instanceDiagram")}
          height={380}
        />
        <p class="legend muted small">
          <span class="swatch swatch-current" /> {t("diagram.current")} · <span class="swatch swatch-completed" /> {t("diagram.completed")} ·{" "}
          <span class="swatch swatch-failed" /> {t("diagram.failed")}
        </p>
      </Section>
      <div class="grid-2">
        <Section title={t("monitor.incidents")}>
          {incidents.length ? (
            <ul class="incidents">
              {incidents.map((incident) => (
                <li key={incident.id}>
                  <strong>{incident.elementId ?? incident.activityId}</strong> <span class="muted">{incident.kind ?? incident.type ?? incident.incidentType}</span>
                  <p>{incident.message}</p>
                  {canControl && (
                    <button
                      type="button"
                      onClick={async () => {
                        setError(null);
                        try {
                          await api.post(`/incidents/${encodeURIComponent(incident.id)}/retry`);
                          setVersion((v) => v + 1);
                        } catch (failure) {
                          setError(failure);
                        }
                      }}
                    >
                      {t("monitor.retry")}
                    </button>
                  )}
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">{t("monitor.noIncidents")}</p>
          )}
        </Section>
        <Section title={t("monitor.variables")}>
          <KeyValues values={data?.variables ?? {}} />
        </Section>
      </div>
      <Section title={t("monitor.timeline")}>
        <ol class="timeline">
          {entries.map((entry, index) => (
            <li key={entry.id ?? index} class={entry.endedAt ? "done" : "open"}>
              <span class="when">{formatDateTime(entry.startedAt ?? entry.at)}</span> <strong>{entry.name || entry.elementId}</strong>{" "}
              <span class="muted small">{entry.type ?? entry.elementType}</span>
              {entry.endedAt ? <span class="muted small"> → {formatDateTime(entry.endedAt)}</span> : <span class="status status-active">{t("status.ACTIVE")}</span>}
            </li>
          ))}
          {!entries.length && <li class="muted">{t("common.none")}</li>}
        </ol>
      </Section>
      {(data?.tasks ?? []).length > 0 && (
        <Section title={t("monitor.openTasks")}>
          <ul>
            {(data?.tasks ?? []).map((task) => (
              <li key={task.id}>
                <Link href={`/app/tasks/${encodeURIComponent(task.id)}`}>{task.name || task.elementId}</Link> <StatusBadge status={task.status} />{" "}
                <span class="muted small">{task.assignee ?? ""}</span>
              </li>
            ))}
          </ul>
        </Section>
      )}
      {dialog && (
        <PromptDialog
          title={t(`monitor.${dialog}` as never)}
          fields={[{ name: "reason", label: t("common.reason"), required: dialog !== "resume" }]}
          submitLabel={t(`monitor.${dialog}` as never)}
          onClose={() => setDialog("")}
          onSubmit={async (values) => {
            await api.post(`${path}/${dialog}`, { reason: values.reason });
            setVersion((v) => v + 1);
          }}
        />
      )}
    </div>
  );
}
