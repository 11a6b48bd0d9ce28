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


def _kendall_b_pairs(a, b) -> float:
    """Kendall tau-b by counting all pairs (the O(n^2) definition), as a reference."""
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    da, db = da[iu], db[iu]
    return float((da * db).sum() / math.sqrt(np.count_nonzero(da) * np.count_nonzero(db)))


def test_bootstrap_kendall_matches_the_pair_count_definition_with_ties():
    """Resamples repeat archs (ties on both sides): every resample's tau-b equals the pair count's."""
    import numpy as np

    from bpe.metrics import _kendall_rows

    rng = np.random.default_rng(3)
    a = rng.integers(0, 8, (20, 40)).astype(float)
    b = a + rng.normal(0, 2, a.shape).round()
    fast = _kendall_rows(a, b)
    assert fast == pytest.approx([_kendall_b_pairs(x, y) for x, y in zip(a, b)], abs=1e-12)
    assert math.isnan(_kendall_rows(np.ones((1, 5)), np.arange(5.0)[None])[0])


def test_bootstrap_interval_memory_is_bounded_at_whole_space_size():
    """Was: an n x n sign array per resample (Kendall), every resample at once (Spearman): 5,000
    archs held over 400 MB. Now O(n) per resample, in blocks."""
    import tracemalloc

    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    y = x + rng.normal(size=5000)
    tracemalloc.start()
    try:
        lo_k, hi_k = bootstrap_ci(x, y, method="kendall", n_boot=10)
        lo_s, hi_s = bootstrap_ci(x, y, method="spearman", n_boot=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert lo_k <= kendall(x, y) <= hi_k and lo_s <= spearman(x, y) <= hi_s


def test_bootstrap_interval_does_not_depend_on_the_block_size(monkeypatch):
    import bpe.metrics as metrics

    x = list(range(50))
    y = [v + (9 if v % 4 == 0 else 0) for v in x]
    whole = bootstrap_ci(x, y, seed=2, n_boot=200)
    monkeypatch.setattr(metrics, "BOOTSTRAP_BLOCK", 50 * 7)  # 7 resamples per block
    assert bootstrap_ci(x, y, seed=2, n_boot=200) == whole
