// Live updates from /api/v1/events/stream (server-sent events). Read with fetch rather than
// EventSource so the bearer token travels in a header; reconnects with Last-Event-ID.
import { authHeaders } from "./api";

export interface LiveEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

type Listener = (event: LiveEvent) => void;
const listeners = new Set<Listener>();
let controller: AbortController | null = null;
let lastEventId = "";
let status: "off" | "connecting" | "live" | "unavailable" = "off";
const statusListeners = new Set<(s: typeof status) => void>();

function setStatus(next: typeof status) {
  status = next;
  statusListeners.forEach((listener) => listener(next));
}

export function liveStatus(): typeof status {
  return status;
}

export function onLiveStatus(listener: (s: typeof status) => void): () => void {
  statusListeners.add(listener);
  return () => void statusListeners.delete(listener);
}

function dispatch(block: string) {
  let type = "message";
  let id = "";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (id) lastEventId = id;
  if (!data.length) return;
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    parsed = { text: data.join("\n") };
  }
  const eventType = type !== "message" ? type : String(parsed.type ?? parsed.eventType ?? "message");
  listeners.forEach((listener) => listener({ id, type: eventType, data: parsed }));
}

async function run(signal: AbortSignal) {
  let delay = 1000;
  while (!signal.aborted) {
    setStatus("connecting");
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream", ...authHeaders() };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch("/api/v1/events/stream", { headers, signal });
      if (response.status === 404 || response.status === 401 || response.status === 403) {
        setStatus("unavailable");
        return; // no stream on this server (or not for this user): the pages poll instead
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setStatus("live");
      delay = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (failure) {
      if (signal.aborted) return;
    }
    setStatus("connecting");
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30_000);
  }
}

export function startLive(): void {
  if (controller) return;
  controller = new AbortController();
  void run(controller.signal);
}

export function stopLive(): void {
  controller?.abort();
  controller = null;
  setStatus("off");
}

export function onLiveEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}
