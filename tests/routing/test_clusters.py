"""clusters: spherical k-means over hashed words, nearest-centroid lookup, the LR test."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from gateway.routing.clusters import Centroids, kmeans, log_likelihood
from gateway.routing.features import hashed_ids
from gateway.routing.lexicon import words

MORAL = "scenario wrong morally standards character action ordinary person did".split()
RIVER = "river flows city capital country which longest through mountains sea".split()


def rows(vocab: list[str], n: int, seed: int) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    return [hashed_ids(words(" ".join(rng.sample(vocab, 6)))) for _ in range(n)]


def test_two_vocabularies_fall_into_two_clusters() -> None:
    a, b = rows(MORAL, 40, 1), rows(RIVER, 40, 2)
    assign, centroids = kmeans(a + b, [1.0] * 80, 2)
    assert len(set(assign[:40].tolist())) == 1 and len(set(assign[40:].tolist())) == 1
    assert assign[0] != assign[40]
    assert centroids.nearest(rows(MORAL, 1, 3)[0]) == assign[0]
    assert centroids.nearest(rows(RIVER, 1, 4)[0]) == assign[40]


def test_kmeans_is_deterministic() -> None:
    data = rows(MORAL, 30, 5) + rows(RIVER, 30, 6)
    first, c1 = kmeans(data, [1.0] * 60, 3)
    second, c2 = kmeans(data, [1.0] * 60, 3)
    assert first.tolist() == second.tolist() and np.array_equal(c1.ids, c2.ids)


def test_centroids_round_trip_and_unknown_words() -> None:
    _, c = kmeans(rows(MORAL, 20, 7) + rows(RIVER, 20, 8), [1.0] * 40, 2)
    back = Centroids.from_json(json.loads(json.dumps(c.to_json())))
    probe = rows(RIVER, 1, 9)[0]
    assert back.nearest(probe) == c.nearest(probe) and back.k == 2
    assert c.nearest(()) == 0 and c.nearest((123456789,)) == 0


LIKELIHOOD = [
    # (trials, successes per model, expected log-likelihood)
    ([10.0], [5.0], 10 * math.log(0.5)),
    ([4.0, 0.0], [4.0, 0.0], 0.0),  # a sure outcome costs nothing; a model with no data either
    ([10.0], [2.5], 2.5 * math.log(0.25) + 7.5 * math.log(0.75)),  # judge scores: fractional
]


@pytest.mark.parametrize(("n", "s", "expected"), LIKELIHOOD)
def test_log_likelihood(n: list[float], s: list[float], expected: float) -> None:
    assert log_likelihood(np.array(n), np.array(s)) == pytest.approx(expected, abs=1e-4)
