"""Evaluation: draw the cost-quality curve as a PNG (matplotlib, Agg, imported only here).

matplotlib is an optional dependency (the `plot` extra); without it `--png` is one clear error
naming the extra, raised before any work is done.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any


class MissingExtra(RuntimeError):
    """An optional dependency a requested feature needs is not installed."""


def require_plot() -> None:
    """Raise MissingExtra unless matplotlib can be imported."""
    if importlib.util.find_spec("matplotlib") is None:
        raise MissingExtra(
            "--png needs matplotlib, which is not installed: pip install '.[plot]'"
        )


def write_png(
    path: str,
    title: str,
    points: Sequence[Mapping[str, Any]],
    models: Mapping[str, Mapping[str, float]],
    profiles: Mapping[str, Mapping[str, float]],
) -> None:
    """The router's curve (cost target swept), each single model as a point, each profile
    marked. Cost on a log axis: models differ by orders of magnitude."""
    require_plot()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    xs = [max(p["cost_usd"], 1e-9) for p in points]
    ys = [p["quality"] for p in points]
    ax.plot(xs, ys, "-o", color="tab:blue", markersize=3, label="auto, cost target swept")
    for p, x, y in zip(points, xs, ys, strict=True):
        if p["cost_share"] in (0.05, 0.15, 0.25, 0.5, 1.0):
            ax.annotate(
                f"{100 * p['cost_share']:g}%",
                (x, y),
                fontsize=7,
                xytext=(3, -9),
                textcoords="offset points",
                color="tab:blue",
            )
    for name, m in models.items():
        ax.scatter([max(m["cost_usd"], 1e-9)], [m["quality"]], color="gray", s=18, zorder=3)
        ax.annotate(
            name.rsplit("/", 1)[-1],
            (max(m["cost_usd"], 1e-9), m["quality"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            color="dimgray",
        )
    for name, prof in profiles.items():
        ax.scatter(
            [max(prof["cost_usd"], 1e-9)],
            [prof["quality"]],
            marker="*",
            s=110,
            zorder=4,
            label=name,
        )
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per prompt (USD, log scale)")
    ax.set_ylabel("mean quality (outcome 0..1)")
    ax.set_title(title, fontsize=9, wrap=True)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
