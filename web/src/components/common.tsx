// Small building blocks shared by the pages.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import { formatDateTime, t } from "../i18n";

export interface Sla {
  dueAt?: string | null;
  status?: string | null;
  remainingMinutes?: number | null;
  remainingBusinessMinutes?: number | null;
}

function durationText(minutes: number): string {
  const abs = Math.abs(Math.round(minutes));
  const days = Math.floor(abs / 1440);
  const hours = Math.floor((abs % 1440) / 60);
  const mins = abs % 60;
  if (days) return t("sla.days", { d: days, h: hours });
  if (hours) return t("sla.hours", { h: hours, m: mins });
  return t("sla.minutes", { m: mins });
}

/** The time left to a deadline, coloured by the SLA status (business time when the API gives it). */
export function SlaCountdown(props: { sla?: Sla | null; dueAt?: string | null }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
  const dueAt = props.sla?.dueAt ?? props.dueAt;
  if (!dueAt && !props.sla?.status) return <span class="muted">—</span>;
  const remaining =
    props.sla?.remainingBusinessMinutes ??
    props.sla?.remainingMinutes ??
    (dueAt ? (new Date(dueAt).getTime() - Date.now()) / 60_000 : null);
  let status = (props.sla?.status ?? "").toUpperCase();
  if (!status && remaining !== null) status = remaining < 0 ? "BREACHED" : remaining < 240 ? "AT_RISK" : "ON_TRACK";
  const css = status === "BREACHED" ? "sla-breached" : status === "AT_RISK" ? "sla-risk" : status === "MET" ? "sla-met" : "sla-ok";
  const text =
    remaining === null ? t(`sla.${status}` as never) : remaining < 0 ? t("sla.overdue", { d: durationText(remaining) }) : t("sla.left", { d: durationText(remaining) });
  return (
    <span class={`sla ${css}`} title={`${t("task.due")}: ${formatDateTime(dueAt)}`} data-sla={status}>
      {text}
    </span>
  );
}

export function ErrorNote(props: { error: unknown }) {
  if (!props.error) return null;
  const error = props.error;
  const text = error instanceof ApiError ? `${error.detail} (${error.code})` : String((error as Error).message ?? error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

/** Loads data for a page, re-running when `deps` change; `reload` refreshes on demand. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
} {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [version, setVersion] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const call = ++latest.current;
    setLoading(true);
    load()
      .then((value) => {
        if (call !== latest.current) return;
        setData(value);
        setError(null);
      })
      .catch((failure) => call === latest.current && setError(failure))
      .finally(() => call === latest.current && setLoading(false));
  }, [...deps, version]);
  return { data, error, loading, reload: () => setVersion((v) => v + 1) };
}

export function Pager(props: { page: number; size: number; total?: number | null; count: number; onPage: (page: number) => void }) {
  const last = props.total != null ? Math.max(0, Math.ceil(props.total / props.size) - 1) : null;
  const hasNext = last !== null ? props.page < last : props.count >= props.size;
  return (
    <nav class="pager" aria-label={t("common.paging")}>
      <button type="button" disabled={props.page <= 0} onClick={() => props.onPage(props.page - 1)}>
        ‹ {t("common.previous")}
      </button>
      <span>
        {t("common.pageOf", { page: props.page + 1, pages: last !== null ? last + 1 : "?" })}
        {props.total != null && ` · ${t("common.total", { n: props.total })}`}
      </span>
      <button type="button" disabled={!hasNext} onClick={() => props.onPage(props.page + 1)}>
        {t("common.next")} ›
      </button>
    </nav>
  );
}

export function StatusBadge(props: { status?: string | null }) {
  const status = (props.status ?? "").toUpperCase();
  return <span class={`status status-${status.toLowerCase()}`}>{status ? t(`status.${status}` as never) : "—"}</span>;
}

/** A modal asking for a reason (or another value) before a command. */
export function PromptDialog(props: {
  title: string;
  fields: Array<{ name: string; label: string; required?: boolean; options?: Array<{ value: string; label: string }> }>;
  submitLabel: string;
  onSubmit: (values: Record<string, string>) => Promise<void> | void;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="prompt" aria-labelledby="prompt-title" onClose={props.onClose}>
      <form
        method="dialog"
        onSubmit={async (event) => {
          event.preventDefault();
          const data = new FormData(event.currentTarget as HTMLFormElement);
          const values: Record<string, string> = {};
          data.forEach((value, key) => (values[key] = String(value)));
          setBusy(true);
          try {
            await props.onSubmit(values);
            dialog.current?.close();
          } catch (failure) {
            setError(failure);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id="prompt-title">{props.title}</h2>
        {props.fields.map((field) => (
          <label class="field" key={field.name}>
            <span>{field.label}</span>
            {field.options ? (
              <select name={field.name} required={field.required}>
                {field.options.map((option) => (
                  <option value={option.value}>{option.label}</option>
                ))}
              </select>
            ) : (
              <input name={field.name} required={field.required} />
            )}
          </label>
        ))}
        <ErrorNote error={error} />
        <div class="actions">
          <button type="button" onClick={() => dialog.current?.close()}>
            {t("common.cancel")}
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {props.submitLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren; id?: string }) {
  const id = props.id ?? `s-${props.title.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <section class="card" aria-labelledby={id}>
      <header class="card-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions && <div class="actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

export function KeyValues(props: { values: Record<string, unknown> }) {
  const entries = Object.entries(props.values ?? {});
  if (!entries.length) return <p class="muted">{t("common.none")}</p>;
  return (
    <dl class="kv">
      {entries.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)}</dd>
        </div>
      ))}
    </dl>
  );
}
