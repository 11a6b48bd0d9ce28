"""Evaluate an estimator: score a seeded sample of architectures and compare the ranking with
a ground truth (the job behind ``bpe evaluate``)."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bpe.benchmarks import Benchmark
from bpe.cache import atomic_write_text
from bpe.errors import BPEError
from bpe.estimators.base import Estimator
from bpe.metrics import rank_summary
from bpe.parallel import Runner
from bpe.spaces import get_space

__all__ = ["sample_archs", "evaluate_estimator", "write_results"]

log = logging.getLogger(__name__)


def sample_archs(space: str, n: int, seed: int) -> list[str]:
    """``n`` distinct archs of ``space`` drawn uniformly without replacement with ``seed``."""
    mod = get_space(space)
    if not isinstance(n, int) or n < 2:
        raise BPEError(f"--archs must be at least 2 to compute a rank correlation, got {n}")
    if n > mod.NUM_ARCHS:
        raise BPEError(f"--archs must be at most {mod.NUM_ARCHS} (the size of {space}), got {n}")
    return [str(a) for a in mod.sample(n, np.random.default_rng(seed))]


def evaluate_estimator(
    estimator: Estimator,
    truth: Benchmark,
    archs: Sequence[Any],
    *,
    metric: str | None = None,
    runner: Runner | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Score ``archs`` with ``estimator`` and correlate with ``truth``.

    Returns a JSON-serialisable dict with ``spearman``, ``kendall`` (plus bootstrap 95%
    intervals, top-10% precision, regret), ``n_archs``, ``seconds_per_arch`` (mean compute
    seconds of one evaluation, cached ones included at their recorded cost),
    ``wall_seconds`` of this call, and one record per arch.
    """
    runner = runner or Runner()
    metric = truth.check_metric(metric)
    archs = [str(a) for a in archs]
    if not archs:
        raise BPEError("the architecture sample is empty; pass --archs N with N >= 2")
    start = time.perf_counter()
    truths = truth.query_many(archs, metric, runner=runner)
    records = runner.run(estimator, archs, desc=f"{estimator.name} scoring")
    wall = time.perf_counter() - start
    scores = [r.score if r.ok else None for r in records]
    usable = [t if math.isfinite(t) else None for t in truths]
    summary = rank_summary(scores, usable, seed=seed)
    seconds = [r.cost.seconds for r in records]
    truth_seconds = [truth.measured_seconds(a) for a in archs]
    truth_cost = float(np.mean(truth_seconds)) if all(s is not None for s in truth_seconds) else None
    return {
        **summary,
        "n_archs": len(archs),
        "n_ok": sum(r.ok for r in records),
        "n_failed": sum(not r.ok for r in records),
        "n_no_truth": sum(t is None for t in usable),
        "seconds_per_arch": float(np.mean(seconds)) if seconds else math.nan,
        "simulated_seconds_per_arch": float(np.mean([r.cost.simulated_seconds for r in records])),
        "truth_seconds_per_arch": truth_cost,
        "wall_seconds": wall,
        "estimator": {"name": estimator.name, "description": estimator.describe(), **estimator.fingerprint()},
        "truth": {"metric": metric, **truth.fingerprint()},
        "seed": seed,
        "records": [
            {
                "arch": r.arch,
                "score": r.score,
                "truth": t,
                "seconds": r.cost.seconds,
                "status": r.status,
                "error": r.error,
                "cost": r.cost.to_dict(),
                "info": r.info,
            }
            for r, t in zip(records, usable)
        ],
    }


def write_results(result: dict[str, Any], out: str | Path, *, plot: bool = True) -> list[Path]:
    """Write ``out`` (JSON), a CSV of the records beside it, and a scatter PNG (when ``plot``).

    Every file is written atomically.  Returns the paths written.
    """
    import pandas as pd

    out = Path(out)
    atomic_write_text(out, json.dumps(result, indent=2, default=_json_default) + "\n")
    paths = [out]
    frame = pd.DataFrame(
        [{k: r[k] for k in ("arch", "score", "truth", "seconds", "status", "error")} for r in result["records"]]
    )
    csv_path = out.with_suffix(".csv")
    atomic_write_text(csv_path, frame.to_csv(index=False))
    paths.append(csv_path)
    if plot:
        paths.append(_scatter(result, out.with_suffix(".png")))
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def _scatter(result: dict[str, Any], path: Path) -> Path:
    from bpe.plotting import new_figure, save_figure

    ok = [r for r in result["records"] if r["score"] is not None and r["truth"] is not None]
    fig, ax = new_figure(figsize=(5, 4), dpi=120)
    ax.scatter([r["truth"] for r in ok], [r["score"] for r in ok], s=14, alpha=0.75)
    ax.set_xlabel(f"ground truth ({result['truth']['metric']})")
    ax.set_ylabel(f"score ({result['estimator']['name']})")
    ax.set_title(
        f"{result['estimator']['description']}\n"
        f"Spearman {result['spearman']:.3f}, Kendall {result['kendall']:.3f}, n={result['n_pairs']}, "
        f"{result['seconds_per_arch']:.1f} s/arch",
        fontsize=8,
    )
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
