// A BPMN diagram (bpmn-js NavigatedViewer, loaded on demand) with markers and per-element counts.
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";

export interface ElementCounts {
  active?: number;
  incidents?: number;
}

export interface DiagramProps {
  xml: string | null;
  /** Elements where the work stands now (a user task being looked at, the instance's tokens). */
  current?: string[];
  active?: string[];
  completed?: string[];
  failed?: string[];
  counts?: Record<string, ElementCounts>;
  /** Validation problems to pin on the diagram. */
  problems?: Array<{ elementId?: string | null; message: string }>;
  label: string;
  height?: number;
  onElementClick?: (elementId: string) => void;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export function Diagram(props: DiagramProps) {
  const container = useRef<HTMLDivElement>(null);
  const viewer = useRef<any>(null);
  const [state, setState] = useState<"loading" | "ready" | "error">("loading");
  const [error, setError] = useState("");
  const clickRef = useRef(props.onElementClick);
  clickRef.current = props.onElementClick;

  useEffect(() => {
    let cancelled = false;
    let instance: any = null;
    setState("loading");
    if (!props.xml) return;
    (async () => {
      const [{ default: Viewer }] = await Promise.all([
        import("bpmn-js/lib/NavigatedViewer"),
        import("bpmn-js/dist/assets/diagram-js.css"),
        import("bpmn-js/dist/assets/bpmn-js.css"),
      ]);
      if (cancelled || !container.current) return;
      instance = new (Viewer as any)({ container: container.current });
      try {
        await instance.importXML(props.xml);
      } catch (failure) {
        if (!cancelled) {
          setError(String((failure as Error).message ?? failure));
          setState("error");
        }
        return;
      }
      if (cancelled) return;
      instance.get("canvas").zoom("fit-viewport", "auto");
      instance.get("eventBus").on("element.click", (event: any) => {
        const id = event.element?.businessObject?.id ?? event.element?.id;
        if (id && clickRef.current) clickRef.current(id);
      });
      viewer.current = instance;
      setState("ready");
    })().catch((failure) => {
      if (!cancelled) {
        setError(String(failure));
        setState("error");
      }
    });
    return () => {
      cancelled = true;
      viewer.current = null;
      instance?.destroy();
    };
  }, [props.xml]);

  const decorations = JSON.stringify([
    props.current, props.active, props.completed, props.failed, props.counts, props.problems,
  ]);
  useEffect(() => {
    const instance = viewer.current;
    if (state !== "ready" || !instance) return;
    const canvas = instance.get("canvas");
    const overlays = instance.get("overlays");
    const registry = instance.get("elementRegistry");
    const all = registry.getAll();
    for (const element of all) {
      for (const marker of ["cf-current", "cf-active", "cf-completed", "cf-failed", "cf-problem"]) {
        canvas.removeMarker(element, marker);
      }
    }
    overlays.remove({ type: "cf-count" });
    const mark = (ids: string[] | undefined, marker: string) => {
      for (const id of ids ?? []) if (registry.get(id)) canvas.addMarker(id, marker);
    };
    mark(props.completed, "cf-completed");
    mark(props.active, "cf-active");
    mark(props.failed, "cf-failed");
    mark(props.current, "cf-current");
    for (const [id, counts] of Object.entries(props.counts ?? {})) {
      if (!registry.get(id)) continue;
      if (counts.active) {
        overlays.add(id, "cf-count", {
          position: { bottom: 12, left: -8 },
          html: `<span class="cf-badge cf-badge-active" title="${t("diagram.tokens")}">${counts.active}</span>`,
        });
      }
      if (counts.incidents) {
        overlays.add(id, "cf-count", {
          position: { bottom: 12, right: 8 },
          html: `<span class="cf-badge cf-badge-incident" title="${t("diagram.incidents")}">${counts.incidents}</span>`,
        });
      }
    }
    for (const problem of props.problems ?? []) {
      if (!problem.elementId || !registry.get(problem.elementId)) continue;
      canvas.addMarker(problem.elementId, "cf-problem");
      const note = document.createElement("span");
      note.className = "cf-badge cf-badge-problem";
      note.textContent = "!";
      note.title = problem.message;
      overlays.add(problem.elementId, "cf-count", { position: { top: -10, right: 10 }, html: note });
    }
  }, [state, decorations]);

  const marked = (props.current ?? []).join(" ");
  return (
    <div class="diagram-frame">
      <div
        ref={container}
        class="diagram"
        style={{ height: `${props.height ?? 380}px` }}
        role="figure"
        aria-label={props.label}
        data-state={state}
        data-current={marked}
      />
      {state === "loading" && props.xml && <p class="muted diagram-note">{t("common.loading")}</p>}
      {!props.xml && <p class="muted diagram-note">{t("diagram.none")}</p>}
      {state === "error" && <p class="error diagram-note">{t("diagram.error")}: {error}</p>}
    </div>
  );
}
