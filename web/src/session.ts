/** Sign-in: the API key and secret live in ``sessionStorage`` only (gone when the tab closes). A link
 * ``/#key=...&secret=...`` signs in: the fragment is never sent to the server, and it is removed from the
 * address bar as soon as it is read. */
import type { Credentials } from "./api";

const STORE = "perpsim.credentials";

export function fromFragment(hash: string): Credentials | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const key = params.get("key"), secret = params.get("secret");
  return key && secret ? { key, secret } : null;
}

export function signInFromLocation(loc: Location, hist: History, store: Storage): Credentials | null {
  const fromLink = fromFragment(loc.hash);
  if (fromLink) {
    store.setItem(STORE, JSON.stringify(fromLink));
    hist.replaceState(hist.state, "", loc.pathname + loc.search);   // the secret leaves the address bar
    return fromLink;
  }
  return load(store);
}

export function load(store: Storage): Credentials | null {
  try {
    const c = JSON.parse(store.getItem(STORE) || "null");
    return c && typeof c.key === "string" && typeof c.secret === "string" ? c : null;
  } catch { return null; }
}

export function save(store: Storage, c: Credentials): void { store.setItem(STORE, JSON.stringify(c)); }
export function signOut(store: Storage): void { store.removeItem(STORE); }
