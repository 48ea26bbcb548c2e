// The dashboard: load every panel from the gateway's admin endpoints, refresh them on a timer
// (and soon after requests finish), follow the live feed, and ask for a key when one is needed.

import * as api from "./api.js";
import { Charts } from "./charts.js";
import { Feed } from "./feed.js";
import * as panels from "./panels.js";

const $ = (id) => document.getElementById(id);
const REFRESH_S = { "5m": 5, "15m": 5, "1h": 5, "24h": 15, "7d": 60, "30d": 60 };
const fromHash = window.location.hash.slice(1);
const state = { window: REFRESH_S[fromHash] ? fromHash : sessionStorage.getItem("gateway.window") || "1h", by: "model", timer: 0, soon: 0, running: false, again: false, unfollow: null };
const charts = new Charts();
const feed = new Feed($("feed"), $("feed-count"));

async function load() {
  const since = encodeURIComponent(state.window);
  const wanted = {
    series: `admin/series?since=${since}&by=model`,
    keys: state.by === "key" ? `admin/series?since=${since}&by=key` : null,
    latency: `admin/latency?since=${since}`,
    routing: `admin/routing?since=${since}`,
    recent: "admin/requests?limit=12",
    circuits: "admin/circuits",
    budget: "admin/budget",
    experiments: "admin/experiments",
  };
  const names = Object.keys(wanted).filter((n) => wanted[n]);
  const settled = await Promise.allSettled(names.map((n) => api.get(wanted[n])));
  const denied = settled.find((r) => r.status === "rejected" && r.reason instanceof api.KeyNeeded);
  if (denied) throw denied.reason;
  const got = {};
  settled.forEach((r, i) => {
    if (r.status === "fulfilled") got[names[i]] = r.value;
    else console.error(wanted[names[i]], r.reason);  // that panel keeps what it showed
  });
  return got;
}

function show(got) {
  const spend = got.keys || (state.by === "model" ? got.series : undefined);
  if (spend) { charts.showSpend(spend); panels.showSpendTable(spend); }
  if (got.series) charts.showRequests(got.series);
  if (got.latency) charts.showLatency(got.latency);
  if (got.series && got.latency) panels.showTiles(state.window, got.series, got.latency);
  if (got.budget) { panels.showBudgetTile(got.budget); panels.showBudgets(got.budget); }
  if (got.routing) panels.showMatrix(got.routing);
  if (got.recent) panels.showReasons(got.recent.data);
  if (got.circuits) { panels.showCircuits(got.circuits); panels.showBanner(got.circuits); }
  if (got.experiments !== undefined) panels.showExperiments(got.experiments);
  document.body.dataset.loaded = String(Date.now());
}

async function refresh() {
  if (state.running) { state.again = true; return; }
  state.running = true;
  try {
    show(await load());
    $("key-button").hidden = !api.key();
    if (!state.unfollow) {
      state.unfollow = api.follow((m) => { feed.add(m); refreshSoon(); },
        (s) => { $("live").dataset.state = s; $("live").textContent = s; });
    }
  } catch (err) {
    if (err instanceof api.KeyNeeded) askForKey(err);
    else console.error(err);
  } finally {
    state.running = false;
    if (state.again) { state.again = false; refreshSoon(); }
  }
}

function refreshSoon() {
  if (REFRESH_S[state.window] > 5) return;  // only the short windows follow the feed
  clearTimeout(state.soon);
  state.soon = setTimeout(refresh, 1200);
}

function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_S[state.window] * 1000);
}

function askForKey(err) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = err.status === 403
    ? `${err.message} The dashboard needs an admin key; it is kept in this tab only (session storage).`
    : "The dashboard reads the gateway's admin endpoints. Enter an admin key; it is kept in this tab only (session storage).";
  if (api.key()) api.forgetKey();
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
}

function choose(window) {
  state.window = REFRESH_S[window] ? window : "1h";
  sessionStorage.setItem("gateway.window", state.window);
  for (const b of document.querySelectorAll("[data-window]")) b.setAttribute("aria-pressed", String(b.dataset.window === state.window));
  schedule();
  refresh();
}

$("key-form").addEventListener("submit", () => {
  api.setKey($("key-input").value);
  $("key-input").value = "";
  if (state.unfollow) { state.unfollow(); state.unfollow = null; }
  refresh();
});
$("key-button").addEventListener("click", () => { api.forgetKey(); window.location.reload(); });
for (const b of document.querySelectorAll("[data-window]")) b.addEventListener("click", () => choose(b.dataset.window));
for (const b of document.querySelectorAll("[data-by]")) {
  b.addEventListener("click", () => {
    state.by = b.dataset.by;
    for (const t of document.querySelectorAll("[data-by]")) t.setAttribute("aria-selected", String(t === b));
    refresh();
  });
}
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
choose(state.window);
