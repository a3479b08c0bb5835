// Who is signed in: the API's auth config, the token and the principal behind it.
import { api, setToken } from "./api";

export interface DevUser {
  userId: string;
  displayName?: string | null;
  name?: string | null;
  roles?: string[];
  groups?: string[];
  description?: string | null;
  isAdmin?: boolean;
  isOperator?: boolean;
}

export interface AuthConfig {
  mode: "dev" | "oidc" | string;
  devUsers: Array<DevUser | string> | null;
  oidc: { issuer: string; clientId: string } | null;
}

export interface Me {
  userId: string;
  displayName?: string | null;
  groups: string[];
  roles: string[];
  isAdmin: boolean;
  isOperator: boolean;
  queues?: Array<{ id: string; name: string } | string>;
}

export async function loadConfig(): Promise<AuthConfig> {
  const config = await api.get<AuthConfig>("/auth/config");
  if (config.mode === "dev" && config.devUsers?.length) {
    // names and roles of the offered users (caseflow.web); the bare ids will do without them
    config.devUsers = await api.get<DevUser[]>("/web/dev-users").catch(() => config.devUsers);
  }
  return config;
}

/** The development users offered on the login page (the API lists ids, or richer records). */
export function devUsers(config: AuthConfig | null): DevUser[] {
  return (config?.devUsers ?? []).map((user) => (typeof user === "string" ? { userId: user } : user));
}

export async function loadMe(): Promise<Me> {
  return api.get<Me>("/auth/me");
}

export async function devLogin(userId: string): Promise<Me> {
  const answer = await api.post<{ token: string; user: Me }>("/auth/dev-login", { userId });
  setToken(answer.token);
  return loadMe();
}

export function logout(): void {
  setToken(null);
}

export function queueNames(me: Me | null): Array<{ id: string; name: string }> {
  return (me?.queues ?? []).map((queue) =>
    typeof queue === "string" ? { id: queue, name: queue } : { id: queue.id, name: queue.name ?? queue.id },
  );
}
