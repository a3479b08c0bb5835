// The inbox: my tasks and my queues' tasks, with filters, sorting, search, paging and claim-next.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, itemsOf, type Page } from "../api";
import { ErrorNote, Pager, SlaCountdown, StatusBadge, useLoad } from "../components/common";
import { onLiveEvent, liveStatus } from "../events";
import { formatDateTime, t } from "../i18n";
import { Link, navigate } from "../router";
import { queueNames, type Me } from "../session";
import { taskQueue, type Task } from "../types";

type Scope = "mine" | "queues";
interface Filters {
  scope: Scope;
  queue: string;
  priorityMin: string;
  due: string;
  processKey: string;
  caseId: string;
  search: string;
  sort: string;
  page: number;
  size: number;
}

const DEFAULTS: Filters = {
  scope: "queues", queue: "", priorityMin: "", due: "", processKey: "", caseId: "", search: "",
  sort: "priority,desc", page: 0, size: 25,
};

function dueBefore(due: string): string | undefined {
  const now = new Date();
  if (due === "overdue") return now.toISOString();
  if (due === "today") {
    const end = new Date(now);
    end.setHours(23, 59, 59, 999);
    return end.toISOString();
  }
  if (due === "week") return new Date(now.getTime() + 7 * 86_400_000).toISOString();
  return undefined;
}

function fromAddress(): Filters {
  const query = new URLSearchParams(location.search);
  const filters = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as Array<keyof Filters>) {
    const value = query.get(key);
    if (value === null) continue;
    (filters as unknown as Record<string, unknown>)[key] = typeof DEFAULTS[key] === "number" ? Number(value) : value;
  }
  return filters;
}

export function TaskListPage(props: { me: Me }) {
  const [filters, setFilters] = useState<Filters>(fromAddress);
  const [searchText, setSearchText] = useState(filters.search);
  const [notice, setNotice] = useState("");
  const [claimError, setClaimError] = useState<unknown>(null);
  const queues = queueNames(props.me);

  const update = (change: Partial<Filters>) => {
    const next = { ...filters, page: 0, ...change };
    setFilters(next);
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(next)) {
      if (value !== (DEFAULTS as unknown as Record<string, unknown>)[key]) query.set(key, String(value));
    }
    history.replaceState(null, "", `/app/tasks${query.toString() ? `?${query}` : ""}`);
  };

  const query = {
    mine: filters.scope === "mine" ? true : undefined,
    queue: filters.queue || undefined,
    priorityMin: filters.priorityMin || undefined,
    dueBefore: dueBefore(filters.due),
    processKey: filters.processKey || undefined,
    caseId: filters.caseId || undefined,
    search: filters.search || undefined,
    sort: filters.sort,
    page: filters.page,
    size: filters.size,
  };
  const tasks = useLoad(() => api.get<Page<Task>>("/tasks", query), [JSON.stringify(query)]);

  // Live updates: reload when a task event arrives (debounced); poll when there is no stream.
  const reloadRef = useRef(tasks.reload);
  reloadRef.current = tasks.reload;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = onLiveEvent((event) => {
      if (!/task|step/i.test(event.type)) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        reloadRef.current();
        if (/created|assigned|opened/i.test(event.type)) setNotice(t("tasks.arrived"));
      }, 300);
    });
    const poll = setInterval(() => {
      if (liveStatus() !== "live") reloadRef.current();
    }, 30_000);
    return () => {
      off();
      clearTimeout(timer);
      clearInterval(poll);
    };
  }, []);

  const claimNext = async () => {
    setClaimError(null);
    try {
      const body = filters.queue ? { queues: [filters.queue] } : {};
      const task = await api.post<Task | null>("/tasks/claim/next", body);
      if (!task) setNotice(t("tasks.noneToClaim"));
      else navigate(`/app/tasks/${encodeURIComponent(task.id)}`);
    } catch (failure) {
      setClaimError(failure);
    }
  };

  const items = itemsOf(tasks.data);
  const sortBy = (field: string) => {
    const [current, direction] = filters.sort.split(",");
    update({ sort: `${field},${current === field && direction === "asc" ? "desc" : "asc"}` });
  };
  const sortState = (field: string): "ascending" | "descending" | "none" => {
    const [current, direction] = filters.sort.split(",");
    return current === field ? (direction === "asc" ? "ascending" : "descending") : "none";
  };
  const SortHeader = (header: { field: string; label: string }) => (
    <th scope="col" aria-sort={sortState(header.field)}>
      <button type="button" class="sort" onClick={() => sortBy(header.field)}>
        {header.label}
        <span aria-hidden="true">{sortState(header.field) === "ascending" ? " ▲" : sortState(header.field) === "descending" ? " ▼" : ""}</span>
      </button>
    </th>
  );

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("tasks.title")}</h1>
        <div class="actions">
          <button type="button" class="primary" onClick={claimNext} data-action="claim-next">
            {t("tasks.claimNext")}
          </button>
        </div>
      </div>
      <ErrorNote error={claimError} />
      {notice && (
        <p class="notice" role="status">
          {notice}{" "}
          <button type="button" class="link" onClick={() => setNotice("")}>
            {t("common.dismiss")}
          </button>
        </p>
      )}
      <div class="tabs" role="group" aria-label={t("tasks.scope")}>
        {(["queues", "mine"] as Scope[]).map((scope) => (
          <button type="button" aria-pressed={filters.scope === scope} onClick={() => update({ scope })} key={scope}>
            {t(`tasks.scope.${scope}` as never)}
          </button>
        ))}
      </div>
      <form
        class="filters"
        role="search"
        aria-label={t("tasks.filters")}
        onSubmit={(event) => {
          event.preventDefault();
          update({ search: searchText });
        }}
      >
        <label class="field">
          <span>{t("tasks.search")}</span>
          <input type="search" name="search" value={searchText} onInput={(event) => setSearchText((event.target as HTMLInputElement).value)} />
        </label>
        <div class="field">
          <label for="filter-queue">{t("tasks.queue")}</label>
          <select id="filter-queue" name="queue" value={filters.queue} onChange={(event) => update({ queue: (event.target as HTMLSelectElement).value })}>
            <option value="">{t("common.any")}</option>
            {queues.map((queue) => (
              <option value={queue.id} key={queue.id}>
                {queue.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-priorityMin">{t("tasks.priorityMin")}</label>
          <select id="filter-priorityMin" name="priorityMin" value={filters.priorityMin} onChange={(event) => update({ priorityMin: (event.target as HTMLSelectElement).value })}>
            <option value="">{t("common.any")}</option>
            <option value="75">≥ 75</option>
            <option value="50">≥ 50</option>
            <option value="25">≥ 25</option>
          </select>
        </div>
        <div class="field">
          <label for="filter-due">{t("tasks.due")}</label>
          <select id="filter-due" name="due" value={filters.due} onChange={(event) => update({ due: (event.target as HTMLSelectElement).value })}>
            <option value="">{t("common.any")}</option>
            <option value="overdue">{t("tasks.due.overdue")}</option>
            <option value="today">{t("tasks.due.today")}</option>
            <option value="week">{t("tasks.due.week")}</option>
          </select>
        </div>
        <label class="field">
          <span>{t("tasks.process")}</span>
          <input name="processKey" value={filters.processKey} onChange={(event) => update({ processKey: (event.target as HTMLInputElement).value.trim() })} />
        </label>
        <label class="field">
          <span>{t("tasks.case")}</span>
          <input name="caseId" value={filters.caseId} onChange={(event) => update({ caseId: (event.target as HTMLInputElement).value.trim() })} />
        </label>
        <button type="submit">{t("tasks.apply")}</button>
      </form>
      <ErrorNote error={tasks.error} />
      <div class="table-wrap">
        <table class="tasks" aria-busy={tasks.loading ? "true" : "false"}>
          <caption class="sr-only">{t("tasks.title")}</caption>
          <thead>
            <tr>
              <SortHeader field="name" label={t("tasks.name")} />
              <th scope="col">{t("tasks.caseCol")}</th>
              <th scope="col">{t("tasks.queue")}</th>
              <SortHeader field="priority" label={t("tasks.priority")} />
              <SortHeader field="dueAt" label={t("tasks.sla")} />
              <th scope="col">{t("tasks.status")}</th>
              <SortHeader field="createdAt" label={t("tasks.created")} />
            </tr>
          </thead>
          <tbody>
            {items.map((task) => (
              <tr key={task.id} data-task-id={task.id} data-status={task.status ?? ""}>
                <td>
                  <Link href={`/app/tasks/${encodeURIComponent(task.id)}`} class="task-link">
                    {task.name || task.elementId || task.id}
                  </Link>
                  <div class="muted small">{task.processName || task.processKey}</div>
                </td>
                <td>
                  {task.businessKey || "—"}
                  {task.caseId && <div class="muted small">{task.caseId}</div>}
                </td>
                <td>{taskQueue(task) || "—"}</td>
                <td>
                  <span class={`priority p${Math.min(4, Math.floor((task.priority ?? 50) / 25))}`}>{task.priority ?? "—"}</span>
                </td>
                <td>
                  <SlaCountdown sla={task.sla} dueAt={task.dueAt} />
                </td>
                <td>
                  <StatusBadge status={task.status} />
                  {task.assignee && <div class="muted small">{task.assignee}</div>}
                </td>
                <td>{formatDateTime(task.createdAt)}</td>
              </tr>
            ))}
            {!tasks.loading && !items.length && (
              <tr>
                <td colSpan={7} class="muted empty">
                  {t("tasks.empty")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager
        page={filters.page}
        size={filters.size}
        total={tasks.data && !Array.isArray(tasks.data) ? tasks.data.total : null}
        count={items.length}
        onPage={(page) => update({ page })}
      />
    </div>
  );
}
