/** Wallets: spot, funding, USDⓈ-M futures and earn, and transfers between them (Binance's universal
 * transfer). After a liquidation the page says plainly what was touched and what was not. */
import type { App } from "../app";
import { fmtMoney } from "../decimal";
import { clear, h, link, table } from "../dom";

import { LINKS } from "../links";

const ISOLATED_FAQ = LINKS.crossIsolated[0];
const TRANSFER_TYPES: Record<string, string> = {
  MAIN_UMFUTURE: "Spot → Futures", UMFUTURE_MAIN: "Futures → Spot", MAIN_FUNDING: "Spot → Funding",
  FUNDING_MAIN: "Funding → Spot", FUNDING_UMFUTURE: "Funding → Futures", UMFUTURE_FUNDING: "Futures → Funding",
};

export function walletsPage(app: App, root: HTMLElement): () => void {
  const box = h("div", { class: "panel", "data-testid": "wallets" });
  const after = h("div", { class: "panel", "data-testid": "after-liquidation" });
  const kind = h("select", { "data-testid": "transfer-type" },
    ...Object.entries(TRANSFER_TYPES).map(([k, v]) => h("option", { value: k }, v)));
  const amount = h("input", { "data-testid": "transfer-amount", value: "100", inputmode: "decimal" });
  const result = h("div", { class: "result", "data-testid": "transfer-result" });
  root.append(h("section", {}, h("h1", {}, "Wallets"), box,
    h("div", { class: "panel" }, h("h3", {}, "Transfer"), kind, amount, " USDT ",
      h("button", { "data-testid": "transfer", onclick: () => transfer() }, "Transfer"), result),
    after));

  // spot (weight 20), funding and earn (150) change only by transfers: read at load and after a transfer;
  // futures balances and the liquidations after every account event
  let spot: any = null, funding: any[] = [], earn: any = null;
  async function loadOthers() {
    [spot, funding, earn] = await Promise.all([
      app.api.signed("GET", "/api/v3/account", { omitZeroBalances: "false" }),
      app.api.signed("POST", "/sapi/v1/asset/get-funding-asset"),
      app.api.signed("GET", "/sapi/v1/simple-earn/flexible/position"),
    ]);
  }
  async function load(all = false) {
    if (all || !spot) await loadOthers();
    const [futures, liq] = await Promise.all([
      app.api.signed("GET", "/fapi/v3/balance"),
      app.api.signed("GET", "/perpsim/v1/liquidations"),
    ]);
    const row = (w: string, asset: string, amount: string, extra = "") =>
      [w, asset, h("span", { "data-testid": `wallet-${w.toLowerCase()}-${asset}` }, fmtMoney(amount)), extra];
    const rows: any[] = [];
    for (const b of spot.balances || []) rows.push(row("Spot", b.asset, b.free, sig(b.locked) ? `locked ${fmtMoney(b.locked)}` : ""));
    if (!spot.balances?.length) rows.push(row("Spot", "USDT", "0"));
    for (const b of funding) rows.push(row("Funding", b.asset, b.free));
    if (!funding.length) rows.push(row("Funding", "USDT", "0"));
    for (const b of futures) rows.push(row("Futures", b.asset, b.balance, `available ${fmtMoney(b.availableBalance)}`));
    for (const b of earn.rows || []) rows.push(row("Earn", b.asset, b.totalAmount));
    if (!earn.rows?.length) rows.push(row("Earn", "USDT", "0"));
    clear(box);
    box.append(table(["Wallet", "Asset", "Balance", ""], rows));
    clear(after);
    if (liq.length) {
      const last = liq[liq.length - 1];
      after.append(h("h3", {}, "After your last liquidation"),
        h("p", { "data-testid": "touched" }, `Touched: only the margin of your ${last.symbol} ${last.direction} position ` +
          `(${last.marginType === "ISOLATED" ? "its isolated margin" : "your cross futures wallet"}): loss ` +
          `${fmtMoney(last.loss)} USDT, futures wallet after ${fmtMoney(last.walletAfter)} USDT.`),
        h("p", { "data-testid": "untouched" }, last.marginType === "ISOLATED"
          ? "Not touched: your spot, funding and earn wallets, the rest of your futures wallet, and your other positions."
          : "Not touched: your spot, funding and earn wallets and your isolated positions. Cross margin is shared: " +
            "the cross wallet backed every cross position."),
        h("p", { class: "hint" }, "Isolated margin risks only what you put into the position (",
          link(ISOLATED_FAQ, "Binance: " + LINKS.crossIsolated[1]), ")."));
    } else {
      after.append(h("p", { class: "hint" }, "No liquidation so far. A futures liquidation only ever uses futures margin: " +
        "spot, funding and earn are never touched."));
    }
  }

  async function transfer() {
    try {
      const r = await app.api.signed("POST", "/sapi/v1/asset/transfer", { type: kind.value, asset: "USDT", amount: amount.value });
      result.textContent = `Transfer ${r.tranId} done: ${TRANSFER_TYPES[kind.value]} ${amount.value} USDT.`;
      await load(true);
    } catch (e) { app.reportError(e); }
  }

  const off = app.onAccount(() => { load().catch(() => {}); });
  load().catch((e) => app.reportError(e));
  return () => off();
}

function sig(v: string | undefined): boolean { return !!v && !/^0*\.?0*$/.test(v); }
