"""Evaluation: the human-readable report of `gateway eval` (the JSON is the result itself)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.evaluate.sweep import at_calls


def _short(model: str, width: int = 34) -> str:
    return model if len(model) <= width else "…" + model[-(width - 1) :]


def _labels(result: Mapping[str, Any], details: Mapping[str, Any]) -> str:
    lines = [
        f"task classifier on {details.get('file', '?')}",
        f"accuracy {result['accuracy']:.3f}   macro-F1 {result['macro_f1']:.3f}"
        f"   (macro over classes with >= {details.get('min_support', 5)} examples)",
        "",
        f"  {'class':<14}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}",
    ]
    for label, v in result["per_class"].items():
        mark = "" if v["in_macro"] else "   (too few for the macro)"
        lines.append(
            f"  {label:<14}{v['precision']:>10.3f}{v['recall']:>8.3f}{v['f1']:>7.3f}"
            f"{v['support']:>9}{mark}"
        )
    if details.get("folded"):
        folds = ", ".join(f"{f} -> {c}" for f, c in details["folded"].items())
        lines.append(f"\nthe file uses a coarser task list; predictions folded: {folds}")
    if "ms_per_prompt" in details:
        lines.append(f"\nclassify: {details['ms_per_prompt']:.3f} ms per prompt (mean)")
    lines.extend(str(n) for n in details.get("notes", ()))
    return "\n".join(lines)


def _sweep(points: list[dict[str, Any]], best: str, bq: float, bc: float) -> list[str]:
    lines = [
        "",
        "cost-quality curve (auto's cost target, chosen on the training rows, swept):",
        f"  {'target':>6}{'quality':>9}{'% best':>8}{'cost $':>12}{'% cost':>8}{'best-model calls':>18}",
    ]
    for p in points:
        lines.append(
            f"  {100 * p['cost_share']:>5.0f}%{p['quality']:>9.4f}{100 * p['quality'] / bq:>7.1f}%"
            f"{p['cost_usd']:>12.6f}{100 * p['cost_usd'] / bc if bc else 0:>7.1f}%"
            f"{100 * p['best_model_calls']:>17.1f}%"
        )
    return lines


def _outcomes(result: Mapping[str, Any], details: Mapping[str, Any]) -> str:
    best = result["best_model"]
    bq, bc = result["models"][best]["quality"], result["models"][best]["cost_usd"]
    lines = [
        f"routing replay of {details.get('file', '?')}  (outcome scale {details.get('scale')})",
        str(details.get("split", "")),
        "",
    ]
    lines.append(f"  {'':<36}{'quality':>9}{'% best':>8}{'cost $/prompt':>15}{'% cost':>9}  picks")
    for name, v in result["profiles"].items():
        picks = details.get("picks", {}).get(name, {})
        top = ", ".join(f"{_short(m, 22)} {100 * s:.0f}%" for m, s in list(picks.items())[:3])
        lines.append(
            f"  {name:<36}{v['quality']:>9.4f}{v['quality_pct_of_best']:>7.1f}%"
            f"{v['cost_usd']:>15.6f}{v['cost_pct_of_best']:>8.1f}%  {top}"
        )
    lines.append("")
    for m, v in sorted(result["models"].items(), key=lambda kv: -kv[1]["quality"]):
        tag = "  <- best single model" if m == best else ""
        lines.append(
            f"  {_short(m):<36}{v['quality']:>9.4f}{100 * v['quality'] / bq:>7.1f}%"
            f"{v['cost_usd']:>15.6f}{100 * v['cost_usd'] / bc if bc else 0:>8.1f}%{tag}"
        )
    for ref, q in details.get("references", {}).items():
        lines.append(f"  {_short(ref):<36}{q:>9.4f}{100 * q / bq:>7.1f}%   (recorded router)")
    d = result["decision_ms"]
    lines.append("")
    lines.append(f"decision latency over the replay: p50 {d['p50']:.3f} ms, p99 {d['p99']:.3f} ms")
    b = details.get("benchmark")
    if b:
        lines.append(
            f"decision latency, {int(b['prompt_chars']):,}-char prompt and {int(b['candidates'])}"
            f" candidates: p50 {b['p50']:.3f} ms, p99 {b['p99']:.3f} ms"
        )
    if len(result["models"]) == 2:
        lines.extend(_pair(result, details, best))
    if details.get("sweep"):
        lines.extend(_sweep(details["sweep"], best, bq, bc))
    sources = sorted(set((details.get("price_source") or {}).values()))
    lines.append("")
    lines.append(
        "router prices: "
        + ("; ".join(sources) or "-")
        + (f" (file {details['price_file']})" if details.get("price_file") else "")
    )
    if details.get("png"):
        lines.append(f"curve written to {details['png']}")
    if details.get("saved_state"):
        lines.append(f"learned state written to {details['saved_state']}")
    return "\n".join(lines)


def _pair(result: Mapping[str, Any], details: Mapping[str, Any], best: str) -> list[str]:
    """For a strong/weak pair: the share of the quality gap recovered, and calls to strong;
    on the curve, the gap recovered at half the calls to strong (whole file and per group)."""
    weak = next(m for m in result["models"] if m != best)
    sq, wq = result["models"][best]["quality"], result["models"][weak]["quality"]
    lines = ["", f"pair: strong {best}, weak {weak}"]
    for name, v in result["profiles"].items():
        gap = (v["quality"] - wq) / (sq - wq) if sq != wq else 0.0
        calls = details.get("picks", {}).get(name, {}).get(best, 0.0)
        lines.append(
            f"  {name:<14} recovers {100 * gap:5.1f}% of the gap with "
            f"{100 * calls:5.1f}% of calls to the strong model"
        )
    gaps = pair_gaps(details.get("sweep") or [], details.get("group_models") or {})
    for group, gap in gaps.items():
        where = f" on {group}" if group else ""
        lines.append(f"  curve at 50% strong calls{where}: {100 * gap:.1f}% of the gap")
    return lines


def pair_gaps(
    points: list[dict[str, Any]], group_models: Mapping[str, tuple[float, float]]
) -> dict[str, float]:
    """Share of the weak-to-strong gap recovered at 50 % strong calls, read off the curve:
    for the whole file ("") and for each group (benchmark), from (strong, weak) qualities."""
    out = {}
    for group, (sq, wq) in group_models.items():
        q = at_calls(points, 0.5, group or None)
        if q is not None and sq != wq:
            out[group] = (q - wq) / (sq - wq)
    return out


def render_eval(result: Mapping[str, Any]) -> str:
    """The report `gateway eval` prints without --json."""
    details: Mapping[str, Any] = getattr(result, "details", {})
    if "accuracy" in result:
        return _labels(result, details)
    return _outcomes(result, details)
