// One task: the case's variables, the diagram with the current step, history, comments, the form
// with its outcome buttons, and the hand-over commands (claim, delegate, reassign, escalate).
import { useRef, useState } from "preact/hooks";
import { ApiError, api, itemsOf, newIdempotencyKey, type Page } from "../api";
import { Diagram } from "../components/Diagram";
import { FormView, generatedSchema, type FormHandle, type FormSchema } from "../components/FormView";
import { ErrorNote, KeyValues, PromptDialog, Section, SlaCountdown, StatusBadge, useLoad } from "../components/common";
import { formatDateTime, t, type MessageKey } from "../i18n";
import { Link, navigate } from "../router";
import type { Me } from "../session";
import { activeIds, taskInstanceId, taskQueue, type HistoryEntry, type Instance, type Task } from "../types";

const KNOWN_OUTCOMES = ["approve", "reject", "return", "forward", "complete"];

function outcomeValue(outcome: NonNullable<Task["outcomes"]>[number]): { value: string; label: string } {
  if (typeof outcome === "string") return { value: outcome, label: outcome };
  const value = String(outcome.value ?? outcome.id ?? outcome.name ?? "");
  return { value, label: String(outcome.label ?? outcome.name ?? value) };
}

function outcomeLabel(value: string, fallback: string): string {
  const key = value.toLowerCase();
  return KNOWN_OUTCOMES.includes(key) ? t(`outcome.${key}` as MessageKey) : fallback;
}

/** The task's form-js schema: the deployed form its BPMN form key names, else none (the page
 * then generates one for the task's variables). */
async function loadForm(task: Task): Promise<FormSchema | null> {
  if (!task.formKey) return null;
  try {
    const schema = await api.get<FormSchema>(`/forms/${encodeURIComponent(task.formKey)}`);
    return schema && Array.isArray(schema.components) ? schema : null;
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 404) return null;
    throw failure;
  }
}

export function TaskPage(props: { id: string; me: Me }) {
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [dialog, setDialog] = useState<"" | "delegate" | "reassign" | "escalate" | "cancel">("");
  const [completed, setCompleted] = useState<{ outcome: string } | null>(null);
  const [comment, setComment] = useState("");
  const formHandle = useRef<FormHandle>(null);
  const path = `/tasks/${encodeURIComponent(props.id)}`;

  // the task and its form schema load together: the form never flashes a generated stand-in
  const loaded = useLoad(async () => {
    const found = await api.get<Task>(path);
    return { task: found, schema: await loadForm(found) };
  }, [props.id, version]);
  const task = { ...loaded, data: loaded.data?.task ?? null };
  const instanceId = task.data ? taskInstanceId(task.data) : null;
  const instance = useLoad(
    () => (instanceId ? api.get<Instance>(`/process-instances/${encodeURIComponent(instanceId)}`).catch(() => null) : Promise.resolve(null)),
    [instanceId, version],
  );
  const definitionId = task.data?.definitionId ?? instance.data?.definitionId ?? null;
  const xml = useLoad(
    () => (definitionId ? api.text(`/definitions/${encodeURIComponent(definitionId)}/xml`) : Promise.resolve(null)),
    [definitionId],
  );
  const history = useLoad(() => api.get<Page<HistoryEntry> | HistoryEntry[]>(`${path}/history`).catch(() => []), [props.id, version]);

  const run = async (action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
      setVersion((v) => v + 1);
    } catch (failure) {
      setError(failure);
    }
  };

  if (task.error) return <ErrorNote error={task.error} />;
  if (!task.data) return <p class="muted">{t("common.loading")}</p>;
  const data = task.data;
  const mine = data.assignee === props.me.userId;
  const open = ["OPEN", "CLAIMED", "DELEGATED", "ESCALATED", "CREATED", "ASSIGNED"].includes((data.status ?? "OPEN").toUpperCase());
  const outcomes = (data.outcomes ?? []).map(outcomeValue).filter((outcome) => outcome.value);
  const variables = { ...(instance.data?.variables ?? {}), ...(data.variables ?? {}) };
  const schema = loaded.data?.schema ?? generatedSchema(data.variables ?? {});
  const current = completed ? activeIds(instance.data) : [data.elementId ?? data.taskDefinitionKey ?? ""].filter(Boolean);

  const complete = async (outcome: string) => {
    const formData = formHandle.current?.submit();
    if (formData === null || formData === undefined) {
      setError(new Error(t("task.formInvalid")));
      return;
    }
    await run(async () => {
      const body: Record<string, unknown> = { variables: formData, formData };
      if (outcome) body.outcome = outcome;
      await api.post(`${path}/complete`, body, { "Idempotency-Key": newIdempotencyKey() });
      setCompleted({ outcome });
    });
  };

  const historyItems = itemsOf(history.data as Page<HistoryEntry> | HistoryEntry[] | null);
  return (
    <div class="page task-page" data-task-status={completed ? "COMPLETED" : data.status ?? ""}>
      <nav class="crumbs" aria-label={t("nav.breadcrumb")}>
        <Link href="/app/tasks">{t("tasks.title")}</Link> ›
      </nav>
      <div class="page-head">
        <div>
          <h1>{data.name || data.elementId}</h1>
          <p class="muted">
            {data.processName || data.processKey}
            {data.businessKey && ` · ${data.businessKey}`}
            {data.caseId && ` · ${t("task.case")} ${data.caseId}`}
          </p>
        </div>
        <div class="head-facts">
          <StatusBadge status={completed ? "COMPLETED" : data.status} />
          <SlaCountdown sla={data.sla} dueAt={data.dueAt} />
        </div>
      </div>
      <ErrorNote error={error} />
      {completed && (
        <p class="notice success" role="status" data-completed="true">
          {t("task.completedNote", { outcome: completed.outcome ? outcomeLabel(completed.outcome, completed.outcome) : t("outcome.complete") })}{" "}
          <Link href="/app/tasks">{t("task.backToList")}</Link>
        </p>
      )}
      <div class="grid-2">
        <div class="stack">
          <Section title={t("task.form")} id="task-form">
            {!completed && open ? (
              <>
                {!mine && (
                  <p class="notice">
                    {data.assignee ? t("task.assignedTo", { user: data.assignee }) : t("task.claimFirst")}
                  </p>
                )}
                <FormView schema={schema} data={variables} handle={formHandle} readOnly={!mine} />
                <div class="actions outcome-actions" role="group" aria-label={t("task.outcomes")}>
                  {!data.assignee && (
                    <button type="button" class="primary" onClick={() => run(() => api.post(`${path}/claim`))}>
                      {t("task.claim")}
                    </button>
                  )}
                  {mine && outcomes.length === 0 && (
                    <button type="button" class="primary" data-outcome="" onClick={() => complete("")}>
                      {t("outcome.complete")}
                    </button>
                  )}
                  {mine &&
                    outcomes.map((outcome) => (
                      <button
                        type="button"
                        key={outcome.value}
                        data-outcome={outcome.value}
                        class={`outcome outcome-${outcome.value.toLowerCase()}`}
                        onClick={() => complete(outcome.value)}
                      >
                        {outcomeLabel(outcome.value, outcome.label)}
                      </button>
                    ))}
                </div>
              </>
            ) : (
              <KeyValues values={variables} />
            )}
          </Section>
          {!completed && open && (
            <Section title={t("task.handOver")}>
              <div class="actions wrap">
                {mine && (
                  <button type="button" onClick={() => run(() => api.post(`${path}/unclaim`))}>
                    {t("task.unclaim")}
                  </button>
                )}
                <button type="button" onClick={() => setDialog("delegate")}>
                  {t("task.delegate")}
                </button>
                <button type="button" onClick={() => setDialog("reassign")}>
                  {t("task.reassign")}
                </button>
                <button type="button" onClick={() => setDialog("escalate")}>
                  {t("task.escalate")}
                </button>
              </div>
            </Section>
          )}
          <Section title={t("task.details")}>
            <dl class="kv">
              <div><dt>{t("tasks.queue")}</dt><dd>{taskQueue(data) || "—"}</dd></div>
              <div><dt>{t("task.assignee")}</dt><dd>{data.assignee || "—"}</dd></div>
              <div><dt>{t("tasks.priority")}</dt><dd>{data.priority ?? "—"}</dd></div>
              <div><dt>{t("task.due")}</dt><dd>{formatDateTime(data.sla?.dueAt ?? data.dueAt)}</dd></div>
              <div><dt>{t("tasks.created")}</dt><dd>{formatDateTime(data.createdAt)}</dd></div>
              {instanceId && (props.me.isOperator || props.me.isAdmin) && (
                <div><dt>{t("task.instance")}</dt><dd><Link href={`/app/monitoring/instances/${encodeURIComponent(instanceId)}`}>{instanceId}</Link></dd></div>
              )}
            </dl>
          </Section>
        </div>
        <div class="stack">
          <Section title={t("task.diagram")}>
            <Diagram
              xml={xml.data ?? null}
              current={current}
              active={activeIds(instance.data)}
              label={t("task.diagramLabel", { step: data.name ?? "" })}
              height={320}
            />
          </Section>
          <Section title={t("task.variables")}>
            <KeyValues values={variables} />
          </Section>
          <Section title={t("task.history")}>
            <ol class="timeline">
              {historyItems.map((entry, index) => (
                <li key={entry.id ?? index}>
                  <span class="when">{formatDateTime(entry.at ?? entry.actionAt ?? entry.createdAt ?? entry.startedAt)}</span>{" "}
                  <strong>{entry.action ?? entry.type}</strong>{" "}
                  <span class="muted">{entry.actor ?? entry.actionBy ?? entry.userId ?? ""}</span>
                  {(entry.comment ?? entry.text) && <blockquote>{entry.comment ?? entry.text}</blockquote>}
                </li>
              ))}
              {!historyItems.length && <li class="muted">{t("common.none")}</li>}
            </ol>
            <form
              class="stack"
              onSubmit={(event) => {
                event.preventDefault();
                if (!comment.trim()) return;
                void run(async () => {
                  await api.post(`${path}/comments`, { text: comment.trim() });
                  setComment("");
                });
              }}
            >
              <label class="field">
                <span>{t("task.comment")}</span>
                <textarea name="comment" rows={2} value={comment} onInput={(event) => setComment((event.target as HTMLTextAreaElement).value)} />
              </label>
              <div class="actions">
                <button type="submit">{t("task.addComment")}</button>
              </div>
            </form>
          </Section>
        </div>
      </div>
      {dialog === "delegate" && (
        <PromptDialog
          title={t("task.delegate")}
          fields={[{ name: "userId", label: t("task.toUser"), required: true }]}
          submitLabel={t("task.delegate")}
          onClose={() => setDialog("")}
          onSubmit={async (values) => {
            await api.post(`${path}/delegate`, { userId: values.userId });
            setVersion((v) => v + 1);
          }}
        />
      )}
      {dialog === "reassign" && (
        <PromptDialog
          title={t("task.reassign")}
          fields={[{ name: "userId", label: t("task.toUser"), required: true }]}
          submitLabel={t("task.reassign")}
          onClose={() => setDialog("")}
          onSubmit={async (values) => {
            await api.post(`${path}/reassign`, { userId: values.userId });
            setVersion((v) => v + 1);
          }}
        />
      )}
      {dialog === "escalate" && (
        <PromptDialog
          title={t("task.escalate")}
          fields={[
            { name: "reason", label: t("common.reason"), required: true },
            { name: "toUser", label: t("task.toUserOptional") },
            { name: "toQueue", label: t("task.toQueueOptional") },
          ]}
          submitLabel={t("task.escalate")}
          onClose={() => setDialog("")}
          onSubmit={async (values) => {
            await api.post(`${path}/escalate`, {
              reason: values.reason,
              toUser: values.toUser || undefined,
              toQueue: values.toQueue || undefined,
            });
            setVersion((v) => v + 1);
            if (values.toUser || values.toQueue) navigate("/app/tasks");
          }}
        />
      )}
    </div>
  );
}
