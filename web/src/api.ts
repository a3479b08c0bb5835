// A thin client for caseflow's HTTP API (/api/v1): bearer token, problem+json errors, paging.

const BASE = "/api/v1";
const TOKEN_KEY = "caseflow.token";

export interface Page<T> {
  items: T[];
  page: number;
  size: number;
  total?: number | null;
}

/** An RFC 9457 problem returned by the API, thrown as an Error the pages can show. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors: Array<Record<string, unknown>> = [],
  ) {
    super(detail || code || `HTTP ${status}`);
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let onUnauthenticated: () => void = () => {};
/** Called when the API answers 401 (the token expired or was never valid). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

export async function request<T>(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; form?: FormData; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders(), ...options.headers };
  let body: BodyInit | undefined;
  if (options.form) body = options.form;
  else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch(BASE + path + queryString(options.query), { method, headers, body });
  if (response.status === 204) return null as T;
  const type = response.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    if (response.status === 401 && path !== "/auth/dev-login") onUnauthenticated();
    const problem = typeof data === "object" && data ? data : {};
    throw new ApiError(
      response.status,
      String(problem.code ?? "error"),
      String(problem.detail ?? problem.title ?? (typeof data === "string" ? data : response.statusText)),
      Array.isArray(problem.errors) ? problem.errors : [],
    );
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>("GET", path, { query }),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
    request<T>("POST", path, { body: body ?? {}, headers }),
  put: <T>(path: string, body?: unknown) => request<T>("PUT", path, { body: body ?? {} }),
  patch: <T>(path: string, body?: unknown) => request<T>("PATCH", path, { body: body ?? {} }),
  del: <T>(path: string) => request<T>("DELETE", path),
  upload: <T>(path: string, form: FormData) => request<T>("POST", path, { form }),
  text: async (path: string): Promise<string> => {
    const response = await fetch(BASE + path, { headers: authHeaders() });
    if (!response.ok) throw new ApiError(response.status, "error", response.statusText);
    return response.text();
  },
};

/** Items of a list answer, whether the endpoint pages (`{items}`) or returns a bare array. */
export function itemsOf<T>(data: Page<T> | T[] | null | undefined): T[] {
  if (!data) return [];
  return Array.isArray(data) ? data : data.items ?? [];
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}
