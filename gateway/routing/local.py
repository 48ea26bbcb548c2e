"""Routing, step 3c: local first (`auto:local`, `routing.prefer_local`), as DESIGN.md "Profiles" says.

A request stays on the best local model that is up and can take it (capabilities, context
window) unless its complexity is above `routing.local_max_complexity`; the executor then makes
`routing.local_failures_before_escalation` attempts on local models before it escalates down
the chain (the Decision carries that number as `local_attempts`). No quality floor: a local
model answers "What is the capital of France?". The returned rule says which case applied.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.routing.score import Candidate


def local_first(
    live: Sequence[Candidate], ranked: Sequence[Candidate], complexity: int, max_complexity: int
) -> tuple[Candidate, str, bool]:
    """(the model to start with, the rule that applied, whether the request escalated)."""
    local = [r for r in live if r.local]
    remote = [r for r in live if not r.local]
    if local and complexity <= max_complexity:
        rule = f"complexity {complexity} <= local_max_complexity {max_complexity}: stays local"
        return local[0], rule, False
    if local and not remote:
        rule = (
            f"complexity {complexity} > local_max_complexity {max_complexity}, but no hosted "
            "model can take it: stays local"
        )
        return local[0], rule, False
    if local:
        rule = (
            f"complexity {complexity} > local_max_complexity {max_complexity}: escalated to "
            f"{remote[0].id}"
        )
        return remote[0], rule, True
    down = [f"{r.id}: {r.excluded}" for r in ranked if r.local and r.excluded]
    why = "; ".join(down) if down else "no local model is configured"
    return live[0], f"no local model can take it ({why}): escalated to {live[0].id}", True
