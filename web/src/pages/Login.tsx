// Sign in: in development mode pick a demo user; with OIDC go through the organisation's
// identity provider (authorization code with PKCE), or paste an access token.
import { useState } from "preact/hooks";
import { setToken } from "../api";
import { ErrorNote } from "../components/common";
import { lang, setLang, t, type Lang } from "../i18n";
import { beginOidcSignIn, devLogin, devUsers, loadMe, oidcClient, type AuthConfig, type Me } from "../session";

export function LoginPage(props: { config: AuthConfig | null; onLogin: (me: Me) => void; error?: unknown }) {
  const { config } = props;
  const [error, setError] = useState<unknown>(props.error ?? null);
  const [busy, setBusy] = useState(false);
  const [userId, setUserId] = useState("");
  const [token, setTokenText] = useState("");

  const signIn = async (run: () => Promise<Me>) => {
    setBusy(true);
    setError(null);
    try {
      props.onLogin(await run());
    } catch (failure) {
      setError(failure);
      setToken(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="login-page">
      {config?.mode === "dev" && (
        <div class="dev-banner" role="note">
          {t("login.devBanner")}
        </div>
      )}
      <main id="main" class="login-card card">
        <div class="login-head">
          <h1>caseflow</h1>
          <label class="lang">
            <span class="sr-only">{t("nav.language")}</span>
            <select value={lang()} onChange={(event) => setLang((event.target as HTMLSelectElement).value as Lang)}>
              <option value="vi">Tiếng Việt</option>
              <option value="en">English</option>
            </select>
          </label>
        </div>
        <p class="muted">{t("login.subtitle")}</p>
        {!config && <p class="muted">{t("common.loading")}</p>}
        {config?.mode === "dev" && (
          <>
            <h2>{t("login.pickUser")}</h2>
            <ul class="user-picker">
              {devUsers(config).map((user) => (
                <li key={user.userId}>
                  <button
                    type="button"
                    class="user-choice"
                    data-user={user.userId}
                    disabled={busy}
                    onClick={() => signIn(() => devLogin(user.userId))}
                  >
                    <strong>
                      {user.displayName || user.name || user.userId}{" "}
                      {user.isAdmin ? <span class="tag">{t("login.admin")}</span> : user.isOperator ? <span class="tag">{t("login.operator")}</span> : null}
                    </strong>
                    {(user.displayName || user.name || user.roles?.length) && (
                      <span class="muted">
                        {user.userId}
                        {user.roles?.length ? ` · ${user.roles.join(", ")}` : ""}
                      </span>
                    )}
                    {user.description && <span class="muted small">{user.description}</span>}
                  </button>
                </li>
              ))}
            </ul>
            <form
              class="inline-form"
              onSubmit={(event) => {
                event.preventDefault();
                if (userId.trim()) void signIn(() => devLogin(userId.trim()));
              }}
            >
              <label class="field">
                <span>{t("login.userId")}</span>
                <input
                  name="userId"
                  value={userId}
                  autoComplete="username"
                  onInput={(event) => setUserId((event.target as HTMLInputElement).value)}
                />
              </label>
              <button type="submit" class="primary" disabled={busy}>
                {t("login.signIn")}
              </button>
            </form>
          </>
        )}
        {config && config.mode !== "dev" && (
          <div class="stack">
            {oidcClient(config) && (
              <>
                <p>{t("login.oidcIntro", { issuer: config.oidc?.issuer ?? "" })}</p>
                <button
                  type="button"
                  class="primary"
                  data-action="oidc-sign-in"
                  disabled={busy}
                  onClick={() => {
                    setBusy(true);
                    setError(null);
                    const next = new URLSearchParams(location.search).get("next");
                    beginOidcSignIn(config, next).catch((failure) => {
                      setError(failure);
                      setBusy(false);
                    });
                  }}
                >
                  {t("login.oidcButton")}
                </button>
              </>
            )}
            <details open={!oidcClient(config)}>
              <summary>{t("login.tokenDetails")}</summary>
              <form
                class="stack"
                onSubmit={(event) => {
                  event.preventDefault();
                  void signIn(async () => {
                    setToken(token.trim());
                    return loadMe();
                  });
                }}
              >
                {config.oidc && !oidcClient(config) && <p>{t("login.oidc", { issuer: config.oidc.issuer })}</p>}
                <label class="field">
                  <span>{t("login.token")}</span>
                  <textarea name="token" rows={4} value={token} onInput={(event) => setTokenText((event.target as HTMLTextAreaElement).value)} />
                </label>
                <button type="submit" disabled={busy || !token.trim()}>
                  {t("login.signIn")}
                </button>
              </form>
            </details>
          </div>
        )}
        <ErrorNote error={error} />
      </main>
    </div>
  );
}
