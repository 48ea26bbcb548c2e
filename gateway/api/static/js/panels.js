// Every panel but the charts and the feed: summary tiles, the routing matrix, recent routing,
// circuits, budgets, experiments, and the banner that says when answers are simulated.

import { PALETTE, seriesName } from "./charts.js";
import { clear, clock, count, el, ms, pct, statusPill, usd } from "./format.js";

const $ = (id) => document.getElementById(id);
const WINDOW_WORDS = { "5m": "5 minutes", "15m": "15 minutes", "1h": "hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days" };

function tile(id, value, sub, tone) {
  $(id).textContent = value;
  $(id).className = `value ${tone || ""}`;
  $(`${id}-sub`).textContent = sub || "";
}

export function showTiles(window, series, latency) {
  const s = series.total.sum;
  // The rate since the first busy bucket: a gateway that started a minute ago is not idle.
  const first = series.total.requests.findIndex((n) => n > 0);
  const perBucket = { "10s": 1 / 6, "1m": 1, "10m": 10, "1h": 60, "1d": 1440 }[series.bucket];
  const minutes = (series.buckets.length - Math.max(first, 0)) * perBucket;
  tile("t-spend", usd(s.cost_usd), `in the last ${WINDOW_WORDS[window]}`);
  tile("t-requests", count(s.requests), s.requests ? `${(s.requests / Math.max(minutes, perBucket)).toFixed(1)} a minute` : "none yet");
  const rate = s.requests ? s.errors / s.requests : 0;
  tile("t-errors", pct(s.errors, s.requests), `${s.errors} failed`, rate > 0.05 ? "bad" : rate > 0.01 ? "warn" : "");
  const l = latency.total.latency_ms;
  tile("t-latency", ms(l.p50), l.count ? `p99 ${ms(l.p99)} · ${count(l.count)} timed` : "no request yet");
  const t = latency.total.ttft_ms;
  tile("t-ttft", ms(t.p50), t.count ? `p99 ${ms(t.p99)} · ${count(t.count)} streams` : "no streamed requests");
}

export function showBudgetTile(budget) {
  const g = budget && budget.scopes && budget.scopes.global;
  if (!g || g.daily_usd === null) {
    tile("t-budget", g ? usd(g.daily_spent_usd) : "–", "no daily limit");
    return;
  }
  const used = g.daily_usd ? g.daily_spent_usd / g.daily_usd : 0;
  tile("t-budget", usd(g.daily_spent_usd), `${pct(g.daily_spent_usd, g.daily_usd)} of ${usd(g.daily_usd)} a day`,
    used >= 1 ? "bad" : used >= 0.8 ? "warn" : "");
}

export function showSpendTable(series) {
  const head = el("tr", {}, el("th"), el("th", {}, series.by), el("th", { class: "num" }, "requests"),
    el("th", { class: "num wide-only" }, "errors"), el("th", { class: "num" }, "spend"));
  const rows = series.series.map((s, i) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = PALETTE[i % PALETTE.length];
    return el("tr", { "data-key": seriesName(s.key, series.by) }, el("td", {}, swatch),
      el("td", {}, seriesName(s.key, series.by)), el("td", { class: "num" }, count(s.sum.requests)),
      el("td", { class: "num wide-only" }, count(s.sum.errors)), el("td", { class: "num" }, usd(s.sum.cost_usd)));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No requests in this window.")));
  clear($("spend-table"), el("thead", {}, head), el("tbody", {}, ...rows));
}

export function showMatrix(report) {
  const table = $("matrix");
  if (!report.cells.length) {
    clear(table, el("tbody", {}, el("tr", {}, el("td", { class: "empty" }, "No request asked for auto in this window."))));
    return;
  }
  const at = new Map(report.cells.map((c) => [`${c.task}\u0000${c.model}`, c]));
  const most = Math.max(...report.cells.map((c) => c.requests));
  const head = el("tr", {}, el("th", {}, "task \u2192 model"), ...report.models.map((m) => el("th", {}, m)));
  const rows = report.tasks.map((task) => el("tr", {}, el("th", {}, task ?? "(none)"), ...report.models.map((model) => {
    const c = at.get(`${task}\u0000${model}`);
    if (!c) return el("td", { class: "cell" });
    const td = el("td", { class: "cell", "data-task": task, "data-model": model, title: `${c.errors} failed` },
      String(c.requests), el("span", {}, usd(c.cost_usd)));
    td.style.background = `rgba(88, 166, 255, ${(0.08 + 0.42 * (c.requests / most)).toFixed(2)})`;
    return td;
  })));
  clear(table, el("thead", {}, head), el("tbody", {}, ...rows));
}

export function showReasons(rows) {
  const body = $("reasons").tBodies[0];
  if (!rows.length) {
    clear(body, el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No requests yet.")));
    return;
  }
  clear(body, ...rows.map((r) => el("tr", {},
    el("td", {}, clock(r.created_at)), el("td", {}, r.requested_model ?? "–"),
    el("td", {}, r.model ?? "–", r.status === "success" ? null : el("span", { class: "pill bad" }, String(r.http_status ?? "error"))),
    el("td", {}, r.task ?? "–"), el("td", { class: "num wide-only" }, String(r.attempts)),
    el("td", { class: "reason wide-only" }, r.status === "success" ? r.routing_reason ?? "" : r.error ?? r.routing_reason ?? ""))));
}

const STATE_TONE = { closed: "ok", half_open: "warn", open: "bad" };

function circuit(name, sub, state) {
  return el("li", { "data-circuit": name, "data-state": state },
    el("span", { class: "name" }, name, sub ? el("span", { class: "kind" }, sub) : null),
    el("span", { class: `pill ${STATE_TONE[state] || ""}` }, state.replace("_", "-")));
}

export function showCircuits(health) {
  const providers = Object.entries(health.providers || {});
  const models = Object.entries(health.models || {});
  const items = providers.map(([name, p]) => circuit(name, `${p.kind}${p.key && p.key !== "present" ? " · no key" : ""}`, p.circuit));
  const troubled = models.filter(([, m]) => m.circuit !== "closed");
  items.push(...troubled.map(([name, m]) => circuit(name, `model · ${m.consecutive_failures} failures`, m.circuit)));
  if (models.length && !troubled.length) {
    items.push(el("li", { class: "summary" }, el("span", { class: "name" }, `${models.length} models`, el("span", { class: "kind" }, "every model circuit")),
      el("span", { class: "pill ok" }, "closed")));
  }
  clear($("circuits"), ...items);
}

export function showBanner(health) {
  const simulated = Object.entries(health.providers || {}).filter(([, p]) => p.kind === "simulated").map(([n]) => n);
  const banner = $("banner");
  banner.hidden = !simulated.length;
  if (!simulated.length) return;
  const all = simulated.length === Object.keys(health.providers).length;
  clear(banner, el("strong", {}, all ? "Demo: simulated upstreams. " : "Simulated providers: "),
    all ? "No real model is called: every answer, cost and latency here comes from the gateway's simulated provider."
      : `${simulated.join(", ")}: their answers do not come from a model.`);
}

function bar(label, spent, limit) {
  const used = limit ? spent / limit : 0;
  const fill = el("div");
  fill.style.width = `${Math.min(100, used * 100).toFixed(1)}%`;
  return el("div", { class: "budget" },
    el("div", { class: "row" }, el("span", {}, label), el("span", {}, `${usd(spent)} of ${usd(limit)} · ${pct(spent, limit)}`)),
    el("div", { class: `bar ${used >= 1 ? "bad" : used >= 0.8 ? "warn" : ""}` }, fill));
}

export function showBudgets(budget) {
  const blocks = [];
  for (const [scope, s] of Object.entries(budget.scopes || {})) {
    const who = scope === "global" ? "all keys" : `key ${scope}`;
    if (s.daily_usd !== null) blocks.push(bar(`${who}, today`, s.daily_spent_usd, s.daily_usd));
    if (s.monthly_usd !== null) blocks.push(bar(`${who}, this month`, s.monthly_spent_usd, s.monthly_usd));
  }
  clear($("budgets"), ...(blocks.length ? blocks : [el("p", { class: "empty" }, "No budget limits configured.")]));
  const alerts = (budget.alerts || []).slice(-5).reverse();
  clear($("alerts"), ...alerts.map((a) => el("li", {},
    `${clock(a.at)} · ${a.scope} ${a.period} spend reached ${Math.round(a.threshold * 100)}% (${usd(a.spent_usd)} of ${usd(a.limit_usd)})`)));
}

function arms(experiment) {
  const list = experiment.arms || [];
  const rows = Array.isArray(list) ? list : Object.entries(list).map(([name, a]) => ({ name, ...a }));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => k !== "name" && typeof r[k] !== "object")))];
  return el("table", { class: "rows" },
    el("thead", {}, el("tr", {}, el("th", {}, "arm"), ...columns.map((c) => el("th", { class: "num" }, c.replaceAll("_", " "))))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, el("td", {}, r.name ?? "?"),
      ...columns.map((c) => el("td", { class: "num" }, typeof r[c] === "number" ? +r[c].toPrecision(4) : String(r[c] ?? "–")))))));
}

export function showExperiments(report) {
  const box = $("experiments");
  const list = report === null ? null : Array.isArray(report) ? report : report.experiments || report.data || [];
  if (list === null) {
    clear(box, el("p", { class: "empty" }, "This gateway has no experiments report (GET /admin/experiments)."));
  } else if (!list.length) {
    clear(box, el("p", { class: "empty" }, "No A/B experiment is configured (experiments: in gateway.yaml)."));
  } else {
    clear(box, ...list.map((e) => el("section", { class: "experiment" },
      el("h3", {}, e.name ?? "experiment", e.significant ? el("span", { class: "pill ok" }, "significant") : null), arms(e))));
  }
}
