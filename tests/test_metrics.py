"""Ranking metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from bpe.metrics import bootstrap_ci, kendall, rank_summary, regret, spearman, top_k_precision


def test_perfect_and_reversed():
    x = [1, 2, 3, 4, 5]
    assert spearman(x, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert kendall(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)


def test_hand_computed():
    # one discordant pair of 6 -> tau = (5-1)/6; d = (0,0,1,-1) -> rho = 1 - 6*2/(4*15) = 0.8
    assert kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    assert spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)


def test_nonfinite_and_none_dropped():
    assert spearman([1, 2, None, 3, float("nan")], [1, 2, 3, 3.5, 4]) == pytest.approx(1.0)
    assert math.isnan(spearman([1], [1])) and math.isnan(kendall([1, 1, 1], [1, 2, 3]))


def test_top_k_and_regret():
    scores = [0.9, 0.8, 0.1, 0.2]
    truths = [90, 70, 80, 60]
    assert top_k_precision(scores, truths, 2) == 0.5
    assert regret(scores, truths) == 0.0
    assert regret([0.1, 0.9], [90, 80]) == 10


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    x = list(range(30))
    y = [v + (7 if v % 3 == 0 else 0) for v in x]
    lo, hi = bootstrap_ci(x, y, seed=1)
    assert lo <= spearman(x, y) <= hi
    assert (lo, hi) == bootstrap_ci(x, y, seed=1)
    s = rank_summary(x, y)
    assert s["n_archs"] == 30 and set(s) >= {"spearman", "kendall", "spearman_ci95", "kendall_ci95"}
