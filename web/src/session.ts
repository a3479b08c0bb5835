// Who is signed in: the API's auth config, the token and the principal behind it.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
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
  oidc: { issuer: string; clientId: string | null; scope?: string; audience?: string | null } | null;
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

// --- OIDC: the authorization-code flow with PKCE (oidc-client-ts) ---------------------------

/** Where the identity provider sends the browser back with the code. */
export const CALLBACK_PATH = "/app/auth/callback";

let manager: UserManager | null = null;

/** The sign-in client for this provider, or null when the server names none (no client id). */
export function oidcClient(config: AuthConfig | null): UserManager | null {
  const oidc = config?.mode === "oidc" ? config.oidc : null;
  if (!oidc?.issuer || !oidc.clientId) return null;
  if (manager) return manager;
  manager = new UserManager({
    authority: oidc.issuer,
    client_id: oidc.clientId,
    redirect_uri: `${location.origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${location.origin}/app/login`,
    response_type: "code", // with PKCE (S256): the library makes the verifier and challenge
    scope: oidc.scope || "openid profile email",
    // providers that issue API tokens per audience want it named (others ignore it)
    extraQueryParams: oidc.audience ? { audience: oidc.audience } : {},
    // the session's tokens live as long as the tab: nothing left behind in localStorage
    userStore: new WebStorageStateStore({ store: sessionStorage }),
    // renewed with the refresh token when the provider gives one
    automaticSilentRenew: true,
  });
  manager.events.addUserLoaded((user: User) => setToken(user.access_token));
  return manager;
}

/** Off to the identity provider; it comes back to CALLBACK_PATH. ``next``: where to go then. */
export async function beginOidcSignIn(config: AuthConfig, next: string | null): Promise<void> {
  const client = oidcClient(config);
  if (!client) throw new Error("this server names no OIDC client for the web app");
  await client.signinRedirect({ state: { next } });
}

let completing: Promise<{ me: Me; next: string | null }> | null = null;

/** Back from the provider: trade the code (and the PKCE verifier) for tokens, once. */
export function completeOidcSignIn(config: AuthConfig): Promise<{ me: Me; next: string | null }> {
  completing ??= (async () => {
    const client = oidcClient(config);
    if (!client) throw new Error("this server names no OIDC client for the web app");
    // the provider refused (the user said no, the client is not allowed, ...): say what it said
    const answer = new URLSearchParams(location.search);
    const refused = answer.get("error");
    if (refused) {
      await client.clearStaleState().catch(() => undefined);
      const detail = answer.get("error_description");
      throw new Error(detail ? `${detail} (${refused})` : refused);
    }
    const user = await client.signinRedirectCallback();
    setToken(user.access_token);
    const state = (user.state ?? {}) as { next?: string | null };
    return { me: await loadMe(), next: state.next ?? null };
  })();
  const running = completing;
  running.catch(() => (completing = null));
  return running;
}

/** Forget the token here (the API said 401, or the user signs out). */
export function logout(): void {
  setToken(null);
  void manager?.removeUser();
}

/** Sign out, and end the provider's session too when it offers that (RP-initiated logout). */
export async function signOut(config: AuthConfig | null): Promise<boolean> {
  const client = oidcClient(config);
  const user = client ? await client.getUser() : null;
  setToken(null);
  if (!client || !user) return false;
  const ends = await client.metadataService.getEndSessionEndpoint().catch(() => undefined);
  if (!ends) {
    await client.removeUser();
    return false;
  }
  await client.signoutRedirect({ id_token_hint: user.id_token });
  return true;
}

export function queueNames(me: Me | null): Array<{ id: string; name: string }> {
  return (me?.queues ?? []).map((queue) =>
    typeof queue === "string" ? { id: queue, name: queue } : { id: queue.id, name: queue.name ?? queue.id },
  );
}
