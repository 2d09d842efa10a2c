import { describe, expect, it } from "vitest";
import { StreamClient } from "../src/stream";

class FakeSocket {
  static all: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  closed = false;
  constructor(public url: string) { FakeSocket.all.push(this); }
  close() { this.closed = true; }
  drop() { this.onclose?.(); }
}

function fakeTimers() {
  const pending: { f: () => void; ms: number }[] = [];
  return {
    pending,
    setTimeout: (f: () => void, ms: number) => { const t = { f, ms }; pending.push(t); return t; },
    clearTimeout: (t: any) => { const i = pending.indexOf(t); if (i >= 0) pending.splice(i, 1); },
    fire() { const t = pending.shift()!; t.f(); return t.ms; },
  };
}

describe("the stream client", () => {
  it("reconnects after a drop with the same streams, backing off and resetting on open", () => {
    FakeSocket.all = [];
    const timers = fakeTimers();
    const c = new StreamClient({ url: (s) => `ws://x/stream?streams=${s.join("/")}`, socket: (u) => new FakeSocket(u) as any,
      minDelayMs: 500, maxDelayMs: 2000, timers });
    const got: [string, any][] = [];
    c.onMessage = (s, d) => got.push([s, d]);
    c.start(["btcusdt@markPrice@1s", "LK"]);
    const first = FakeSocket.all[0];
    expect(first.url).toBe("ws://x/stream?streams=btcusdt@markPrice@1s/LK");
    first.onopen!();
    expect(c.state).toBe("open");
    first.onmessage!({ data: JSON.stringify({ stream: "btcusdt@markPrice@1s", data: { p: "60000.1" } }) });
    expect(got).toEqual([["btcusdt@markPrice@1s", { p: "60000.1" }]]);

    first.drop();
    expect(c.state).toBe("closed");
    expect(timers.fire()).toBe(500);
    expect(FakeSocket.all.length).toBe(2);
    FakeSocket.all[1].drop();                  // fails again before opening: the wait doubles
    expect(timers.fire()).toBe(1000);
    FakeSocket.all[2].drop();
    expect(timers.fire()).toBe(2000);
    FakeSocket.all[3].drop();
    expect(timers.fire()).toBe(2000);          // capped
    const s = FakeSocket.all[4];
    expect(s.url).toBe(first.url);
    s.onopen!();
    s.drop();
    expect(timers.fire()).toBe(500);           // an open resets the wait
    expect(c.reconnects).toBe(5);
  });

  it("does not reconnect after stop, and ignores frames that are not stream messages", () => {
    FakeSocket.all = [];
    const timers = fakeTimers();
    const c = new StreamClient({ url: () => "ws://x", socket: (u) => new FakeSocket(u) as any, timers });
    const got: any[] = [];
    c.onMessage = (_s, d) => got.push(d);
    c.start(["a"]);
    FakeSocket.all[0].onmessage!({ data: "not json" });
    FakeSocket.all[0].onmessage!({ data: JSON.stringify({ result: null, id: 1 }) });
    expect(got).toEqual([]);
    c.stop();
    expect(FakeSocket.all[0].closed).toBe(true);
    expect(timers.pending.length).toBe(0);
  });
});
