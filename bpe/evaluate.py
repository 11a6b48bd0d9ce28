"""Evaluate an estimator: score a seeded sample of architectures and compare the ranking with
a ground truth (the job behind ``bpe evaluate``)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bpe.archlists import resolve_archs, sample_archs
from bpe.data import check_data_files
from bpe.errors import BPEError
from bpe.estimators import estimator_from_spec
from bpe.estimators.base import Estimator
from bpe.metrics import rank_summary
from bpe.mip.recost import recost_export
from bpe.outputs import OutputSet, atomic_write_text, plan_outputs, run_provenance
from bpe.parallel import Runner
from bpe.plotting import new_figure, save_figure, set_title
from bpe.truth import Benchmark, load_truth
from bpe.truth.match import check_truth_dataset

__all__ = ["sample_archs", "evaluate_estimator", "write_results", "evaluate_job", "EVALUATE_OUTPUTS"]

#: What `bpe evaluate` writes: the results JSON, the per-arch CSV, the scatter plot.
EVALUATE_OUTPUTS = (".json", ".csv", ".png")

log = logging.getLogger(__name__)


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
        "n_sampled": len(archs),
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


def seed_noise(estimator: Estimator, archs: Sequence[str], scores: Sequence[float | None], *, n_archs: int,
               runner: Runner) -> dict[str, Any] | None:
    """Seed-to-seed noise of a trained estimator: the first ``n_archs`` of ``archs`` with a
    score trained again with the next seed.  Returns the mean absolute score difference, the
    spread (std) of ``scores`` over all archs, and their ratio (``noise_to_spread``: near or
    above 1, the ranking is mostly noise); ``None`` for estimators without a training seed."""
    if n_archs < 1 or not hasattr(estimator, "with_seed") or estimator.population:
        return None  # a hybrid's score is a rank among all archs: a few retrained ones are not comparable
    first = [(a, s) for a, s in zip(archs, scores) if s is not None][:n_archs]
    if len(first) < 2:
        return None
    seed = estimator.config.seed
    again = runner.run(estimator.with_seed(seed + 1), [a for a, _ in first], desc="seed noise")
    diffs = [abs(s - r.score) for (_, s), r in zip(first, again) if r.ok]
    spread = float(np.std([s for s in scores if s is not None]))
    mean_diff = float(np.mean(diffs)) if diffs else math.nan
    return {"n_archs": len(diffs), "seeds": [seed, seed + 1], "mean_abs_diff": mean_diff, "score_std": spread,
            "noise_to_spread": mean_diff / spread if spread > 0 else math.nan,
            "seconds_per_arch": float(np.mean([r.cost.seconds for r in again]))}


def write_results(result: dict[str, Any], out: str | Path | OutputSet, *, plot: bool = True) -> list[Path]:
    """Write the results JSON, a CSV of the records and (when ``plot``) a scatter PNG, all with
    one stem (see :mod:`bpe.outputs`); a plot of an earlier run is removed under ``plot=False``.

    Every file is written atomically.  Returns the paths written.
    """
    outputs = out if isinstance(out, OutputSet) else plan_outputs(out, suffixes=EVALUATE_OUTPUTS,
                                                                 default_stem="evaluate")
    outputs.write_json(result)
    paths = [outputs.path(".json")]
    frame = pd.DataFrame(
        [{k: r[k] for k in ("arch", "score", "truth", "seconds", "status", "error")} for r in result["records"]]
    )
    frame["dataset"] = result.get("dataset")
    frame["truth_source"] = result.get("truth_source")
    frame["metric"] = result["truth"]["metric"]
    atomic_write_text(outputs.path(".csv"), frame.to_csv(index=False))
    paths.append(outputs.path(".csv"))
    if plot:
        paths.append(_scatter(result, outputs.path(".png")))
    return outputs.finish(paths)


def _scatter(result: dict[str, Any], path: Path) -> Path:
    ok = [r for r in result["records"] if r["score"] is not None and r["truth"] is not None]
    fig, ax = new_figure(figsize=(5, 4), dpi=120)
    ax.scatter([r["truth"] for r in ok], [r["score"] for r in ok], s=14, alpha=0.75)
    ax.set_xlabel(f"ground truth ({result['truth']['metric']})")
    ax.set_ylabel(f"score ({result['estimator']['name']})")
    set_title(ax, f"{result['estimator']['description']}\n"
              f"{result.get('dataset', '?')} vs {result.get('truth_source', '?')} ({result['truth']['metric']}): "
              f"Spearman {result['spearman']:.3f}, Kendall {result['kendall']:.3f}, n={result['n_archs']}, "
              f"{result['seconds_per_arch']:.1f} s/arch", width=64)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def evaluate_job(estimator_spec: str, *, dataset: Any, truth_spec: str, metric: str | None, archs: str | int,
                 seed: int, runner: Runner, out: str | Path, plot: bool = True, space: str = "nb201",
                 device: str = "auto", reference_config: Any = None, allow_mismatch: bool = False,
                 confirm: Any = None, noise_archs: int = 5) -> tuple[dict[str, Any], list[Path]]:
    """``bpe evaluate``: check every input and output, then score and correlate.

    Before any work: the output files (:func:`bpe.outputs.plan_outputs`), the arch sample, the
    data files, the truth and its metric, whether the truth can belong to the dataset
    (:func:`bpe.truth.match.check_truth_dataset`), and the estimator.  A reference truth
    that has archs to train calls ``confirm(plan)`` with its :meth:`ReferenceBenchmark.plan`
    first (the CLI prints it and asks for ``--yes`` above a threshold).  Returns the result and
    the paths written.
    """
    outputs = plan_outputs(out, suffixes=EVALUATE_OUTPUTS, default_stem="evaluate", command="bpe evaluate")
    truth = load_truth(truth_spec, dataset=dataset, space=space, device=device, reference_config=reference_config)
    sample = resolve_archs(archs, space, seed, minimum=2, why=" to compute a rank correlation", truth=truth)
    metric = truth.check_metric(metric)
    estimator = estimator_from_spec(estimator_spec, dataset=dataset, truth=truth, metric=metric, space=space,
                                    device=device)
    reads_data = estimator.reads_data  # the oracle, a predictor, params/flops/synflow read no images
    truth_dataset = check_truth_dataset(truth, metric, dataset, allow_mismatch=allow_mismatch,
                                        needs_dataset=estimator_spec != "oracle")
    if reads_data or hasattr(truth, "plan"):
        check_data_files(dataset)
    if hasattr(truth, "plan") and confirm is not None:
        plan = truth.plan(sample, runner.cache)
        if plan["n_to_train"]:
            confirm(plan)
    recost = recost_export(estimator_spec, dataset=dataset, archs=sample, space=space, device=device) \
        if reads_data else None  # a bpe.json measured on another machine: its cost per arch here
    result = evaluate_estimator(estimator, truth, sample, metric=metric, runner=runner, seed=seed)
    if recost is not None:
        result["recost"] = recost
    if noise_archs and hasattr(estimator, "with_seed"):
        records = result["records"]
        result["seed_noise"] = seed_noise(estimator, [r["arch"] for r in records], [r["score"] for r in records],
                                          n_archs=noise_archs, runner=runner)
    result.update(space=space, dataset=dataset.name if estimator_spec != "oracle" else truth_dataset,
                  data_dir=dataset.data_dir,
                  truth_source=truth_spec, arch_seed=seed, provenance=run_provenance())
    if estimator_spec == "oracle":
        result["note"] = "the oracle estimator looks the truth up: its correlation is 1 by construction"
    return result, write_results(result, outputs, plot=plot)
