"""Routing, step 4: from ranked candidates to a plan: the winner and its fallback chain.

The chain is the winner, then the winner's own configured `fallbacks` (an operator's explicit
choice comes first), then the best candidate of each other provider by score, so one
provider's outage cannot take down the whole chain. Only candidates that passed the filters
enter it: a fallback that lacks vision would fail the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.routing.catalog import Catalog
from gateway.routing.score import Candidate

MAX_CHAIN = 4


def fallback_chain(
    winner: Candidate,
    ranked: Sequence[Candidate],
    catalog: Catalog,
    *,
    escalate: bool = False,
) -> tuple[str, ...]:
    """Winner first. With `escalate` (local-first routing) the best commercial candidate is
    kept in the chain even when the local ones fill it, so local failures escalate."""
    eligible = {c.id: c for c in ranked if c.excluded is None}
    chain = [winner.id]
    entry = catalog.get(winner.id)
    for name in entry.fallbacks if entry else ():
        target = catalog.get(name)
        if target and target.id in eligible and target.id not in chain:
            chain.append(target.id)
    providers = {eligible[m].provider for m in chain}
    for cand in ranked:
        if len(chain) >= MAX_CHAIN:
            break
        if cand.excluded is None and cand.id not in chain and cand.provider not in providers:
            chain.append(cand.id)
            providers.add(cand.provider)
    if escalate and all(eligible[m].local for m in chain):
        remote = next((c for c in ranked if c.excluded is None and not c.local), None)
        if remote is not None:
            chain = [*chain[: MAX_CHAIN - 1], remote.id]
    return tuple(chain[:MAX_CHAIN])
