// The shell: who is signed in, the navigation, and which page the address shows.
import { useEffect, useState } from "preact/hooks";
import { getToken, setUnauthenticatedHandler } from "./api";
import { lang, onLangChange, setLang, t, type Lang } from "./i18n";
import { Link, match, navigate, useLocation } from "./router";
import {
  CALLBACK_PATH,
  completeOidcSignIn,
  loadConfig,
  loadMe,
  logout,
  signOut,
  type AuthConfig,
  type Me,
} from "./session";
import { liveStatus, onLiveStatus, startLive, stopLive } from "./events";
import { LoginPage } from "./pages/Login";
import { TaskListPage } from "./pages/TaskList";
import { TaskPage } from "./pages/Task";
import { DefinitionsPage, DefinitionPage } from "./pages/Definitions";
import { InstancesPage, InstancePage } from "./pages/Instances";
import { AdminPage } from "./pages/Admin";
import { DashboardsPage } from "./pages/Dashboards";

export function App() {
  const [, rerender] = useState(0);
  const [config, setConfig] = useState<AuthConfig | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  const [checked, setChecked] = useState(false);
  const [signInError, setSignInError] = useState<unknown>(null);
  const [live, setLive] = useState(liveStatus());
  const { path } = useLocation();

  useEffect(() => onLangChange(() => rerender((n) => n + 1)), []);
  useEffect(() => onLiveStatus(setLive), []);
  useEffect(() => {
    setUnauthenticatedHandler(() => {
      logout();
      stopLive();
      setMe(null);
      navigate("/app/login", true);
    });
    loadConfig().then(setConfig, () => setConfig({ mode: "unknown", devUsers: null, oidc: null }));
    if (getToken()) {
      loadMe()
        .then(setMe, () => logout())
        .finally(() => setChecked(true));
    } else setChecked(true);
  }, []);
  useEffect(() => {
    if (me) startLive();
  }, [me]);
  // back from the identity provider with a code (or an error): finish signing in
  const callback = path === CALLBACK_PATH;
  useEffect(() => {
    if (!callback || !config || !checked) return;
    if (me) {
      navigate(landing(null), true); // signed in already (the back button): nothing to trade
      return;
    }
    completeOidcSignIn(config).then(
      (done) => {
        setMe(done.me);
        navigate(landing(done.next), true);
      },
      (failure) => {
        setSignInError(failure);
        navigate("/app/login", true);
      },
    );
  }, [callback, config, checked]);

  if (!checked || (callback && !signInError)) return <p class="muted boot">{t(callback ? "login.completing" : "common.loading")}</p>;

  if (!me || path === "/app/login") {
    return (
      <LoginPage
        config={config}
        error={signInError}
        onLogin={(user) => {
          setMe(user);
          navigate(landing(new URLSearchParams(location.search).get("next")), true);
        }}
      />
    );
  }

  const nav = [
    { href: "/app/tasks", label: t("nav.tasks"), show: true },
    { href: "/app/monitoring/definitions", label: t("nav.monitoring"), show: me.isOperator || me.isAdmin },
    { href: "/app/dashboards", label: t("nav.dashboards"), show: me.isOperator || me.isAdmin },
    { href: "/app/admin", label: t("nav.admin"), show: me.isAdmin },
  ];
  const section = path.split("/")[2] ?? "tasks";

  return (
    <div class="shell">
      <a class="skip" href="#main">
        {t("nav.skip")}
      </a>
      {config?.mode === "dev" && (
        <div class="dev-banner" role="note">
          {t("login.devBanner")}
        </div>
      )}
      <header class="topbar">
        <Link href="/app/tasks" class="brand">
          caseflow
        </Link>
        <nav aria-label={t("nav.main")}>
          <ul>
            {nav
              .filter((item) => item.show)
              .map((item) => (
                <li key={item.href}>
                  <Link href={item.href} aria-current={item.href.split("/")[2] === section ? "page" : undefined}>
                    {item.label}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
        <div class="topbar-right">
          <span class={`live live-${live}`} title={t(`live.${live}` as never)}>
            <span class="dot" aria-hidden="true" /> {t(`live.${live}` as never)}
          </span>
          <label class="lang">
            <span class="sr-only">{t("nav.language")}</span>
            <select value={lang()} onChange={(event) => setLang((event.target as HTMLSelectElement).value as Lang)}>
              <option value="vi">Tiếng Việt</option>
              <option value="en">English</option>
            </select>
          </label>
          <span class="who" data-user={me.userId}>
            {me.displayName || me.userId}
          </span>
          <button
            type="button"
            onClick={() => {
              stopLive();
              void signOut(config).then((leaving) => {
                if (leaving) return; // off to the identity provider, which sends us back
                setMe(null);
                navigate("/app/login");
              });
            }}
          >
            {t("nav.logout")}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} me={me} />
      </main>
    </div>
  );
}

function Page(props: { path: string; me: Me }) {
  const { path, me } = props;
  let params: Record<string, string> | null;
  if (path === "/" || path === "/app" || path === "/app/" || path === "/app/tasks") return <TaskListPage me={me} />;
  if ((params = match("/app/tasks/:id", path))) return <TaskPage id={params.id} me={me} />;
  if (path === "/app/monitoring" || path === "/app/monitoring/definitions") return <DefinitionsPage />;
  if ((params = match("/app/monitoring/definitions/:id", path))) return <DefinitionPage id={params.id} />;
  if (path === "/app/monitoring/instances") return <InstancesPage />;
  if ((params = match("/app/monitoring/instances/:id", path))) return <InstancePage id={params.id} me={me} />;
  if (path === "/app/dashboards") return <DashboardsPage />;
  if (path === "/app/admin" || path.startsWith("/app/admin/")) return <AdminPage path={path} />;
  return (
    <div class="card">
      <h1>{t("common.notFound")}</h1>
      <Link href="/app/tasks">{t("nav.tasks")}</Link>
    </div>
  );
}

/** Where to go after signing in: the page asked for (one of ours), or the task list. */
function landing(next: string | null): string {
  return next && next.startsWith("/app/") && next !== "/app/login" && next !== CALLBACK_PATH ? next : "/app/tasks";
}
