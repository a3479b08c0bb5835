// Administration: deploy BPMN (validation errors pinned on the diagram), definition status,
// and the organisation: departments, users, roles, grants, queues, queue assignments, calendars.
import { useState } from "preact/hooks";
import { ApiError, api, itemsOf, type Page } from "../api";
import { Diagram } from "../components/Diagram";
import { ErrorNote, Section, StatusBadge, useLoad } from "../components/common";
import { formatDateTime, t, type MessageKey } from "../i18n";
import { Link } from "../router";
import type { Definition } from "../types";
import { DEFINITION_STATUSES } from "./Definitions";

type Row = Record<string, unknown>;

interface Field {
  name: string;
  label: MessageKey;
  type?: "text" | "number" | "checkbox" | "select" | "datetime-local" | "date";
  options?: string[];
  required?: boolean;
}

interface Resource {
  tab: string;
  title: MessageKey;
  path: string;
  columns: Array<{ name: string; label: MessageKey }>;
  fields: Field[];
  /** Lists that need a filter first (a user's grants): the list address for its value. */
  filter?: { name: string; label: MessageKey; list: (value: string) => string };
  deactivate?: (row: Row) => string | null;
  remove?: (row: Row) => string | null;
}

const enc = (value: unknown) => encodeURIComponent(String(value));

const RESOURCES: Resource[] = [
  {
    tab: "departments", title: "admin.departments", path: "/departments",
    columns: [{ name: "code", label: "admin.code" }, { name: "name", label: "admin.name" }, { name: "parentId", label: "admin.parent" }, { name: "active", label: "admin.active" }],
    fields: [{ name: "code", label: "admin.code", required: true }, { name: "name", label: "admin.name", required: true }, { name: "parent", label: "admin.parent" }, { name: "description", label: "admin.description" }],
    deactivate: (row) => (row.active === false ? null : `/departments/${enc(row.code)}`),
  },
  {
    tab: "users", title: "admin.users", path: "/users",
    columns: [{ name: "id", label: "admin.userId" }, { name: "name", label: "admin.name" }, { name: "email", label: "admin.email" }, { name: "departmentId", label: "admin.department" }, { name: "experienceLevel", label: "admin.experience" }, { name: "active", label: "admin.active" }],
    fields: [
      { name: "userId", label: "admin.userId", required: true }, { name: "name", label: "admin.name", required: true }, { name: "email", label: "admin.email" },
      { name: "department", label: "admin.department" }, { name: "experienceLevel", label: "admin.experience", type: "number" },
    ],
    deactivate: (row) => (row.active === false ? null : `/users/${enc(row.id)}/deactivate`),
  },
  {
    tab: "roles", title: "admin.roles", path: "/roles",
    columns: [{ name: "code", label: "admin.code" }, { name: "name", label: "admin.name" }, { name: "type", label: "admin.type" }, { name: "departmentId", label: "admin.department" }, { name: "queueId", label: "admin.queue" }, { name: "canManage", label: "admin.canManage" }],
    fields: [
      { name: "code", label: "admin.code", required: true }, { name: "name", label: "admin.name", required: true },
      { name: "type", label: "admin.type", type: "select", options: ["CUSTOM", "DEPARTMENT", "SYSTEM"] },
      { name: "department", label: "admin.department" }, { name: "queue", label: "admin.queue" }, { name: "canManage", label: "admin.canManage", type: "checkbox" },
    ],
  },
  {
    tab: "grants", title: "admin.grants", path: "/grants",
    filter: { name: "userId", label: "admin.userId", list: (user) => `/users/${enc(user)}/grants` },
    columns: [{ name: "userId", label: "admin.userId" }, { name: "roleId", label: "admin.role" }, { name: "validFrom", label: "admin.validFrom" }, { name: "validUntil", label: "admin.validUntil" }, { name: "isPrimary", label: "admin.primary" }],
    fields: [
      { name: "userId", label: "admin.userId", required: true }, { name: "role", label: "admin.role", required: true },
      { name: "validFrom", label: "admin.validFrom", type: "datetime-local" }, { name: "validUntil", label: "admin.validUntil", type: "datetime-local" },
      { name: "primary", label: "admin.primary", type: "checkbox" },
    ],
    remove: (row) => `/grants/${enc(row.id)}`,
  },
  {
    tab: "queues", title: "admin.queues", path: "/queues",
    columns: [{ name: "name", label: "admin.name" }, { name: "type", label: "admin.type" }, { name: "departmentId", label: "admin.department" }, { name: "maxCapacity", label: "admin.capacity" }, { name: "slaMinutes", label: "admin.slaMinutes" }, { name: "active", label: "admin.active" }],
    fields: [
      { name: "name", label: "admin.name", required: true }, { name: "type", label: "admin.type", type: "select", options: ["STANDARD", "PRIORITY", "SPECIALIZED", "OVERFLOW"] },
      { name: "department", label: "admin.department" }, { name: "maxCapacity", label: "admin.capacity", type: "number" }, { name: "slaMinutes", label: "admin.slaMinutes", type: "number" },
      { name: "description", label: "admin.description" },
    ],
  },
  {
    tab: "assignments", title: "admin.assignments", path: "/queue-assignments",
    columns: [{ name: "queueId", label: "admin.queue" }, { name: "roleId", label: "admin.role" }, { name: "strategy", label: "admin.strategy" }, { name: "autoAssign", label: "admin.autoAssign" }, { name: "maxTasksPerUser", label: "admin.maxPerUser" }],
    fields: [
      { name: "queue", label: "admin.queue", required: true }, { name: "role", label: "admin.role", required: true },
      { name: "strategy", label: "admin.strategy", type: "select", options: ["ROUND_ROBIN", "LEAST_LOADED", "SKILL_BASED", "PRIORITY_WEIGHTED"] },
      { name: "autoAssign", label: "admin.autoAssign", type: "checkbox" }, { name: "maxTasksPerUser", label: "admin.maxPerUser", type: "number" },
    ],
  },
  {
    tab: "calendars", title: "admin.calendars", path: "/calendars",
    columns: [{ name: "name", label: "admin.name" }, { name: "zone", label: "admin.timezone" }, { name: "holidayCountry", label: "admin.country" }, { name: "description", label: "admin.description" }],
    fields: [{ name: "name", label: "admin.name", required: true }, { name: "zone", label: "admin.timezone" }, { name: "holidayCountry", label: "admin.country" }, { name: "description", label: "admin.description" }],
    remove: (row) => `/calendars/${enc(row.id)}`,
  },
];

const TABS: Array<{ tab: string; title: MessageKey }> = [
  { tab: "deploy", title: "admin.deploy" },
  { tab: "definitions", title: "admin.definitions" },
  ...RESOURCES.map((resource) => ({ tab: resource.tab, title: resource.title })),
];

export function AdminPage(props: { path: string }) {
  const tab = props.path.split("/")[3] || "deploy";
  const resource = RESOURCES.find((item) => item.tab === tab);
  return (
    <div class="page">
      <h1>{t("nav.admin")}</h1>
      <nav class="subnav" aria-label={t("nav.admin")}>
        {TABS.map((item) => (
          <Link href={`/app/admin/${item.tab}`} key={item.tab} aria-current={item.tab === tab ? "page" : undefined}>
            {t(item.title)}
          </Link>
        ))}
      </nav>
      {tab === "deploy" && <DeployPanel />}
      {tab === "definitions" && <DefinitionStatusPanel />}
      {resource && <ResourcePanel resource={resource} key={resource.tab} />}
    </div>
  );
}

interface DeployProblem {
  code?: string;
  elementId?: string | null;
  line?: number | null;
  message: string;
}

function DeployPanel() {
  const [xml, setXml] = useState<string | null>(null);
  const [problems, setProblems] = useState<DeployProblem[]>([]);
  const [result, setResult] = useState<{ definitions?: Definition[]; unchanged?: Definition[]; warnings?: Array<{ detail?: string; title?: string }> } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Section title={t("admin.deploy")} id="deploy">
      <form
        class="grid-form"
        onSubmit={async (event) => {
          event.preventDefault();
          const form = event.currentTarget as HTMLFormElement;
          const data = new FormData(form);
          for (const [key, value] of [...data.entries()]) if (value === "") data.delete(key);
          setBusy(true);
          setError(null);
          setProblems([]);
          setResult(null);
          try {
            setResult(await api.upload("/deployments", data));
          } catch (failure) {
            if (failure instanceof ApiError && failure.errors.length) {
              setProblems(failure.errors.map((item) => ({
                code: item.code as string | undefined,
                elementId: (item.elementId ?? item.element_id) as string | null,
                line: item.line as number | null,
                message: String(item.message ?? item.msg ?? ""),
              })));
            }
            setError(failure);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label class="field wide">
          <span>{t("admin.files")}</span>
          <input
            type="file"
            name="files"
            multiple
            required
            accept=".bpmn,.xml,.bpmn20.xml,.form,.dmn"
            onChange={async (event) => {
              const files = [...((event.target as HTMLInputElement).files ?? [])];
              const bpmn = files.find((file) => /\.(bpmn|xml)$/i.test(file.name));
              setProblems([]);
              setResult(null);
              setXml(bpmn ? await bpmn.text() : null);
            }}
          />
        </label>
        <label class="field"><span>{t("admin.deploymentName")}</span><input name="name" /></label>
        <label class="field"><span>{t("admin.category")}</span><input name="category" /></label>
        <label class="field"><span>{t("admin.procedureCode")}</span><input name="procedureCode" /></label>
        <label class="field"><span>{t("admin.slaTargetHours")}</span><input name="slaTargetHours" type="number" min="0" step="any" /></label>
        <label class="field">
          <span>{t("monitor.status")}</span>
          <select name="status" defaultValue="">
            <option value="">{t("common.default")}</option>
            {DEFINITION_STATUSES.map((status) => <option value={status} key={status}>{t(`status.${status.toUpperCase()}` as never)}</option>)}
          </select>
        </label>
        <div class="actions wide">
          <button type="submit" class="primary" disabled={busy}>{t("admin.deployButton")}</button>
        </div>
      </form>
      <ErrorNote error={error} />
      {problems.length > 0 && (
        <div class="problems" role="alert" aria-label={t("admin.validation")}>
          <h3>{t("admin.validation")}</h3>
          <ul>
            {problems.map((problem, index) => (
              <li key={index} data-element-id={problem.elementId ?? ""}>
                {problem.elementId && <code>{problem.elementId}</code>} {problem.line ? <span class="muted">({t("admin.line")} {problem.line})</span> : null} {problem.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {result && (
        <div class="notice success" role="status" data-deployed="true">
          <p>{t("admin.deployed")}</p>
          <ul>
            {(result.definitions ?? []).map((definition) => (
              <li key={definition.id}>
                <Link href={`/app/monitoring/definitions/${encodeURIComponent(definition.id)}`}>{definition.name || definition.key}</Link> v{definition.version}
              </li>
            ))}
            {(result.unchanged ?? []).map((definition) => (
              <li key={definition.id}>{definition.name || definition.key} v{definition.version} — {t("admin.unchanged")}</li>
            ))}
          </ul>
          {(result.warnings ?? []).map((warning, index) => <p class="muted" key={index}>{warning.detail ?? warning.title}</p>)}
        </div>
      )}
      {xml && <Diagram xml={xml} problems={problems} label={t("admin.preview")} height={360} />}
    </Section>
  );
}

function DefinitionStatusPanel() {
  const [error, setError] = useState<unknown>(null);
  const definitions = useLoad(() => api.get<Page<Definition> | Definition[]>("/definitions", { size: 200 }), []);
  return (
    <Section title={t("admin.definitions")}>
      <ErrorNote error={error ?? definitions.error} />
      <table>
        <caption class="sr-only">{t("admin.definitions")}</caption>
        <thead>
          <tr><th scope="col">{t("monitor.name")}</th><th scope="col">{t("monitor.version")}</th><th scope="col">{t("monitor.deployedAt")}</th><th scope="col">{t("monitor.status")}</th></tr>
        </thead>
        <tbody>
          {itemsOf(definitions.data).map((definition) => (
            <tr key={definition.id}>
              <td><Link href={`/app/monitoring/definitions/${encodeURIComponent(definition.id)}`}>{definition.name || definition.key}</Link> <code class="small">{definition.key}</code></td>
              <td>v{definition.version}</td>
              <td>{formatDateTime(definition.deployedAt ?? definition.createdAt)}</td>
              <td>
                <label class="sr-only" for={`status-${definition.id}`}>
                  {t("admin.statusOf", { name: `${definition.key} v${definition.version}` })}
                </label>
                <select
                    id={`status-${definition.id}`}
                    value={definition.status ?? ""}
                    onChange={async (event) => {
                      setError(null);
                      try {
                        await api.put(`/definitions/${encodeURIComponent(definition.id)}/status`, { status: (event.target as HTMLSelectElement).value });
                        definitions.reload();
                      } catch (failure) {
                        setError(failure);
                      }
                    }}
                  >
                    {DEFINITION_STATUSES.map((status) => <option value={status} key={status}>{t(`status.${status.toUpperCase()}` as never)}</option>)}
                  </select>{" "}
                <StatusBadge status={definition.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "✓" : "✗";
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) return formatDateTime(value);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function ResourcePanel(props: { resource: Resource }) {
  const { resource } = props;
  const [error, setError] = useState<unknown>(null);
  const [filterValue, setFilterValue] = useState("");
  const listPath = resource.filter ? (filterValue ? resource.filter.list(filterValue) : null) : resource.path;
  const list = useLoad(
    () => (listPath ? api.get<Page<Row> | Row[]>(listPath, resource.filter ? undefined : { size: 500 }) : Promise.resolve([])),
    [listPath],
  );
  const rows = itemsOf(list.data);
  return (
    <>
      <Section title={t(resource.title)}>
        {resource.filter && (
          <form
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault();
              setFilterValue(String(new FormData(event.currentTarget as HTMLFormElement).get("filter") ?? "").trim());
            }}
          >
            <label class="field"><span>{t(resource.filter.label)}</span><input name="filter" /></label>
            <button type="submit">{t("common.search")}</button>
          </form>
        )}
        <ErrorNote error={list.error} />
        <div class="table-wrap">
          <table>
            <caption class="sr-only">{t(resource.title)}</caption>
            <thead>
              <tr>
                {resource.columns.map((column) => <th scope="col" key={column.name}>{t(column.label)}</th>)}
                <th scope="col"><span class="sr-only">{t("admin.actions")}</span></th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row, index) => {
                const deactivate = resource.deactivate?.(row);
                return (
                  <tr key={String(row.id ?? index)}>
                    {resource.columns.map((column) => <td key={column.name}>{cell(row[column.name])}</td>)}
                    <td>
                      {deactivate && (
                        <button type="button" onClick={async () => {
                          try { await (resource.tab === "departments" ? api.del(deactivate) : api.post(deactivate)); list.reload(); } catch (failure) { setError(failure); }
                        }}>{t("admin.deactivate")}</button>
                      )}
                      {resource.remove?.(row) && (
                        <button type="button" class="danger" onClick={async () => {
                          if (!confirm(t("admin.confirmDelete"))) return;
                          try { await api.del(resource.remove!(row)!); list.reload(); } catch (failure) { setError(failure); }
                        }}>{t("admin.delete")}</button>
                      )}
                    </td>
                  </tr>
                );
              })}
              {!list.loading && !rows.length && <tr><td colSpan={resource.columns.length + 1} class="muted empty">{t("common.none")}</td></tr>}
            </tbody>
          </table>
        </div>
      </Section>
      <Section title={t("admin.create")} id={`create-${resource.tab}`}>
        <form
          class="grid-form"
          onSubmit={async (event) => {
            event.preventDefault();
            const form = event.currentTarget as HTMLFormElement;
            const data = new FormData(form);
            const body: Row = {};
            for (const field of resource.fields) {
              if (field.type === "checkbox") body[field.name] = data.get(field.name) === "on";
              else {
                const value = String(data.get(field.name) ?? "").trim();
                if (!value) continue;
                if (field.type === "number") body[field.name] = Number(value);
                else if (field.type === "datetime-local") body[field.name] = new Date(value).toISOString();
                else body[field.name] = value;
              }
            }
            setError(null);
            try {
              await api.post(resource.path, body);
              form.reset();
              list.reload();
            } catch (failure) {
              setError(failure);
            }
          }}
        >
          {resource.fields.map((field) =>
            field.type === "checkbox" ? (
              <label class="check" key={field.name}><input type="checkbox" name={field.name} /> {t(field.label)}</label>
            ) : field.type === "select" ? (
              <label class="field" key={field.name}>
                <span>{t(field.label)}</span>
                <select name={field.name}>{field.options?.map((option) => <option key={option}>{option}</option>)}</select>
              </label>
            ) : (
              <label class="field" key={field.name}>
                <span>{t(field.label)}{field.required ? " *" : ""}</span>
                <input name={field.name} type={field.type ?? "text"} required={field.required} />
              </label>
            ),
          )}
          <div class="actions wide"><button type="submit" class="primary">{t("admin.createButton")}</button></div>
        </form>
        <ErrorNote error={error} />
      </Section>
    </>
  );
}
