/** Positions: size, entry, mark, liquidation price, margin ratio as a gauge, UPNL, ADL quantile; add or
 * remove isolated margin; close. Every figure is the venue's (positionRisk, account, adlQuantile). */
import type { App } from "../app";
import { fmtFractionPct, fmtMoney, sign } from "../decimal";
import { clear, h, link, table } from "../dom";
import { LIQ_FAQ } from "./trade";

import { LINKS } from "../links";

const ADL_FAQ = LINKS.adl[0];
const MARGIN_RATIO_FAQ = LINKS.walletBalance[0];

/** A gauge of a fraction from the venue ("0.35" -> 35% full); the width is drawing only. */
export function gauge(fraction: string | null | undefined): HTMLElement {
  const pct = fraction ? Math.max(0, Math.min(100, Number(fraction) * 100)) : 0;
  const level = pct >= 80 ? "danger" : pct >= 50 ? "warn" : "ok";
  return h("div", { class: `gauge ${level}`, title: fmtFractionPct(fraction ?? "0") },
    h("div", { class: "fill", style: `width:${pct}%` }), h("span", {}, fmtFractionPct(fraction ?? "0")));
}

export function positionsPage(app: App, root: HTMLElement): () => void {
  const box = h("div", { class: "panel", "data-testid": "positions" });
  const note = h("div", { class: "result", "data-testid": "positions-result" });
  const amount = h("input", { class: "small", value: "10", inputmode: "decimal", "data-testid": "margin-amount" });
  root.append(h("section", {}, h("h1", {}, "Positions"), box,
    h("div", { class: "panel" }, "Isolated margin to add or remove: ", amount, " USDT (the Add / Remove buttons of each isolated position)"),
    note,
    h("p", { class: "hint" }, "Margin ratio = maintenance margin / margin balance; at 100% the position is liquidated (",
      link(MARGIN_RATIO_FAQ, "Binance: " + LINKS.walletBalance[1]), "; ", link(LIQ_FAQ, "liquidation price"), "; ",
      link(ADL_FAQ, "auto-deleveraging"), ").")));
  let adl: Record<string, any> = {};
  let ratios: Record<string, string> = {};

  async function loadExtras() {
    const [q, mr] = await Promise.all([app.api.signed("GET", "/fapi/v1/adlQuantile"),
      app.api.signed("GET", "/perpsim/v1/marginRatio")]);
    adl = Object.fromEntries(q.map((r: any) => [r.symbol, r.adlQuantile]));
    ratios = Object.fromEntries(mr.positions.map((p: any) => [`${p.symbol}:${p.positionSide}`, p.marginRatio ?? ""]));
    render();
  }

  function render() {
    clear(box);
    const rows = app.activePositions().map((p) => {
      const q = adl[p.symbol];
      const quant = q ? (q[p.positionSide] ?? q.LONG ?? q.BOTH ?? "") : "";
      const isolated = p.marginType === "isolated" || p.marginType === "ISOLATED";
      const ratio = ratios[`${p.symbol}:${p.positionSide}`];
      return [
        h("b", {}, `${p.symbol} ${p.positionSide !== "BOTH" ? p.positionSide : sign(p.positionAmt) > 0 ? "LONG" : "SHORT"}`),
        h("span", { "data-testid": `size-${p.symbol}` }, fmtMoney(p.positionAmt)),
        fmtMoney(p.entryPrice, 2), h("span", { "data-testid": `mark-${p.symbol}` }, fmtMoney(p.markPrice, 2)),
        h("span", { class: "liq", "data-testid": `liq-${p.symbol}` }, fmtMoney(p.liquidationPrice, 2)),
        h("div", { "data-testid": `ratio-${p.symbol}`, "data-value": ratio ?? "" }, gauge(ratio || null)),
        h("span", { class: sign(p.unRealizedProfit) < 0 ? "neg" : "pos" }, fmtMoney(p.unRealizedProfit, 2)),
        `${p.leverage}x ${isolated ? "isolated" : "cross"}` + (isolated ? ` (margin ${fmtMoney(p.isolatedWallet ?? p.isolatedMargin, 2)})` : ""),
        String(quant === "" ? "-" : quant),
        h("div", { class: "actions" },
          isolated && h("button", { "data-testid": `add-margin-${p.symbol}`, onclick: () => margin(p, amount.value, 1) }, "Add"),
          isolated && h("button", { onclick: () => margin(p, amount.value, 2) }, "Remove"),
          h("button", { class: "sell", "data-testid": `close-${p.symbol}`, onclick: () => close(p) }, "Close")),
      ];
    });
    box.append(rows.length ? table(["Position", "Size", "Entry", "Mark", "Liq. price", "Margin ratio", "UPNL (USDT)",
      "Leverage", "ADL", ""], rows) : h("p", { "data-testid": "no-positions" }, "No open positions."));
  }

  async function margin(p: any, amount: string, type: number) {
    try {
      await app.api.signed("POST", "/fapi/v1/positionMargin", { symbol: p.symbol, amount, type,
        positionSide: p.positionSide });
      note.textContent = `${type === 1 ? "Added" : "Removed"} ${amount} USDT ${type === 1 ? "to" : "from"} ${p.symbol}'s isolated margin.`;
      app.scheduleRefresh();
    } catch (e) { app.reportError(e); }
  }

  async function close(p: any) {
    const params: Record<string, any> = { symbol: p.symbol, type: "MARKET", newOrderRespType: "RESULT",
      side: sign(p.positionAmt) > 0 ? "SELL" : "BUY", quantity: p.positionAmt.replace("-", "") };
    if (p.positionSide !== "BOTH") params.positionSide = p.positionSide; else params.reduceOnly = "true";
    try {
      const r = await app.api.signed("POST", "/fapi/v1/order", params);
      note.textContent = `Close order ${r.orderId}: ${r.status}, ${fmtMoney(r.executedQty)} at ${fmtMoney(r.avgPrice, 2)}.`;
      app.scheduleRefresh();
    } catch (e) { app.reportError(e); }
  }

  const off = app.on(() => { render(); });
  const offAccount = app.onAccount(() => { loadExtras().catch(() => {}); });
  const timer = window.setInterval(() => loadExtras().catch(() => {}), 5000);
  loadExtras().catch((e) => app.reportError(e));
  return () => { off(); offAccount(); clearInterval(timer); };
}
