// The live feed panel: one row per finished request as /ws/routing announces it, newest first.

import { clear, clock, el, ms, statusPill, usd } from "./format.js";

const KEEP = 60;

export class Feed {
  constructor(table, counter) {
    this.body = table.tBodies[0];
    this.counter = counter;
    this.seen = 0;
    clear(this.body, this.placeholder());
  }

  placeholder() {
    return el("tr", { class: "placeholder" }, el("td", { colspan: 7, class: "empty" },
      "Requests appear here as they finish."));
  }

  add(m) {
    if (this.seen === 0) clear(this.body);
    this.seen += 1;
    const model = m.requested_model && m.requested_model !== m.model
      ? `${m.requested_model} \u2192 ${m.model ?? "none"}` : m.model ?? m.requested_model ?? "–";
    const row = el("tr", { class: "fresh", "data-id": m.id },
      el("td", {}, clock(m.created_at)),
      el("td", {}, model, m.simulated ? el("span", { class: "pill sim", title: "simulated upstream" }, "sim") : null),
      el("td", { class: "wide-only" }, m.task ?? "–"),
      el("td", {}, statusPill(m.status, m.http_status)),
      el("td", { class: "num" }, ms(m.latency_ms)),
      el("td", { class: "num" }, usd(m.cost_usd)),
      el("td", { class: "reason wide-only" }, m.status === "success" ? m.routing_reason ?? "" : m.error ?? m.routing_reason ?? ""));
    this.body.prepend(row);
    setTimeout(() => row.classList.remove("fresh"), 1500);  // then fades (a CSS transition)
    while (this.body.rows.length > KEEP) this.body.deleteRow(-1);
    this.counter.textContent = `${this.seen} since this page opened`;
  }
}
