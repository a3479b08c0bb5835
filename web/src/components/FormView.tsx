// A task form: the form-js schema the BPMN form key names, or one generated for the variables.
import { useEffect, useImperativeHandle, useRef, useState } from "preact/hooks";
import type { Ref } from "preact";
import { t } from "../i18n";

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface FormSchema {
  type?: string;
  components: any[];
  [key: string]: unknown;
}

export interface FormHandle {
  /** Validates the form; the data when valid, null (errors shown in the form) when not. */
  submit(): Record<string, unknown> | null;
}

/** A form-js schema with one field per variable, typed after its current value. */
export function generatedSchema(variables: Record<string, unknown>, names?: string[]): FormSchema {
  const keys = names && names.length ? names : Object.keys(variables);
  const components = keys.map((key) => {
    const value = variables[key];
    if (typeof value === "boolean") return { type: "checkbox", key, label: key, id: `f_${key}` };
    if (typeof value === "number") return { type: "number", key, label: key, id: `f_${key}` };
    if (typeof value === "string" && value.length > 80) {
      return { type: "textarea", key, label: key, id: `f_${key}` };
    }
    return { type: "textfield", key, label: key, id: `f_${key}` };
  });
  return { type: "default", id: "generated", schemaVersion: 16, components };
}

export function FormView(props: {
  schema: FormSchema;
  data: Record<string, unknown>;
  handle: Ref<FormHandle>;
  readOnly?: boolean;
}) {
  const container = useRef<HTMLDivElement>(null);
  const form = useRef<any>(null);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState("");

  useImperativeHandle(props.handle, () => ({
    submit() {
      if (!form.current) return null;
      const result = form.current.submit();
      return Object.keys(result.errors ?? {}).length ? null : result.data;
    },
  }));

  useEffect(() => {
    let cancelled = false;
    let instance: any = null;
    setReady(false);
    (async () => {
      const [{ Form }] = await Promise.all([
        import("@bpmn-io/form-js-viewer"),
        import("@bpmn-io/form-js-viewer/dist/assets/form-js.css"),
      ]);
      if (cancelled || !container.current) return;
      // no input debounce: a decision clicked right after typing must see what was typed
      instance = new Form({ container: container.current, debounce: false } as ConstructorParameters<typeof Form>[0]);
      await instance.importSchema(props.schema, props.data);
      if (props.readOnly) instance.setProperty("readOnly", true);
      if (cancelled) {
        instance.destroy();
        return;
      }
      form.current = instance;
      setReady(true);
    })().catch((failure) => setError(String(failure?.message ?? failure)));
    return () => {
      cancelled = true;
      form.current = null;
      instance?.destroy();
    };
  }, [JSON.stringify(props.schema), props.readOnly]);

  return (
    <div class="task-form" data-ready={ready ? "true" : "false"}>
      <div ref={container} />
      {!ready && !error && <p class="muted">{t("common.loading")}</p>}
      {error && <p class="error">{error}</p>}
    </div>
  );
}
