"""Score many architectures with several estimators (``bpe score``), correlate score tables
with a ground truth (``bpe correlate``), draw the cost/quality frontier, and search by
scoring (NASWOT's protocol: score N random archs, keep the best)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from bpe.benchmarks import Benchmark
from bpe.cache import atomic_write_text
from bpe.errors import BPEError
from bpe.estimators.base import Estimator
from bpe.metrics import rank_summary
from bpe.parallel import Runner

__all__ = [
    "score_archs",
    "write_scores",
    "read_scores",
    "correlate_scores",
    "frontier_plot",
    "best_of_n",
]

log = logging.getLogger(__name__)
SECONDS_SUFFIX = "_seconds"


def score_archs(estimators: Sequence[Estimator], archs: Sequence[Any], *, runner: Runner | None = None) -> pd.DataFrame:
    """One row per arch: ``arch``, one column per estimator (``NaN`` where it failed) and
    ``<name>_seconds`` (compute seconds of that evaluation)."""
    runner = runner or Runner()
    archs = [str(a) for a in archs]
    frame = pd.DataFrame({"arch": archs})
    for est in estimators:
        records = runner.run(est, archs, desc=f"{est.name}")
        frame[est.name] = [r.score if r.ok else np.nan for r in records]
        frame[est.name + SECONDS_SUFFIX] = [r.cost.seconds for r in records]
        failed = [r for r in records if not r.ok]
        if failed:
            log.warning("%s failed on %d archs, e.g. %s: %s", est.name, len(failed), failed[0].arch, failed[0].error)
    return frame


def write_scores(frame: pd.DataFrame, out: str | Path, *, estimators: Sequence[Estimator] = ()) -> list[Path]:
    """Write the scores CSV and a JSON sidecar (estimator settings, failures, mean seconds)."""
    out = Path(out)
    atomic_write_text(out, frame.to_csv(index=False))
    meta = {
        est.name: {
            "description": est.describe(),
            "fingerprint": est.fingerprint(),
            "n_failed": int(frame[est.name].isna().sum()),
            "mean_seconds": float(frame[est.name + SECONDS_SUFFIX].mean()),
        }
        for est in estimators
    }
    side = out.with_suffix(".json")
    atomic_write_text(side, json.dumps(meta, indent=2, default=str) + "\n")
    return [out, side]


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a scores CSV (must have an ``arch`` column)."""
    path = Path(path)
    if not path.is_file():
        raise BPEError(f"scores file {path} does not exist; create it with `bpe score ... --out {path}`")
    try:
        frame = pd.read_csv(path)
    except Exception as err:
        raise BPEError(f"cannot read scores file {path} ({err}); is it a CSV written by `bpe score`?") from None
    if "arch" not in frame.columns:
        raise BPEError(f"scores file {path} has no 'arch' column; columns are {', '.join(frame.columns)}")
    return frame


def estimator_columns(frame: pd.DataFrame) -> list[str]:
    """Score columns of a scores table (everything but ``arch`` and ``*_seconds``)."""
    return [c for c in frame.columns if c != "arch" and not c.endswith(SECONDS_SUFFIX)
            and pd.api.types.is_numeric_dtype(frame[c])]


def correlate_scores(frame: pd.DataFrame, truth: Benchmark, metric: str, *, seed: int = 0) -> dict[str, dict]:
    """Per estimator column: Kendall, Spearman (95% bootstrap CIs), top-10% precision, regret,
    mean seconds per arch, and the number of archs used."""
    metric = truth.check_metric(metric)
    truths = truth.query_many(list(frame["arch"]), metric)
    out = {}
    for name in estimator_columns(frame):
        summary = rank_summary(list(frame[name]), truths, seed=seed)
        seconds_col = name + SECONDS_SUFFIX
        summary["seconds_per_arch"] = float(frame[seconds_col].mean()) if seconds_col in frame else math.nan
        summary["n_failed"] = int(frame[name].isna().sum())
        out[name] = summary
    return out


def evaluation_point(result: dict) -> dict:
    """A frontier point from a ``bpe evaluate`` results JSON."""
    return {"label": result["estimator"].get("description", result["estimator"]["name"]),
            "spearman": result["spearman"], "seconds_per_arch": result["seconds_per_arch"], "kind": "bpe"}


def frontier_plot(points: Sequence[dict], path: str | Path, *, title: str = "") -> Path:
    """Spearman ρ against seconds per arch (log x) for every estimator given."""
    from bpe.plotting import new_figure, save_figure

    fig, ax = new_figure(figsize=(7, 4.5))
    colors = {"training-free": "tab:blue", "bpe": "tab:red", "other": "tab:gray"}
    for kind in colors:
        pts = [p for p in points if p.get("kind", "other") == kind and math.isfinite(p["spearman"])]
        if not pts:
            continue
        ax.scatter([max(p["seconds_per_arch"], 1e-3) for p in pts], [p["spearman"] for p in pts],
                   c=colors[kind], label=kind, s=30, zorder=3)
        for p in pts:
            ax.annotate(p["label"], (max(p["seconds_per_arch"], 1e-3), p["spearman"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per architecture (log scale)")
    ax.set_ylabel("Spearman ρ with ground truth")
    ax.axhline(0, color="black", lw=0.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=8)
    return save_figure(fig, path)


def best_of_n(scores: Sequence[float], truths: Sequence[float], n: int, runs: int, seed: int) -> np.ndarray:
    """NASWOT's search by scoring on a scored pool: per run, draw ``n`` archs without
    replacement, keep the one with the highest score, return its truth (one value per run).
    Archs whose score failed (NaN) are never chosen unless all ``n`` failed."""
    scores = np.asarray(scores, dtype=float)
    truths = np.asarray(truths, dtype=float)
    if n > len(scores):
        raise BPEError(f"cannot draw N={n} archs from a pool of {len(scores)} scored archs")
    rng = np.random.default_rng(seed)
    picked = np.empty(runs)
    for r in range(runs):
        idx = rng.choice(len(scores), size=n, replace=False)
        s = np.where(np.isfinite(scores[idx]), scores[idx], -np.inf)
        picked[r] = truths[idx[int(np.argmax(s))]]
    return picked
