// The three charts (Chart.js, vendored): spend stacked by model or key, requests and errors,
// latency percentiles. Built once, then fed new data; no animation, so figures never lag.

import { bucketLabel, ms, usd } from "./format.js";

const Chart = window.Chart;
export const PALETTE = ["#58a6ff", "#a371f7", "#3fb950", "#f0883e", "#db61a2", "#39c5cf",
  "#d29922", "#8b949e", "#ff7b72", "#7ee787", "#79c0ff"];
const GRID = "rgba(139, 148, 158, 0.14)";

Chart.defaults.color = "#8b949e";
Chart.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue("--font");
Chart.defaults.font.size = 12;
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.plugins.legend.labels.boxWidth = 10;
Chart.defaults.plugins.legend.labels.boxHeight = 10;

function base(yFormat, stacked) {
  return {
    responsive: true,
    interaction: { mode: "index", intersect: false },
    scales: {
      x: { stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 16 } },
      y: { stacked, beginAtZero: true, grid: { color: GRID }, ticks: { callback: yFormat, maxTicksLimit: 6 } },
    },
    plugins: {
      legend: { position: "bottom" },
      tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${yFormat(c.parsed.y)}` } },
    },
  };
}

function make(id, type, yFormat, stacked) {
  return new Chart(document.getElementById(id), { type, data: { labels: [], datasets: [] }, options: base(yFormat, stacked) });
}

export function seriesName(key, by) {
  if (key === null || key === undefined) return by === "key" ? "(no key)" : "(none)";
  return String(key);
}

export class Charts {
  constructor() {
    this.spend = make("c-spend", "bar", usd, true);
    this.spend.options.plugins.legend.display = false;  // the table under it is the legend
    this.requests = make("c-requests", "bar", (v) => String(Math.round(v)), true);
    this.latency = make("c-latency", "line", ms, false);
  }

  showSpend(report) {
    const labels = report.buckets.map((b) => bucketLabel(b, report.bucket));
    this.spend.data = {
      labels,
      datasets: report.series.map((s, i) => ({
        label: seriesName(s.key, report.by), data: s.cost_usd,
        backgroundColor: PALETTE[i % PALETTE.length], borderRadius: 2, maxBarThickness: 28,
      })),
    };
    this.spend.update("none");
  }

  showRequests(report) {
    const t = report.total;
    this.requests.data = {
      labels: report.buckets.map((b) => bucketLabel(b, report.bucket)),
      datasets: [
        { label: "answered", data: t.requests.map((n, i) => n - t.errors[i]), backgroundColor: "#58a6ff", borderRadius: 2, maxBarThickness: 28 },
        { label: "errors", data: t.errors, backgroundColor: "#f85149", borderRadius: 2, maxBarThickness: 28 },
      ],
    };
    this.requests.update("none");
  }

  showLatency(report) {
    const line = (label, data, color, dashed) => ({
      label, data, borderColor: color, backgroundColor: color, borderWidth: 2, pointRadius: 1.5,
      spanGaps: true, tension: 0.25, borderDash: dashed ? [5, 4] : [],
    });
    const l = report.latency_ms;
    const t = report.ttft_ms;
    this.latency.data = {
      labels: report.buckets.map((b) => bucketLabel(b, report.bucket)),
      datasets: [
        line("p50", l.p50, "#58a6ff", false), line("p90", l.p90, "#a371f7", false),
        line("p99", l.p99, "#f0883e", false),
        line("TTFT p50", t.p50, "#3fb950", true), line("TTFT p99", t.p99, "#d29922", true),
      ],
    };
    this.latency.update("none");
  }
}
