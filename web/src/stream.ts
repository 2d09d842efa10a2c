/** One combined WebSocket stream (``/stream?streams=a/b/c``, Binance's "Websocket Market Streams") for the
 * market streams and the user-data stream's listen key, reconnecting by itself: after a drop it waits
 * (0.5 s, doubling to at most ``maxDelayMs``), then opens the socket again with the same streams.
 * Messages are ``{"stream", "data"}``; ``data`` is handed to the listener of its stream name. */

export type Handler = (stream: string, data: any) => void;

export interface StreamOptions {
  url: (streams: string[]) => string;
  socket?: (url: string) => WebSocket;
  minDelayMs?: number;
  maxDelayMs?: number;
  timers?: { setTimeout: (f: () => void, ms: number) => unknown; clearTimeout: (t: any) => void };
}

export type StreamState = "connecting" | "open" | "closed";

export class StreamClient {
  private ws: WebSocket | null = null;
  private streams: string[] = [];
  private delay: number;
  private timer: unknown = null;
  private stopped = false;
  state: StreamState = "closed";
  reconnects = 0;
  onMessage: Handler = () => {};
  onState: (s: StreamState) => void = () => {};

  constructor(private opts: StreamOptions) {
    this.delay = opts.minDelayMs ?? 500;
  }

  /** Open (or reopen) with these streams. */
  start(streams: string[]): void {
    this.streams = [...streams];
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onclose = null; ws.close(); }
    this.setState("closed");
  }

  private setState(s: StreamState) {
    if (this.state !== s) { this.state = s; this.onState(s); }
  }

  private clearTimer() {
    if (this.timer !== null) { (this.opts.timers ?? globalThis).clearTimeout(this.timer as any); this.timer = null; }
  }

  private open() {
    this.clearTimer();
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    const make = this.opts.socket ?? ((u: string) => new WebSocket(u));
    const ws = make(this.opts.url(this.streams));
    this.ws = ws;
    this.setState("connecting");
    ws.onopen = () => { this.delay = this.opts.minDelayMs ?? 500; this.setState("open"); };
    ws.onmessage = (ev: MessageEvent) => {
      let msg: any;
      try { msg = JSON.parse(String(ev.data)); } catch { return; }
      if (msg && typeof msg.stream === "string") this.onMessage(msg.stream, msg.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState("closed");
      if (!this.stopped) this.schedule();
    };
  }

  private schedule() {
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs ?? 10_000);
    this.timer = (this.opts.timers ?? globalThis).setTimeout(() => {
      this.timer = null;
      this.reconnects += 1;
      this.open();
    }, wait);
  }
}
