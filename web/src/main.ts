/** The practice dashboard: routes by the address bar's path (a reload keeps the page), the navigation,
 * sign-in, the live-connection badge and the alerts. */
import { App } from "./app";
import { clear, h } from "./dom";
import { save, signInFromLocation, signOut } from "./session";
import { tradePage } from "./pages/trade";
import { positionsPage } from "./pages/positions";
import { walletsPage } from "./pages/wallets";
import { liquidationsPage } from "./pages/liquidations";
import { reviewPage } from "./pages/review";
import { protectionPage } from "./pages/protection";

const PAGES: Record<string, [string, (app: App, root: HTMLElement) => () => void]> = {
  "/": ["Trade", tradePage], "/positions": ["Positions", positionsPage], "/wallets": ["Wallets", walletsPage],
  "/liquidations": ["Liquidations", liquidationsPage], "/review": ["Review", reviewPage],
  "/protection": ["Protection", protectionPage],
};

const creds = signInFromLocation(location, history, sessionStorage);
const app = new App(location.origin, location.origin.replace(/^http/, "ws"));
app.api.creds = creds;
(window as any).perpsim = app;       // for the console and the end-to-end tests' timing probe

const nav = h("nav", {});
const badge = h("span", { class: "badge", "data-testid": "live" });
const alerts = h("div", { class: "alerts", "data-testid": "alerts" });
const main = h("main", {});
document.body.append(h("header", {}, h("b", { class: "brand" }, "perpsim practice"), nav, badge), alerts, main);
let cleanup: (() => void) | null = null;

function renderNav() {
  clear(nav);
  for (const [path, [title]] of Object.entries(PAGES)) {
    nav.append(h("a", { href: path, "data-nav": "", class: location.pathname === path ? "on" : "" }, title));
  }
  if (app.api.creds) nav.append(h("a", { href: "#", onclick: (e: Event) => { e.preventDefault(); signOut(sessionStorage); location.reload(); } }, "Sign out"));
}

function renderBadge() {
  const s = app.stream.state;
  badge.className = `badge ${s}`;
  badge.textContent = s === "open" ? "live" : s === "connecting" ? "connecting…" : "offline, reconnecting";
  clear(alerts);
  for (const a of app.alerts) {
    alerts.append(h("div", { class: `alert ${a.kind}`, "data-testid": "alert", role: "alert" },
      h("b", {}, a.title), " ", a.text, h("button", { class: "x", onclick: () => app.dismiss(a.id) }, "×")));
  }
}

function route() {
  cleanup?.();
  clear(main);
  renderNav();
  const page = PAGES[location.pathname] ?? PAGES["/"];
  if (!app.api.creds) { main.append(signInForm()); cleanup = null; return; }
  cleanup = page[1](app, main);
}

function signInForm(): HTMLElement {
  const key = h("input", { "data-testid": "api-key", placeholder: "API key", autocomplete: "off" });
  const secret = h("input", { "data-testid": "api-secret", placeholder: "Secret key", type: "password", autocomplete: "off" });
  return h("section", { class: "panel signin" }, h("h1", {}, "Sign in"),
    h("p", {}, "Use the link `perpsim serve` prints, or paste an API key and its secret. They stay in this tab only ",
      "(sessionStorage) and sign each request in the browser."),
    key, secret, h("button", { onclick: () => { save(sessionStorage, { key: key.value.trim(), secret: secret.value.trim() }); location.reload(); } }, "Sign in"));
}

document.addEventListener("click", (e) => {
  const a = (e.target as Element).closest?.("a[data-nav]") as HTMLAnchorElement | null;
  if (!a || e.metaKey || e.ctrlKey) return;
  e.preventDefault();
  history.pushState({}, "", a.getAttribute("href")!);
  route();
});
window.addEventListener("popstate", route);
app.on(renderBadge);

app.start().then(route).catch((e) => { app.reportError(e); route(); });
