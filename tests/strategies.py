"""Hypothesis strategies the fuzz tests share: any JSON value a client could send."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(size: int = 20) -> Any:
    """Any JSON value: scalars (64-bit integers, finite floats, short text), lists, objects."""
    return st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False) | st.text(max_size=size),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                      max_size=4),
        max_leaves=size,
    )
