// Monitoring: process definitions with their versions, diagrams and per-element counts.
import { useState } from "preact/hooks";
import { api, itemsOf, newIdempotencyKey, type Page } from "../api";
import { Diagram, type ElementCounts } from "../components/Diagram";
import { ErrorNote, Section, StatusBadge, useLoad } from "../components/common";
import { formatDateTime, t } from "../i18n";
import { Link, navigate } from "../router";
import type { Definition, Instance } from "../types";

export const DEFINITION_STATUSES = ["Draft", "Testing", "Deployed", "Deprecated"];

export function MonitoringTabs(props: { current: "definitions" | "instances" }) {
  return (
    <nav class="subnav" aria-label={t("nav.monitoring")}>
      <Link href="/app/monitoring/definitions" aria-current={props.current === "definitions" ? "page" : undefined}>
        {t("monitor.definitions")}
      </Link>
      <Link href="/app/monitoring/instances" aria-current={props.current === "instances" ? "page" : undefined}>
        {t("monitor.instances")}
      </Link>
    </nav>
  );
}

export function DefinitionsPage() {
  const definitions = useLoad(() => api.get<Page<Definition> | Definition[]>("/definitions", { latest: true, size: 200 }), []);
  const items = itemsOf(definitions.data);
  return (
    <div class="page">
      <MonitoringTabs current="definitions" />
      <h1>{t("monitor.definitions")}</h1>
      <ErrorNote error={definitions.error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">{t("monitor.definitions")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("monitor.name")}</th>
              <th scope="col">{t("monitor.key")}</th>
              <th scope="col">{t("monitor.version")}</th>
              <th scope="col">{t("monitor.status")}</th>
              <th scope="col">{t("monitor.deployedAt")}</th>
              <th scope="col">{t("monitor.instances")}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((definition) => (
              <tr key={definition.id} data-definition-key={definition.key}>
                <td>
                  <Link href={`/app/monitoring/definitions/${encodeURIComponent(definition.id)}`}>{definition.name || definition.key}</Link>
                  {definition.procedureCode && <div class="muted small">{definition.procedureCode}</div>}
                </td>
                <td><code>{definition.key}</code></td>
                <td>v{definition.version}</td>
                <td><StatusBadge status={definition.status} /></td>
                <td>{formatDateTime(definition.deployedAt ?? definition.createdAt)}</td>
                <td>
                  <Link href={`/app/monitoring/instances?processKey=${encodeURIComponent(definition.key)}`}>{t("monitor.showInstances")}</Link>
                </td>
              </tr>
            ))}
            {!definitions.loading && !items.length && (
              <tr><td colSpan={6} class="muted empty">{t("common.none")}</td></tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}

interface ElementStatistic {
  elementId?: string;
  id?: string;
  active?: number;
  instances?: number;
  incidents?: number | Array<unknown>;
}

export function countsFrom(statistics: ElementStatistic[] | { items?: ElementStatistic[]; elements?: ElementStatistic[] } | null): Record<string, ElementCounts> {
  const list = Array.isArray(statistics) ? statistics : statistics?.items ?? statistics?.elements ?? [];
  const counts: Record<string, ElementCounts> = {};
  for (const row of list) {
    const id = row.elementId ?? row.id;
    if (!id) continue;
    const incidents = Array.isArray(row.incidents) ? row.incidents.length : row.incidents ?? 0;
    counts[id] = { active: row.active ?? row.instances ?? 0, incidents };
  }
  return counts;
}

export function DefinitionPage(props: { id: string }) {
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [starting, setStarting] = useState(false);
  const definition = useLoad(() => api.get<Definition>(`/definitions/${encodeURIComponent(props.id)}`), [props.id, version]);
  const xml = useLoad(() => api.text(`/definitions/${encodeURIComponent(props.id)}/xml`), [props.id]);
  const statistics = useLoad(
    () => api.get<ElementStatistic[]>(`/definitions/${encodeURIComponent(props.id)}/statistics`).catch(() => []),
    [props.id, version],
  );
  const key = definition.data?.key;
  const versions = useLoad(
    () => (key ? api.get<Page<Definition> | Definition[]>(`/definitions/key/${encodeURIComponent(key)}/versions`) : Promise.resolve([])),
    [key],
  );

  if (definition.error) return <ErrorNote error={definition.error} />;
  const data = definition.data;
  return (
    <div class="page">
      <MonitoringTabs current="definitions" />
      <div class="page-head">
        <div>
          <h1>{data ? data.name || data.key : t("common.loading")}</h1>
          {data && <p class="muted"><code>{data.key}</code> · v{data.version} · <StatusBadge status={data.status} /></p>}
        </div>
        <div class="actions">
          <button type="button" class="primary" onClick={() => setStarting(true)} disabled={!data}>
            {t("monitor.startInstance")}
          </button>
        </div>
      </div>
      <ErrorNote error={error} />
      {starting && data && <StartInstanceForm definition={data} onError={setError} onClose={() => setStarting(false)} />}
      <Section title={t("monitor.diagram")} actions={<button type="button" onClick={() => setVersion((v) => v + 1)}>{t("common.refresh")}</button>}>
        <Diagram xml={xml.data} counts={countsFrom(statistics.data)} label={t("monitor.diagramCounts", { name: data?.name ?? "" })} height={420} />
        <p class="legend muted small">
          <span class="cf-badge cf-badge-active">n</span> {t("diagram.tokens")} · <span class="cf-badge cf-badge-incident">n</span> {t("diagram.incidents")}
        </p>
      </Section>
      <Section title={t("monitor.versions")}>
        <ul class="versions">
          {itemsOf(versions.data).map((item) => (
            <li key={item.id}>
              <Link href={`/app/monitoring/definitions/${encodeURIComponent(item.id)}`} aria-current={item.id === props.id ? "page" : undefined}>
                v{item.version}
              </Link>{" "}
              <StatusBadge status={item.status} /> <span class="muted small">{formatDateTime(item.deployedAt ?? item.createdAt)}</span>
            </li>
          ))}
        </ul>
      </Section>
    </div>
  );
}

function parseVariables(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(t("monitor.variablesObject"));
  return value;
}

export function StartInstanceForm(props: { definition: Definition; onError: (e: unknown) => void; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  return (
    <Section title={t("monitor.startInstance")} id="start-instance">
      <form
        class="grid-form"
        onSubmit={async (event) => {
          event.preventDefault();
          const data = new FormData(event.currentTarget as HTMLFormElement);
          setBusy(true);
          try {
            const instance = await api.post<Instance>(
              "/process-instances",
              {
                definitionId: props.definition.id,
                businessKey: String(data.get("businessKey") ?? "") || undefined,
                caseId: String(data.get("caseId") ?? "") || undefined,
                variables: parseVariables(String(data.get("variables") ?? "")),
              },
              { "Idempotency-Key": newIdempotencyKey() },
            );
            navigate(`/app/monitoring/instances/${encodeURIComponent(instance.id)}`);
          } catch (failure) {
            props.onError(failure);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label class="field"><span>{t("monitor.businessKey")}</span><input name="businessKey" /></label>
        <label class="field"><span>{t("monitor.caseId")}</span><input name="caseId" /></label>
        <label class="field wide">
          <span>{t("monitor.variablesJson")}</span>
          <textarea name="variables" rows={3} placeholder='{"amount": 1200}' />
        </label>
        <div class="actions wide">
          <button type="button" onClick={props.onClose}>{t("common.cancel")}</button>
          <button type="submit" class="primary" disabled={busy}>{t("monitor.start")}</button>
        </div>
      </form>
    </Section>
  );
}
