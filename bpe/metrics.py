"""Ranking metrics: Kendall tau, Spearman rho (with bootstrap intervals), top-k precision, regret.

Pairs where either value is not finite (a failed evaluation, a missing truth) are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

#: Fewest archs a rank correlation is reported on without a warning.
MIN_ARCHS = 5

__all__ = ["MIN_ARCHS", "BOOTSTRAP_BLOCK", "finite_pairs", "spearman", "kendall", "bootstrap_ci", "top_k_precision",
           "regret", "RankSummary", "rank_stats", "rank_summary", "paired_bootstrap_difference"]


def finite_pairs(x: Sequence[float | None], y: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of ``x`` and ``y`` where both are finite numbers."""
    a = np.array([np.nan if v is None else v for v in x], dtype=float)
    b = np.array([np.nan if v is None else v for v in y], dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _corr(fn, x, y) -> float:
    a, b = finite_pairs(x, y)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(fn(a, b).statistic)


def spearman(x: Sequence[float | None], y: Sequence[float | None]) -> float:
    """Spearman rank correlation (``nan`` with fewer than 2 usable pairs or a constant side)."""
    return _corr(stats.spearmanr, x, y)


def kendall(x: Sequence[float | None], y: Sequence[float | None]) -> float:
    """Kendall tau-b (``nan`` with fewer than 2 usable pairs or a constant side)."""
    return _corr(stats.kendalltau, x, y)


def _row_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks along each row (ties share their mean rank), like ``scipy.stats.rankdata``."""
    return stats.rankdata(values, axis=1, method="average")


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair (``nan`` where a row is constant)."""
    ra, rb = _row_ranks(a), _row_ranks(b)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / den, np.nan)


def _kendall_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair (``nan`` where a row is constant), each in O(n log n) time
    and O(n) memory (scipy's merge-sort count of discordant pairs)."""
    out = np.empty(len(a))
    for r in range(len(a)):
        if np.ptp(a[r]) == 0 or np.ptp(b[r]) == 0:
            out[r] = np.nan
        else:
            out[r] = stats.kendalltau(a[r], b[r]).statistic
    return out


#: Resampled values held at once by :func:`bootstrap_ci` (rows x archs), so memory stays bounded
#: whatever the number of archs.
BOOTSTRAP_BLOCK = 2_000_000


def _resample_blocks(n: int, n_boot: int, seed: int):
    """``n_boot`` resamples of ``n`` indices (one seeded generator, one resample at a time), as
    arrays of about :data:`BOOTSTRAP_BLOCK` indices each."""
    rng = np.random.default_rng(seed)
    rows = max(1, BOOTSTRAP_BLOCK // n)
    for start in range(0, n_boot, rows):
        yield np.stack([rng.integers(0, n, n) for _ in range(min(rows, n_boot - start))])


def bootstrap_ci(
    x: Sequence[float | None], y: Sequence[float | None], *, method: str = "spearman",
    n_boot: int = 1000, level: float = 0.95, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a rank correlation over resampled pairs (seeded).

    Each resample costs O(n log n) time (a sort); resamples are scored in blocks of about
    :data:`BOOTSTRAP_BLOCK` values, so memory is bounded for any ``n`` (a whole space of 15,625
    archs included).  The draws are those of one generator taken one resample at a time, so the
    interval does not depend on the block size.
    """
    a, b = finite_pairs(x, y)
    n = len(a)
    if n < 3:
        return (math.nan, math.nan)
    fn = _spearman_rows if method == "spearman" else _kendall_rows
    values = np.concatenate([fn(a[idx], b[idx]) for idx in _resample_blocks(n, n_boot, seed)])
    values = values[np.isfinite(values)]
    if not len(values):
        return (math.nan, math.nan)
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def paired_bootstrap_difference(
    a: Sequence[float | None], b: Sequence[float | None], truth: Sequence[float | None], *,
    n_boot: int = 1000, level: float = 0.95, seed: int = 0,
) -> dict[str, Any]:
    """Spearman rho of scores ``a`` minus that of scores ``b``, both against ``truth`` on the same
    archs, with a percentile bootstrap interval that resamples archs *pairwise* (each resample
    scores both on the same archs, so what the two share cancels).  Archs where either score or
    the truth is missing are dropped.  Returns ``difference``, ``ci95`` and ``n_archs``."""
    x = np.array([np.nan if v is None else float(v) for v in a])
    y = np.array([np.nan if v is None else float(v) for v in b])
    t = np.array([np.nan if v is None else float(v) for v in truth])
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
    x, y, t = x[keep], y[keep], t[keep]
    n = len(t)
    out: dict[str, Any] = {"difference": math.nan, "ci95": [math.nan, math.nan], "n_archs": int(n)}
    if n < 3:
        return out
    out["difference"] = spearman(x, t) - spearman(y, t)
    values = np.concatenate([_spearman_rows(x[idx], t[idx]) - _spearman_rows(y[idx], t[idx])
                             for idx in _resample_blocks(n, n_boot, seed)])
    values = values[np.isfinite(values)]
    if len(values):
        lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
        out["ci95"] = [float(lo), float(hi)]
    return out


def top_k_precision(scores: Sequence[float | None], truths: Sequence[float | None], k: int) -> float:
    """Fraction of the top-``k`` archs by score that are among the top-``k`` by truth."""
    a, b = finite_pairs(scores, truths)
    if len(a) == 0:
        return math.nan
    k = max(1, min(k, len(a)))
    top_score = set(np.argsort(-a, kind="stable")[:k])
    top_truth = set(np.argsort(-b, kind="stable")[:k])
    return len(top_score & top_truth) / k


def regret(scores: Sequence[float | None], truths: Sequence[float | None]) -> float:
    """Best truth minus the truth of the arch with the best score."""
    a, b = finite_pairs(scores, truths)
    if len(a) == 0:
        return math.nan
    return float(b.max() - b[int(np.argmax(a))])


@dataclass(frozen=True)
class RankSummary:
    """How well scores rank archs against a truth: Spearman and Kendall with 95% bootstrap
    intervals, top-10% precision, regret, ``n_archs`` (archs with both a score and a truth) and
    a ``warning`` when that is under :data:`MIN_ARCHS`."""

    spearman: float
    kendall: float
    spearman_ci95: tuple[float, float]
    kendall_ci95: tuple[float, float]
    top10pct_precision: float
    regret: float
    n_archs: int
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``warning`` only when there is one)."""
        out: dict[str, Any] = {"spearman": self.spearman, "kendall": self.kendall,
                               "spearman_ci95": list(self.spearman_ci95), "kendall_ci95": list(self.kendall_ci95),
                               "top10pct_precision": self.top10pct_precision, "regret": self.regret,
                               "n_archs": self.n_archs}
        if self.warning is not None:
            out["warning"] = self.warning
        return out


def rank_stats(scores: Sequence[float | None], truths: Sequence[float | None], *, seed: int = 0) -> RankSummary:
    """Spearman, Kendall (with 95% bootstrap intervals), top-10% precision and regret of
    ``scores`` against ``truths`` (see :class:`RankSummary`)."""
    a, _ = finite_pairs(scores, truths)
    n = len(a)
    warning = (f"only {n} archs with a score and a truth: a rank correlation on fewer than {MIN_ARCHS} is not "
               "meaningful") if n < MIN_ARCHS else None
    return RankSummary(
        spearman=spearman(scores, truths),
        kendall=kendall(scores, truths),
        spearman_ci95=tuple(bootstrap_ci(scores, truths, method="spearman", seed=seed)),
        kendall_ci95=tuple(bootstrap_ci(scores, truths, method="kendall", seed=seed, n_boot=300)),
        top10pct_precision=top_k_precision(scores, truths, max(1, n // 10)),
        regret=regret(scores, truths),
        n_archs=n,
        warning=warning,
    )


def rank_summary(scores: Sequence[float | None], truths: Sequence[float | None], *, seed: int = 0) -> dict:
    """:func:`rank_stats` as a JSON-ready dict (for tables and scripts)."""
    return rank_stats(scores, truths, seed=seed).to_dict()
