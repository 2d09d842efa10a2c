import { describe, expect, it } from "vitest";
import { fromFragment, signInFromLocation } from "../src/session";

class MemStore { m = new Map<string, string>(); getItem(k: string) { return this.m.get(k) ?? null; }
  setItem(k: string, v: string) { this.m.set(k, v); } removeItem(k: string) { this.m.delete(k); } }

describe("sign-in from the printed link", () => {
  it("reads key and secret from the fragment, stores them for the tab and clears the address bar", () => {
    expect(fromFragment("#key=K1&secret=S1")).toEqual({ key: "K1", secret: "S1" });
    expect(fromFragment("#key=K1")).toBeNull();
    const store = new MemStore();
    const replaced: string[] = [];
    const loc = { hash: "#key=K&secret=S", pathname: "/wallets", search: "" } as Location;
    const hist = { state: null, replaceState: (_s: any, _t: string, url: string) => replaced.push(url) } as any;
    expect(signInFromLocation(loc, hist, store as any)).toEqual({ key: "K", secret: "S" });
    expect(replaced).toEqual(["/wallets"]);
    const again = { hash: "", pathname: "/", search: "" } as Location;
    expect(signInFromLocation(again, hist, store as any)).toEqual({ key: "K", secret: "S" });
  });
});
