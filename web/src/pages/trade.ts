/** Trade: candles of the last price with the mark price as a line, entry / liquidation / stop prices
 * drawn; the order book and recent trades; the order ticket with the venue's risk preview before sending. */
import type { App } from "../app";
import { ApiError } from "../api";
import { PriceChart, kline } from "../chart";
import { fmtFractionPct, fmtMoney, fmtTime, sign } from "../decimal";
import { clear, h, link, table } from "../dom";

import { LINKS } from "../links";

export const LIQ_FAQ = LINKS.liquidationPrice[0];
const CONDITIONAL = ["STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"];

function sideText(o: any): string {
  return o.side + (o.positionSide && o.positionSide !== "BOTH" ? ` ${o.positionSide}` : "") + (o.reduceOnly ? " (reduce-only)" : "");
}

export function tradePage(app: App, root: HTMLElement): () => void {
  const chartBox = h("div", { class: "chart", "data-testid": "chart" });
  const book = h("div", { class: "panel book", "data-testid": "book" });
  const tape = h("div", { class: "panel tape", "data-testid": "tape" });
  const ticket = h("div", { class: "panel ticket", "data-testid": "ticket" });
  const ordersBox = h("div", { class: "panel", "data-testid": "open-orders" });
  const markBox = h("span", { class: "mark", "data-testid": "mark-price" }, "-");
  const symbolSel = h("select", { "data-testid": "symbol", onchange: () => { app.setSymbol(symbolSel.value); loadChart(); setupTicket(); } },
    ...app.symbols.map((s: any) => h("option", { value: s.symbol }, s.symbol)));
  symbolSel.value = app.symbol;
  root.append(h("section", { class: "trade" },
    h("div", { class: "main" },
      h("div", { class: "bar" }, symbolSel, h("span", { class: "label" }, "Mark price"), markBox,
        h("span", { class: "hint" }, "Liquidation is triggered by the mark price, not the last price (",
          link(LINKS.markPrice[0], "Binance: " + LINKS.markPrice[1]), "; ",
          link(LIQ_FAQ, "Binance: " + LINKS.liquidationPrice[1]), ").")),
      chartBox, h("div", { class: "row" }, book, tape), ordersBox),
    ticket));
  const chart = new PriceChart(chartBox);
  let lastKline = 0;

  async function loadChart() {
    const [k, m] = await Promise.all([
      app.api.get("/fapi/v1/klines", { symbol: app.symbol, interval: "1m", limit: 300 }),
      app.api.get("/fapi/v1/markPriceKlines", { symbol: app.symbol, interval: "1m", limit: 300 }),
    ]);
    chart.setCandles(k.map(kline));
    chart.setMarks(m.map((r: any[]) => ({ time: Math.floor(Number(r[0]) / 1000) as any, value: +r[4] })));
    lastKline = k.length ? Number(k[k.length - 1][0]) : 0;
    drawLines();
  }

  function drawLines() {
    const p = app.activePositions().find((x) => x.symbol === app.symbol);
    const stops = app.openAlgos.filter((a) => a.symbol === app.symbol && /STOP/.test(a.orderType || a.type));
    chart.setLines([
      { price: p?.entryPrice, title: "entry", color: "#58a6ff" },
      { price: p?.liquidationPrice, title: "liquidation", color: "#f6465d" },
      ...stops.map((s) => ({ price: s.triggerPrice || s.stopPrice, title: "stop", color: "#d29922" })),
    ]);
  }

  // ----------------------------------------------------------------- the order ticket
  const state = { side: "BUY", type: "MARKET" };
  const qty = h("input", { "data-testid": "qty", value: "0.01", inputmode: "decimal", oninput: () => preview() });
  const price = h("input", { "data-testid": "price", inputmode: "decimal", placeholder: "limit price", oninput: () => preview() });
  const stop = h("input", { "data-testid": "stop-price", inputmode: "decimal", placeholder: "trigger (mark) price", oninput: () => preview() });
  const callback = h("input", { "data-testid": "callback-rate", value: "1", inputmode: "decimal" });
  const stopLoss = h("input", { "data-testid": "stop-loss", inputmode: "decimal", placeholder: "optional: mark price to close at",
    oninput: () => preview() });
  const reduce = h("input", { type: "checkbox", "data-testid": "reduce-only" });
  const posSide = h("select", { "data-testid": "position-side" }, h("option", { value: "LONG" }, "LONG"),
    h("option", { value: "SHORT" }, "SHORT"));
  const typeSel = h("select", { "data-testid": "order-type", onchange: () => { state.type = typeSel.value; layout(); preview(); } },
    ...["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"].map((t) => h("option", { value: t }, t)));
  typeSel.value = state.type;
  const lev = h("input", { type: "range", min: "1", max: "125", value: "20", "data-testid": "leverage-range",
    oninput: () => { levNum.value = lev.value; } , onchange: () => applyLeverage() });
  const levNum = h("input", { type: "number", min: "1", max: "125", value: "20", "data-testid": "leverage",
    onchange: () => { lev.value = levNum.value; applyLeverage(); } });
  const levMax = h("span", { class: "hint", "data-testid": "leverage-max" });
  const isoBtn = h("button", { "data-testid": "isolated", onclick: () => setMargin("ISOLATED") }, "Isolated");
  const crossBtn = h("button", { "data-testid": "cross", onclick: () => setMargin("CROSSED") }, "Cross");
  const oneWayBtn = h("button", { "data-testid": "one-way", onclick: () => setMode(false) }, "One-way");
  const hedgeBtn = h("button", { "data-testid": "hedge", onclick: () => setMode(true) }, "Hedge");
  const buyBtn = h("button", { class: "buy", "data-testid": "side-buy", onclick: () => { state.side = "BUY"; layout(); preview(); } }, "Buy / Long");
  const sellBtn = h("button", { class: "sell", "data-testid": "side-sell", onclick: () => { state.side = "SELL"; layout(); preview(); } }, "Sell / Short");
  const previewBox = h("div", { class: "preview", "data-testid": "preview" }, "Enter a quantity to see the risk before you send.");
  const submit = h("button", { class: "submit", "data-testid": "submit", onclick: () => send() }, "Place order");
  const result = h("div", { class: "result", "data-testid": "order-result" });
  const rows = {
    price: h("label", {}, "Price", price), stop: h("label", {}, "Trigger price", stop),
    callback: h("label", {}, "Callback rate %", callback), posSide: h("label", {}, "Position side", posSide),
    stopLoss: h("label", {}, "Stop-loss (a STOP_MARKET close placed after the fill)", stopLoss),
  };
  let marginType = "CROSSED";

  ticket.append(h("h2", {}, "Order ticket"),
    h("div", { class: "seg" }, isoBtn, crossBtn), h("div", { class: "seg" }, oneWayBtn, hedgeBtn),
    h("label", {}, "Leverage ", levNum, lev, levMax),
    h("div", { class: "seg" }, buyBtn, sellBtn),
    h("label", {}, "Type", typeSel), rows.price, rows.stop, rows.callback, rows.posSide,
    h("label", {}, "Quantity", qty), rows.stopLoss,
    h("label", { class: "check" }, reduce, "Reduce-only"),
    h("h3", {}, "Before you send: the venue's risk preview"), previewBox, submit, result,
    h("p", { class: "hint" }, "Order types: ", link(LINKS.newOrder[0], "Binance API: " + LINKS.newOrder[1]),
      ". Leverage: ", link(LINKS.leverage[0], "Binance: " + LINKS.leverage[1]), ". Cost: ",
      link(LINKS.costToOpen[0], "Binance: " + LINKS.costToOpen[1]), "."));

  function layout() {
    rows.price.style.display = state.type === "LIMIT" ? "" : "none";
    rows.stop.style.display = state.type === "STOP_MARKET" || state.type === "TAKE_PROFIT_MARKET" ? "" : "none";
    rows.callback.style.display = state.type === "TRAILING_STOP_MARKET" ? "" : "none";
    rows.posSide.style.display = app.dualSide ? "" : "none";
    rows.stopLoss.style.display = state.type === "LIMIT" || state.type === "MARKET" ? "" : "none";
    buyBtn.classList.toggle("on", state.side === "BUY");
    sellBtn.classList.toggle("on", state.side === "SELL");
    isoBtn.classList.toggle("on", marginType === "ISOLATED");
    crossBtn.classList.toggle("on", marginType === "CROSSED");
    oneWayBtn.classList.toggle("on", !app.dualSide);
    hedgeBtn.classList.toggle("on", app.dualSide);
  }

  async function setupTicket() {
    if (!app.signedIn) { ticket.replaceChildren(h("p", {}, "Sign in to trade.")); return; }
    const [cfg, brackets] = await Promise.all([
      app.api.signed("GET", "/fapi/v1/symbolConfig", { symbol: app.symbol }),
      app.api.signed("GET", "/fapi/v1/leverageBracket", { symbol: app.symbol }),
    ]);
    const c = cfg[0] || {};
    marginType = c.marginType === "ISOLATED" ? "ISOLATED" : "CROSSED";
    const b = brackets[0]?.brackets || [];
    const max = b.length ? Math.max(...b.map((x: any) => Number(x.initialLeverage))) : 125;
    lev.max = levNum.max = String(max);
    levMax.textContent = ` max ${max}x (the first tier of the leverage bracket table; bigger positions allow less)`;
    lev.value = levNum.value = String(c.leverage ?? 20);
    layout();
    preview();
  }

  async function setMargin(t: string) {
    try {
      await app.api.signed("POST", "/fapi/v1/marginType", { symbol: app.symbol, marginType: t });
      marginType = t;
    } catch (e) {
      if (e instanceof ApiError && e.code === -4046) marginType = t;  // "No need to change margin type."
      else app.reportError(e);
    }
    layout(); preview();
  }

  async function setMode(dual: boolean) {
    try {
      await app.api.signed("POST", "/fapi/v1/positionSide/dual", { dualSidePosition: dual ? "true" : "false" });
      app.dualSide = dual;
      app.scheduleRefresh();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === -4059)) app.reportError(e);
    }
    layout(); preview();
  }

  async function applyLeverage() {
    try {
      const r = await app.api.signed("POST", "/fapi/v1/leverage", { symbol: app.symbol, leverage: levNum.value });
      lev.value = levNum.value = String(r.leverage);
      result.textContent = `Leverage set to ${r.leverage}x (max notional ${fmtMoney(r.maxNotionalValue)} USDT).`;
    } catch (e) { app.reportError(e); }
    preview();
  }

  let previewSeq = 0;
  async function preview() {
    const seq = ++previewSeq;
    if (!app.signedIn || !qty.value || sign(qty.value) <= 0) return;
    const stopPrice = CONDITIONAL.includes(state.type) && state.type !== "TRAILING_STOP_MARKET" ? stop.value : "";
    const isEntryStop = state.type === "STOP_MARKET" || state.type === "TAKE_PROFIT_MARKET";
    try {
      const pv = await app.api.signed("GET", "/perpsim/v1/preview", {
        symbol: app.symbol, side: state.side, quantity: qty.value,
        price: state.type === "LIMIT" ? price.value : isEntryStop ? stopPrice : "",
        leverage: levNum.value, marginType, positionSide: app.dualSide ? posSide.value : "",
        stopPrice: state.type === "LIMIT" || state.type === "MARKET" ? stopLoss.value : "",
      });
      if (seq !== previewSeq) return;
      renderPreview(pv);
    } catch (e) {
      if (seq !== previewSeq) return;
      previewBox.replaceChildren(h("div", { class: "warn" }, e instanceof ApiError ? `${e.code}: ${e.msg}` : String(e)));
    }
  }

  function renderPreview(pv: any) {
    previewBox.replaceChildren(
      table(["", ""], [
        ["Liquidation price", h("b", { "data-testid": "preview-liq", "data-value": pv.liquidationPrice ?? "" }, pv.liquidationPrice ? fmtMoney(pv.liquidationPrice, 2) : "none")],
        ["Move to liquidation", h("span", { "data-testid": "preview-move" }, pv.priceMoveToLiquidation ? fmtMoney(pv.priceMoveToLiquidation, 2) + "%" : "-")],
        ["Cost to open (margin)", h("span", { "data-testid": "preview-cost" }, `${fmtMoney(pv.orderInitialMargin, 2)} USDT`)],
        ["Fee (taker)", `${fmtMoney(pv.fee, 4)} USDT`],
        ["Share of your margin", h("span", { "data-testid": "preview-share" }, fmtFractionPct(pv.shareOfAccountMargin))],
        ["Position after", `${fmtMoney(pv.positionAfter)} @ ${fmtMoney(pv.entryPriceAfter, 2)} (${pv.marginType}, ${pv.leverage}x)`],
      ], { class: "kv" }),
      h("ul", { class: "warnings", "data-testid": "preview-warnings" },
        ...pv.warnings.map((w: any) => h("li", { "data-code": w.code }, w.msg))),
      pv.allowed ? "" : h("div", { class: "warn", "data-testid": "preview-restriction" },
        `This order would be refused: ${pv.restriction?.msg}`),
      h("p", { class: "hint" }, "Figures from the venue, computed the way Binance documents it (",
        link(LIQ_FAQ, "How to Calculate Liquidation Price"), ")."));
  }

  async function send() {
    result.textContent = "";
    const base: Record<string, any> = { symbol: app.symbol, side: state.side, type: state.type, quantity: qty.value };
    if (app.dualSide) base.positionSide = posSide.value;
    else if (reduce.checked) base.reduceOnly = "true";
    try {
      let r;
      if (CONDITIONAL.includes(state.type)) {
        const p: Record<string, any> = { ...base, algoType: "CONDITIONAL", workingType: "MARK_PRICE" };
        if (state.type === "TRAILING_STOP_MARKET") p.callbackRate = callback.value;
        else p.triggerPrice = stop.value;
        r = await app.api.signed("POST", "/fapi/v1/algoOrder", p);
        result.textContent = `Conditional order ${r.algoId} accepted: ${r.orderType ?? state.type} ${r.side} ${fmtMoney(r.quantity)}.`;
      } else {
        const p: Record<string, any> = { ...base };
        if (state.type === "LIMIT") { p.price = price.value; p.timeInForce = "GTC"; }
        r = await app.api.signed("POST", "/fapi/v1/order", { ...p, newOrderRespType: "RESULT" });
        result.textContent = `Order ${r.orderId} ${r.status}: ${r.side} ${fmtMoney(r.executedQty)} of ${fmtMoney(r.origQty)}` +
          (sign(r.avgPrice) > 0 ? ` at ${fmtMoney(r.avgPrice, 2)}` : "") + ".";
        if (stopLoss.value && !reduce.checked) {
          const sl: Record<string, any> = { symbol: app.symbol, side: state.side === "BUY" ? "SELL" : "BUY",
            type: "STOP_MARKET", algoType: "CONDITIONAL", triggerPrice: stopLoss.value, quantity: qty.value,
            workingType: "MARK_PRICE" };
          if (app.dualSide) sl.positionSide = posSide.value; else sl.reduceOnly = "true";
          try {
            const a = await app.api.signed("POST", "/fapi/v1/algoOrder", sl);
            result.textContent += ` Stop-loss ${a.algoId} set at ${fmtMoney(stopLoss.value, 2)} (mark price).`;
          } catch (e) {
            result.textContent += ` The stop-loss was refused: ${e instanceof ApiError ? e.msg : String(e)}`;
          }
        }
      }
      app.scheduleRefresh();
    } catch (e) {
      if (e instanceof ApiError && e.code === -4087) {
        result.replaceChildren(h("div", { class: "warn", "data-testid": "refused-4087" }, `Refused: ${e.msg} `),
          h("a", { href: "/protection", "data-nav": "", "data-testid": "go-quiz" }, "Take the risk test now"));
        app.emit();
        history.pushState({}, "", "/protection?quiz=1");
        window.dispatchEvent(new PopStateEvent("popstate"));
        return;
      }
      result.replaceChildren(h("div", { class: "warn", "data-testid": "order-error" },
        e instanceof ApiError ? `Refused (${e.code}): ${e.msg}` : String(e)));
    }
  }

  // ----------------------------------------------------------------- live parts
  function renderLive() {
    const m = app.marks[app.symbol];
    markBox.textContent = m ? fmtMoney(m.p, 2) : "-";
    const k = app.klines[app.symbol];
    try {   // the chart refuses points older than its last one (a stale message after a symbol switch)
      if (m) chart.markPoint(Math.floor(Number(m.E) / 1000) as any, +m.p);
      if (k && Number(k.t) >= lastKline) { chart.update(kline(k)); lastKline = Number(k.t); }
    } catch { /* drawn on the next message */ }
    const d = app.depth[app.symbol];
    clear(book);
    book.append(h("h3", {}, "Order book"));
    if (d) {
      book.append(table(["Price", "Qty"], [
        ...[...d.asks].slice(0, 8).reverse().map((a) => [h("span", { class: "ask" }, fmtMoney(a[0], 2)), fmtMoney(a[1])]),
        ...d.bids.slice(0, 8).map((b) => [h("span", { class: "bid" }, fmtMoney(b[0], 2)), fmtMoney(b[1])]),
      ], { class: "compact" }));
    }
    clear(tape);
    tape.append(h("h3", {}, "Recent trades"), table(["Price", "Qty", "Time"],
      (app.trades[app.symbol] || []).slice(0, 14).map((t) => [
        h("span", { class: t.m ? "ask" : "bid" }, fmtMoney(t.p, 2)), fmtMoney(t.q), fmtTime(t.T).slice(11)]),
      { class: "compact" }));
    clear(ordersBox);
    ordersBox.append(h("h3", {}, "Open orders"), table(["Symbol", "Type", "Side", "Price / trigger", "Qty", ""],
      [...app.openOrders.map((o) => [o.symbol, o.type, sideText(o), fmtMoney(o.price, 2), fmtMoney(o.origQty),
        h("button", { onclick: () => cancel({ symbol: o.symbol, orderId: o.orderId }, "/fapi/v1/order") }, "Cancel")]),
       ...app.openAlgos.map((a) => [a.symbol, a.orderType || a.type, sideText(a),
        sign(a.triggerPrice) > 0 ? fmtMoney(a.triggerPrice, 2) : `callback ${fmtMoney(a.callbackRate)}%`, fmtMoney(a.quantity),
        h("button", { onclick: () => cancel({ algoId: a.algoId }, "/fapi/v1/algoOrder") }, "Cancel")])]));
    drawLines();
    layout();
  }

  async function cancel(params: Record<string, any>, path: string) {
    try { await app.api.signed("DELETE", path, params); app.scheduleRefresh(); } catch (e) { app.reportError(e); }
  }

  const off = app.on(renderLive);
  loadChart().catch((e) => app.reportError(e));
  setupTicket().catch((e) => app.reportError(e));
  renderLive();
  return () => { off(); chart.destroy(); };
}
