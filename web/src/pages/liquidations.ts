/** Liquidation history: per liquidation the direction, leverage, entry, trigger (mark) and execution
 * prices, quantity, loss, clearance fee, the wallet after, partial or full, and ADL (/perpsim/v1/liquidations,
 * the venue's records; the same orders are in /fapi/v1/forceOrders). */
import type { App } from "../app";
import { fmtMoney, fmtTime } from "../decimal";
import { clear, h, link, table } from "../dom";
import { LIQ_FAQ } from "./trade";

import { LINKS } from "../links";

const PROTOCOL_FAQ = LINKS.liquidationProtocols[0];

export function liquidationsPage(app: App, root: HTMLElement): () => void {
  const box = h("div", { class: "panel", "data-testid": "liquidations" });
  root.append(h("section", {}, h("h1", {}, "Liquidation history"), box,
    h("p", { class: "hint" }, "The trigger price is the mark price that reached your liquidation price; the execution " +
      "price is where the liquidation order filled. The clearance fee is charged on what is left of the margin (",
      link(PROTOCOL_FAQ, "Binance: Liquidation Protocols"), "; ", link(LIQ_FAQ, "How to Calculate Liquidation Price"), ").")));

  async function load() {
    const [recs, income]: any[][] = await Promise.all([app.api.signed("GET", "/perpsim/v1/liquidations"),
      app.api.signed("GET", "/fapi/v1/income", { limit: 1000 })]);
    // what the venue booked at each liquidation (realized PnL, the clearance fee and any margin left to the
    // insurance fund, Binance's INSURANCE_CLEAR), as /fapi/v1/income lists it
    const booked = (r: any) => income.filter((i) => i.time === r.time && i.symbol === r.symbol && i.incomeType !== "TRANSFER")
      .map((i) => `${i.incomeType} ${fmtMoney(i.income)}`).join("; ") || "-";
    clear(box);
    if (!recs.length) { box.append(h("p", { "data-testid": "no-liquidations" }, "No liquidation so far.")); return; }
    box.append(h("p", { class: "hint" }, "Loss is the realized loss of the closing fills plus the clearance fee; " +
      "with isolated margin, what was left of the position's margin after that may also go to the insurance fund " +
      "(the last column lists every amount booked)."), table(["Time", "Symbol", "Direction", "Leverage", "Entry", "Trigger (mark)", "Execution", "Qty", "Loss",
      "Clearance fee", "Wallet after", "Partial / full", "ADL", "Booked in income (USDT)"],
      recs.slice().reverse().map((r, i) => [fmtTime(r.time), r.symbol, h("span", { class: r.direction === "LONG" ? "pos" : "neg" }, r.direction),
        `${r.leverage}x ${r.marginType.toLowerCase()}`, fmtMoney(r.entryPrice, 2),
        h("span", { "data-testid": `liq-trigger-${i}` }, fmtMoney(r.triggerPrice)),
        h("span", { "data-testid": `liq-exec-${i}` }, fmtMoney(r.executionPrice)),
        h("span", { "data-testid": `liq-qty-${i}` }, fmtMoney(r.qty)),
        h("span", { class: "neg", "data-testid": `liq-loss-${i}` }, fmtMoney(r.loss)),
        h("span", { "data-testid": `liq-fee-${i}` }, fmtMoney(r.clearanceFee)), fmtMoney(r.walletAfter),
        r.partial ? "partial" : "full", r.adl ? `yes (${fmtMoney(r.adlQty)})` : "no",
        h("span", { class: "hint", "data-testid": `liq-income-${i}` }, booked(r))]),
      { "data-testid": "liquidations-table" }));
  }
  const off = app.onAccount(() => { load().catch(() => {}); });
  load().catch((e) => app.reportError(e));
  return () => off();
}
