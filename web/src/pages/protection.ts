/** Protection: the risk test as a quiz (an order refused with -4087 brings it), cooling-off, the personal
 * leverage cap and daily-loss limit, and the appeal form. The venue grades and decides. */
import type { App } from "../app";
import { fmtMoney, fmtTime } from "../decimal";
import { clear, h, link } from "../dom";

import { LINKS } from "../links";

const RESPONSIBLE = LINKS.riskControl[0];
const LIQ_PROTOCOL = LINKS.liquidationProtocols[0];

export function protectionPage(app: App, root: HTMLElement): () => void {
  const statusBox = h("div", { class: "panel", "data-testid": "status" });
  const quizBox = h("div", { class: "panel", "data-testid": "quiz" });
  const limitsBox = h("div", { class: "panel", "data-testid": "limits" });
  const appealBox = h("div", { class: "panel", "data-testid": "appeals" });
  root.append(h("section", {}, h("h1", {}, "Protection"), statusBox, quizBox, limitsBox, appealBox,
    h("p", { class: "hint" }, "Tools to trade responsibly, like ", link(RESPONSIBLE, "Binance: " + LINKS.riskControl[1]), ".")));

  // the quiz box's state: a status reload only offers the test while nothing else is shown there
  let quiz: "idle" | "starting" | "active" | "result" = "idle";

  async function loadStatus() {
    const st = await app.api.signed("GET", "/perpsim/v1/status");
    clear(statusBox);
    const f = st.futures;
    statusBox.append(h("h3", {}, "What you may do now"),
      h("p", { "data-testid": "can-open" }, f.canOpen ? "You may open positions." : "Opening positions is restricted."),
      h("ul", {}, ...f.restrictions.map((r: any) => h("li", { class: "warn" },
        `${r.type}: ${r.msg}${r.until ? ` (until ${fmtTime(r.until)})` : ""}`))),
      h("p", {}, `Max leverage now ${f.maxLeverage}x. Risk test: ${st.riskTest.required ? "required (" + st.riskTest.reason + ")" : "not required"}; ` +
        `passed ${st.riskTest.passed}, failed ${st.riskTest.failed}. Liquidations: ${st.liquidations.total}.`));
    if (quiz === "idle") {
      clear(quizBox);
      if (st.riskTest.required) renderQuizStart(st.riskTest.reason);
      else quizBox.append(h("h3", {}, "Risk test"), h("p", {}, "No risk test is required."));
    }
    const sp = st.selfProtection;
    clear(limitsBox);
    const lev = h("input", { class: "small", "data-testid": "cap-leverage", value: sp.maxLeverage || "" });
    const loss = h("input", { class: "small", "data-testid": "daily-loss", value: sp.dailyLossLimit && sp.dailyLossLimit !== "0" ? sp.dailyLossLimit : "" });
    const period = h("select", { "data-testid": "cooling-period" }, h("option", { value: "24H" }, "24 hours"), h("option", { value: "1W" }, "1 week"));
    const res = h("div", { class: "result", "data-testid": "limits-result" });
    limitsBox.append(h("h3", {}, "Your own limits"),
      h("p", {}, `Cooling-off: ${sp.coolingOffUntil ? "until " + fmtTime(sp.coolingOffUntil) : "off"}. Leverage cap: ` +
        `${sp.maxLeverage ? sp.maxLeverage + "x" : "none"}. Daily-loss limit: ${sp.dailyLossLimit && sp.dailyLossLimit !== "0" ? fmtMoney(sp.dailyLossLimit) + " USDT" : "none"} ` +
        `(lost today ${fmtMoney(sp.lossToday)} USDT).`),
      h("label", {}, "Cooling-off (no new positions) ", period,
        h("button", { "data-testid": "cooling-off", onclick: () => call("/perpsim/v1/coolingOff", { period: period.value }, res) }, "Start")),
      h("label", {}, "Max leverage ", lev, " daily-loss limit (USDT) ", loss,
        h("button", { "data-testid": "set-limits", onclick: () => call("/perpsim/v1/limits",
          { maxLeverage: lev.value || undefined, dailyLossLimit: loss.value || undefined }, res) }, "Set")), res);
  }

  function renderQuizStart(reason: string) {
    quizBox.append(h("h3", {}, "Risk test required"),
      h("p", { class: "warn" }, `Opening positions needs the futures risk test again: ${reason}.`),
      h("button", { "data-testid": "start-quiz", onclick: () => startQuiz() }, "Start the risk test"));
  }

  async function startQuiz() {
    quiz = "starting";
    let q: any;
    try { q = await app.api.signed("POST", "/perpsim/v1/riskTest"); }
    catch (e) { quiz = "idle"; app.reportError(e); return; }
    quiz = "active";
    clear(quizBox);
    const form = h("form", { "data-testid": "quiz-form", onsubmit: (ev: Event) => { ev.preventDefault(); submitQuiz(q.questions, form); } },
      ...q.questions.map((x: any, i: number) => h("fieldset", { "data-qid": x.id, "data-testid": `question-${i}` },
        h("legend", {}, `${i + 1}. ${x.text}`),
        ...x.options.map((o: string, j: number) => h("label", { class: "option" },
          h("input", { type: "radio", name: `q${i}`, value: String(j), required: true }), o)))),
      h("button", { type: "submit", "data-testid": "submit-quiz" }, "Submit answers"));
    quizBox.append(h("h3", {}, "Risk test"), h("p", { class: "hint" }, "Answer every question; all must be right. ",
      link(LIQ_PROTOCOL, "Binance: Liquidation Protocols")), form);
  }

  async function submitQuiz(questions: any[], form: HTMLFormElement) {
    const answers = questions.map((_q, i) => Number((form.querySelector(`input[name=q${i}]:checked`) as HTMLInputElement)?.value ?? -1));
    try {
      const r = await app.api.signed("POST", "/perpsim/v1/riskTest/answers", { answers: JSON.stringify(answers) });
      quiz = "result";
      clear(quizBox);
      quizBox.append(h("h3", {}, "Risk test"), r.passed
        ? h("p", { class: "pos", "data-testid": "quiz-passed" }, `Passed (${r.correct} of ${r.total}). You may open positions again.`)
        : h("div", {}, h("p", { class: "neg", "data-testid": "quiz-failed" }, `Not passed: ${r.correct} of ${r.total} right. ` +
            "Opening positions stays restricted; read the questions again and retake the test."),
          h("button", { "data-testid": "retake-quiz", onclick: () => startQuiz() }, "Retake the test")));
      await loadStatus();
    } catch (e) { app.reportError(e); }
  }

  async function loadAppeals() {
    const recs: any[] = await app.api.signed("GET", "/perpsim/v1/liquidations");
    clear(appealBox);
    const sel = h("select", { "data-testid": "appeal-liquidation" }, ...recs.map((r) =>
      h("option", { value: `${r.symbol}|${r.time}` }, `${fmtTime(r.time)} ${r.symbol} ${r.direction} loss ${fmtMoney(r.loss)}`)));
    const res = h("div", { class: "result", "data-testid": "appeal-result" });
    appealBox.append(h("h3", {}, "Appeal a liquidation"),
      h("p", { class: "hint" }, "Only a liquidation caused by a venue fault (a stale or outlying price feed, an outage) " +
        "is compensated; a normal liquidation is not."),
      recs.length ? h("div", {}, sel, h("button", { "data-testid": "appeal", onclick: async () => {
        const [symbol, time] = sel.value.split("|");
        try {
          const d = await app.api.signed("POST", "/perpsim/v1/appeals", { symbol, liquidationTime: time });
          res.textContent = `${d.granted ? "Granted" : "Refused"}: ${d.reason}` + (d.granted ? ` (compensation ${fmtMoney(d.amount)} USDT)` : "");
        } catch (e) { app.reportError(e); }
      } }, "Appeal")) : h("p", {}, "No liquidation to appeal."), res);
  }

  async function call(path: string, params: Record<string, any>, res: HTMLElement) {
    try { await app.api.signed("POST", path, params); res.textContent = "Saved."; await loadStatus(); }
    catch (e) { app.reportError(e); }
  }

  const wantQuiz = new URLSearchParams(location.search).get("quiz") === "1";
  loadStatus().then(() => { if (wantQuiz && quiz === "idle" && quizBox.querySelector("[data-testid=start-quiz]")) startQuiz(); })
    .catch((e) => app.reportError(e));
  loadAppeals().catch((e) => app.reportError(e));
  return () => {};
}
