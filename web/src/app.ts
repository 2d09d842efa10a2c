/** The page's state, kept as the venue sent it: REST reads after each user-data event, and the market
 * streams for prices. Nothing is computed here: positions, balances and margin figures are the venue's. */
import { Api, ApiError } from "./api";
import { StreamClient } from "./stream";
import { fmtFractionPct, fmtMoney } from "./decimal";

export interface Alert { id: number; kind: "info" | "warn" | "danger"; title: string; text: string; time: number }

type Listener = () => void;

export const SYMBOLS_DEFAULT = ["BTCUSDT", "ETHUSDT", "XRPUSDT"];

export class App {
  api: Api;
  stream: StreamClient;
  listenKey = "";
  symbol = "BTCUSDT";
  symbols: any[] = [];
  marks: Record<string, any> = {};
  depth: Record<string, { bids: string[][]; asks: string[][] }> = {};
  trades: Record<string, any[]> = {};
  klines: Record<string, any> = {};
  positions: any[] = [];
  account: any = null;
  openOrders: any[] = [];
  openAlgos: any[] = [];
  alerts: Alert[] = [];
  signedIn = false;
  dualSide = false;
  firstMarkAt = 0;
  private listeners = new Set<Listener>();
  private alertId = 0;
  private seenNotifications: Set<string> | null = null;
  private refreshTimer: number | null = null;
  private keepAlive: number | null = null;

  constructor(base: string, wsBase: string) {
    this.api = new Api(base);
    this.stream = new StreamClient({ url: (s) => `${wsBase}/stream?streams=${s.join("/")}` });
    this.stream.onMessage = (name, data) => this.onStream(name, data);
    this.stream.onState = () => this.emit();
  }

  private accountListeners = new Set<Listener>();
  /** Any change (prices included). */
  on(f: Listener): () => void { this.listeners.add(f); return () => this.listeners.delete(f); }
  /** After the account was re-read (a user-data event). */
  onAccount(f: Listener): () => void { this.accountListeners.add(f); return () => this.accountListeners.delete(f); }
  emit(): void { for (const f of [...this.listeners]) f(); }

  alert(kind: Alert["kind"], title: string, text: string): void {
    if (this.alerts.some((a) => a.title === title && a.text === text)) return;   // once while it is shown
    const id = ++this.alertId;
    this.alerts = [...this.alerts.slice(-4), { id, kind, title, text, time: Date.now() }];
    if (kind !== "danger") window.setTimeout(() => this.dismiss(id), 60_000);   // notices fade; dangers stay
    this.emit();
  }
  dismiss(id: number): void { this.alerts = this.alerts.filter((a) => a.id !== id); this.emit(); }

  async start(): Promise<void> {
    await this.api.syncTime();
    const info = await this.api.get("/fapi/v1/exchangeInfo");
    this.symbols = (info.symbols || []).filter((s: any) => s.status === "TRADING");
    for (const m of await this.api.get("/fapi/v1/premiumIndex")) {   // until the stream's first push
      this.marks[m.symbol] = { s: m.symbol, p: m.markPrice, E: m.time, i: m.indexPrice, r: m.lastFundingRate };
    }
    if (this.api.creds) {
      const r = await this.api.signed("POST", "/fapi/v1/listenKey", {}, false);
      this.listenKey = r.listenKey;
      this.signedIn = true;
      this.keepAlive = window.setInterval(() => {
        this.api.signed("PUT", "/fapi/v1/listenKey", {}, false).catch(() => {});
      }, 30 * 60 * 1000);
      this.dualSide = Boolean((await this.api.signed("GET", "/fapi/v1/positionSide/dual")).dualSidePosition);
      await this.refreshAccount();
      const notes: any[] = await this.api.signed("GET", "/perpsim/v1/notifications", { limit: 1000 });
      this.seenNotifications = new Set(notes.map((n) => JSON.stringify(n)));
    }
    this.connect();
  }

  streamNames(): string[] {
    const out: string[] = [];
    for (const s of this.symbols.map((x: any) => x.symbol.toLowerCase())) out.push(`${s}@markPrice@1s`);
    const s = this.symbol.toLowerCase();
    out.push(`${s}@depth10@500ms`, `${s}@aggTrade`, `${s}@kline_1m`);
    if (this.listenKey) out.push(this.listenKey);
    return out;
  }

  connect(): void { this.stream.start(this.streamNames()); }

  setSymbol(symbol: string): void {
    if (symbol === this.symbol) return;
    this.symbol = symbol;
    this.connect();
    this.emit();
  }

  private onStream(name: string, d: any): void {
    if (name.endsWith("@markPrice@1s")) {
      this.marks[d.s] = d;
      if (!this.firstMarkAt) this.firstMarkAt = performance.now();
    } else if (name.includes("@depth")) {
      this.depth[this.symbol] = { bids: d.b, asks: d.a };
    } else if (name.endsWith("@aggTrade")) {
      this.trades[d.s] = [d, ...(this.trades[d.s] || [])].slice(0, 30);
    } else if (name.includes("@kline_")) {
      this.klines[d.s] = d.k;
    } else if (name === this.listenKey) {
      this.onUserEvent(d);
    }
    this.emit();
  }

  private onUserEvent(d: any): void {
    if (d.e === "MARGIN_CALL") {
      const syms = (d.p || []).map((p: any) => `${p.s} ${p.ps}`).join(", ");
      this.alert("warn", "Margin call", `Your margin is running low${syms ? " on " + syms : ""}. Add margin or ` +
        "reduce the position before the mark price reaches the liquidation price.");
    } else if (d.e === "ORDER_TRADE_UPDATE" && d.o && String(d.o.c).startsWith("autoclose-") && d.o.X === "FILLED") {
      this.alert("danger", "Liquidated", `Your ${d.o.s} position was liquidated: ${d.o.S} ${fmtMoney(d.o.z)} at ` +
        `${fmtMoney(d.o.ap)}. See Liquidations and Review for what happened.`);
    } else if (d.e === "ORDER_TRADE_UPDATE" && d.o && String(d.o.c).startsWith("adl_autoclose")) {
      this.alert("danger", "Auto-deleveraged", `Your ${d.o.s} position was reduced by auto-deleveraging.`);
    } else if (d.e === "listenKeyExpired") {
      this.api.signed("POST", "/fapi/v1/listenKey", {}, false).then((r) => { this.listenKey = r.listenKey; this.connect(); });
    }
    if (d.e === "ACCOUNT_UPDATE" || d.e === "ORDER_TRADE_UPDATE" || d.e === "MARGIN_CALL" ||
        d.e === "ACCOUNT_CONFIG_UPDATE" || d.e === "ALGO_UPDATE") {
      this.scheduleRefresh();
    }
  }

  /** Re-read the account after a user-data event (coalesced). */
  scheduleRefresh(): void {
    if (this.refreshTimer !== null) return;
    this.refreshTimer = window.setTimeout(() => {
      this.refreshTimer = null;
      this.refreshAccount().catch((e) => this.reportError(e));
    }, 150);
  }

  async refreshAccount(): Promise<void> {
    if (!this.api.creds) return;
    // request weights (Binance's limits apply): account 5, positionRisk 5, open orders 1 + 1; the position
    // mode (30) is read once at sign-in and after the page changes it
    const [account, positions, orders, algos] = await Promise.all([
      this.api.signed("GET", "/fapi/v2/account"),
      this.api.signed("GET", "/fapi/v2/positionRisk"),
      this.api.signed("GET", "/fapi/v1/openOrders"),
      this.api.signed("GET", "/fapi/v1/openAlgoOrders"),
    ]);
    this.account = account;
    this.positions = positions;
    this.openOrders = orders;
    this.openAlgos = Array.isArray(algos) ? algos : (algos?.orders || []);
    await this.checkNotifications();
    this.emit();
    for (const f of [...this.accountListeners]) f();
  }

  /** The venue's protection notices (liquidation notices, risk controls, limits), shown once each. */
  async checkNotifications(): Promise<void> {
    const seen = this.seenNotifications;
    if (!seen) return;
    const notes: any[] = await this.api.signed("GET", "/perpsim/v1/notifications", { limit: 1000 });
    for (const n of notes) {
      const id = JSON.stringify(n);
      if (seen.has(id)) continue;
      seen.add(id);
      const text = noticeText(n);
      if (text) this.alert(n.kind === "RESTRICTION" ? (n.active ? "danger" : "info") : "warn", noticeTitle(n), text);
    }
  }

  reportError(e: unknown): void {
    if (e instanceof ApiError) this.alert("danger", `Refused (${e.code})`, e.msg);
    else this.alert("danger", "Error", String(e));
  }

  activePositions(): any[] {
    return this.positions.filter((p) => p.positionAmt && !/^-?0*\.?0*$/.test(p.positionAmt));
  }

  symbolInfo(symbol = this.symbol): any {
    return this.symbols.find((s: any) => s.symbol === symbol);
  }

  tickSize(symbol = this.symbol): string {
    return this.symbolInfo(symbol)?.filters?.find((f: any) => f.filterType === "PRICE_FILTER")?.tickSize ?? "0.01";
  }
}

function noticeTitle(n: any): string {
  const t: Record<string, string> = {
    MARGIN_ALERT: "Margin alert", LIQUIDATION_PRICE_ALERT: "Close to liquidation", MARGIN_CALL: "Margin call",
    RESTRICTION: n.active ? "Protection: trading restricted" : "Protection: restriction lifted", APPEAL: "Appeal decided",
  };
  return t[n.kind] || String(n.kind);
}

/** The text of a venue notice (null: shown elsewhere: the liquidation alert comes from the order stream,
 * margin calls from the MARGIN_CALL event). */
function noticeText(n: any): string | null {
  switch (n.kind) {
    case "LIQUIDATION": case "MARGIN_CALL": return null;
    case "RESTRICTION": return `${n.restriction}: ${n.reason}` + (n.until ? ` (until ${new Date(n.until).toISOString()})` : "");
    case "MARGIN_ALERT": return `${n.symbol || "Cross"} margin ratio reached ${fmtFractionPct(n.marginRatio)}.`;
    case "LIQUIDATION_PRICE_ALERT": return `${n.symbol}${n.positionSide === "BOTH" ? "" : " " + n.positionSide}: the mark ` +
      `price ${fmtMoney(n.markPrice, 2)} is ${fmtMoney(n.distance, 2)}% from the liquidation price ${fmtMoney(n.liquidationPrice, 2)}.`;
    case "APPEAL": return n.reason || (n.granted ? "Granted." : "Refused.");
    default: return n.msg || n.reason || null;
  }
}
