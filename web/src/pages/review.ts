/** Review: per liquidation the questions and the venue's answers (/perpsim/v1/reviews), the actual loss
 * rate, the cumulative table, the death-spiral patterns, the recommendations, and the price path around
 * the liquidation (mark-price klines) with entry, liquidation and stop drawn. */
import type { App } from "../app";
import { PriceChart, kline } from "../chart";
import { fmtMoney, fmtTime } from "../decimal";
import { clear, h, link, table } from "../dom";
import { LIQ_FAQ } from "./trade";

import { LINKS } from "../links";

const RISK_FAQ = LINKS.leverage[0];

export function reviewPage(app: App, root: HTMLElement): () => void {
  const box = h("div", { "data-testid": "review" });
  root.append(h("section", {}, h("h1", {}, "Review"), box));
  const charts: PriceChart[] = [];

  async function load() {
    const rv = await app.api.signed("GET", "/perpsim/v1/reviews");
    seen = rv.liquidations.length;
    for (const c of charts.splice(0)) c.destroy();
    clear(box);
    const s = rv.summary;
    box.append(h("div", { class: "panel" }, h("p", { "data-testid": "review-summary" },
      `${s.count} liquidation(s), total loss ${fmtMoney(s.totalLoss)} USDT; ${s.withoutStopLoss} without a stop-loss, ` +
      `${s.highLeverage} at high leverage, ${s.impulse} opened on impulse.`), h("p", { class: "advice" }, s.advice)));
    for (const r of rv.liquidations.slice().reverse()) box.append(card(r));
    if (rv.cumulative.length) {
      box.append(h("div", { class: "panel" }, h("h3", {}, "Cumulative effect of the liquidations"),
        table(["Liquidations", "Position size (margin)", "Total invested", "Remaining"], rv.cumulative.map((c: any) =>
          [String(c.liquidations), fmtMoney(c.positionMargin), fmtMoney(c.totalInvested), fmtMoney(c.remaining)]),
        { "data-testid": "cumulative" })));
    }
    if (rv.quitSignals.length) {
      box.append(h("div", { class: "panel danger", "data-testid": "quit-signals" }, h("h3", {}, "Quit signals"),
        h("ul", {}, ...rv.quitSignals.map((q: any) => h("li", {}, q.msg))), h("p", {}, h("b", {}, "Please stop trading futures."),
          " Shift to:"), h("ul", {}, ...rv.alternatives.map((a: string) => h("li", {}, a)))));
    }
    if (!rv.liquidations.length) box.append(h("p", { "data-testid": "no-review" }, "No liquidation to review."));
  }

  function card(r: any): HTMLElement {
    const lev = r.leverage ? `${r.leverage}x${r.leverageEstimated ? " (estimated)" : ""}` : "unknown";
    const chartBox = h("div", { class: "chart small" });
    const el = h("div", { class: "panel review-card", "data-testid": `review-${r.n}` },
      h("h3", {}, `#${r.n} ${r.symbol} ${r.direction} liquidated ${fmtTime(r.time)} (opened ${fmtTime(r.openTime)})`),
      table(["Question", "Answer"], [
        ["What was the leverage?", h("span", { class: r.highLeverage ? "neg" : "pos", "data-testid": "q-leverage" }, lev)],
        ["What share of the total margin was in it?", h("span", { "data-testid": "q-share" },
          `${r.shareOfMargin ?? "unknown"} of ${fmtMoney(r.walletBeforeEntry)} USDT${r.overloaded ? " (overloaded)" : ""}`)],
        ["Was a stop-loss set?", h("span", { "data-testid": "q-stop" }, (r.stopLoss.set ? "yes" : "no") +
          (r.stopLoss.beyondLiquidation ? " (beyond the liquidation price: useless)" : ""))],
        ["With or against the trend?", h("span", { "data-testid": "q-trend" }, `${r.trend.verdict}: ${r.trend.why}`)],
        ["Impulse or planned?", h("span", { "data-testid": "q-entry" }, r.entry.verdict +
          r.entry.signals.map((x: any) => ` · ${x.msg}`).join(""))],
        ["Did funding fees accumulate?", `paid ${fmtMoney(r.funding.paid)}, received ${fmtMoney(r.funding.received)}`],
        ["Margin type", r.marginType], ["Initial margin", fmtMoney(r.initialMargin)],
        ["Equity at liquidation", fmtMoney(r.equityAtLiquidation)],
        ["Loss (fees included)", h("span", { "data-testid": "q-loss" }, `${fmtMoney(r.loss)} USDT`)],
        ["Actual loss rate", h("b", { "data-testid": "q-loss-rate" }, r.lossRate ?? "-")],
        ["Death-spiral patterns", h("span", { "data-testid": "q-spiral" },
          [...(r.entry.patterns || []), ...(r.entry.deathSpiral || [])].join(", ") || "none found")],
        ["Typical failure", (r.typicalFailure || []).join(", ") || "-"],
        ["Appeal", r.appeal?.why ?? "-"],
      ], { class: "kv" }),
      h("h4", {}, "Recommendations"), h("ul", { "data-testid": "recommendations" }, ...r.recommendations.map((x: string) => h("li", {}, x))),
      h("h4", {}, "Price path (mark price) around the liquidation"), chartBox,
      h("p", { class: "hint" }, link(LIQ_FAQ, "How Binance calculates the liquidation price"), " · ",
        link(RISK_FAQ, "Binance: " + LINKS.leverage[1])));
    queueMicrotask(() => drawPath(r, chartBox));
    return el;
  }

  async function drawPath(r: any, el: HTMLElement) {
    const rows = await app.api.get("/fapi/v1/markPriceKlines", { symbol: r.symbol, interval: "1m",
      startTime: Math.max(0, Number(r.openTime) - 30 * 60_000), endTime: Number(r.time) + 30 * 60_000, limit: 500 });
    const c = new PriceChart(el, 220);
    charts.push(c);
    c.setCandles(rows.map(kline));
    c.setLines([{ price: r.entryPrice, title: "entry", color: "#58a6ff" },
      { price: r.liquidationPrice, title: "liquidation", color: "#f6465d" },
      ...(r.stopLoss.orders || []).map((s: any) => ({ price: s.trigger, title: "stop", color: "#d29922" }))]);
    c.chart.timeScale().fitContent();
  }

  // the review (weight 50) is read again only when a liquidation was added
  let seen = -1;
  const off = app.onAccount(() => {
    app.api.signed("GET", "/perpsim/v1/liquidations").then((l: any[]) => {
      if (l.length !== seen) { seen = l.length; return load(); }
    }).catch(() => {});
  });
  load().catch((e) => app.reportError(e));
  return () => { off(); for (const c of charts) c.destroy(); };
}
