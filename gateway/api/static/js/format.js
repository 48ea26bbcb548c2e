// Numbers and times as a person reads them, and a tiny DOM builder that never parses HTML.

export function usd(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "$0";
  if (Math.abs(v) >= 100) return `$${v.toFixed(0)}`;
  if (Math.abs(v) >= 1) return `$${v.toFixed(2)}`;
  if (Math.abs(v) >= 0.01) return `$${v.toFixed(3)}`;
  return `$${v.toPrecision(2)}`;
}

export function count(v) {
  if (v === null || v === undefined) return "–";
  return v >= 10000 ? `${(v / 1000).toFixed(1)}k` : String(v);
}

export function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v >= 10000) return `${(v / 1000).toFixed(0)} s`;
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 10) return `${v.toFixed(0)} ms`;
  return `${v.toFixed(1)} ms`;
}

export function pct(part, whole) {
  if (!whole) return "–";
  const p = (100 * part) / whole;
  return p === 0 ? "0%" : p < 0.1 ? "<0.1%" : `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

export function clock(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** A bucket's start as a short axis label: the time of day, or the date for daily buckets. */
export function bucketLabel(iso, bucket) {
  const d = new Date(iso);
  if (bucket === "1d") return d.toLocaleDateString([], { month: "short", day: "numeric" });
  const opts = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (bucket === "10s") opts.second = "2-digit";
  if (bucket === "1h") return `${d.toLocaleDateString([], { weekday: "short" })} ${d.toLocaleTimeString([], opts)}`;
  return d.toLocaleTimeString([], opts);
}

/** el("td", {class: "num"}, "text", child...): attributes set one by one, text as text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children);
  return node;
}

export function statusPill(status, httpStatus) {
  const ok = status === "success";
  return el("span", { class: `pill ${ok ? "ok" : "bad"}` }, ok ? "ok" : `error ${httpStatus ?? ""}`.trim());
}
