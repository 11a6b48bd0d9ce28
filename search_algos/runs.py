"""Many seeded search runs per algorithm, their true accuracies, a summary and the
best-so-far plot (the library behind ``bpe search``)."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bpe.errors import TruthError
from bpe.estimators.base import Estimator
from bpe.parallel import Runner, where
from bpe.plotting import legend_outside, new_figure, save_figure
from bpe.truth import Benchmark
from search_algos.base import create_algorithm
from search_algos.budget import Budget
from search_algos.loop import Scheduler, SearchResult, Trainer, run_search

__all__ = ["TRUE_METRICS", "PUBLISHED", "run_many", "parallel_runs", "true_accuracy", "summarize", "best_so_far_plot"]

#: Keys of ``true_accuracy`` -> NB201 table columns (200-epoch, v1_1 release).
TRUE_METRICS = {
    "cifar10_valid": "v11_cifar10valid_valid",
    "cifar10_test": "v11_cifar10_test",
    "cifar100_test": "v11_cifar100_test",
    "imagenet16_test": "v11_imagenet16_test",
}

#: NAS-Bench-201 paper, Table 5 (mean, std): CIFAR-10 valid, CIFAR-10 test, CIFAR-100 test, ImageNet16-120 test.
PUBLISHED = {
    "rea": {"cifar10_valid": (91.19, 0.31), "cifar10_test": (93.92, 0.30), "cifar100_test": (71.84, 0.99), "imagenet16_test": (45.54, 1.03)},
    "random": {"cifar10_valid": (90.93, 0.36), "cifar10_test": (93.70, 0.36), "cifar100_test": (71.04, 1.07), "imagenet16_test": (44.57, 1.25)},
    "reinforce": {"cifar10_valid": (91.09, 0.37), "cifar10_test": (93.85, 0.37), "cifar100_test": (71.71, 1.09), "imagenet16_test": (45.24, 1.18)},
    "darts": {"cifar10_valid": (39.77, 0.0), "cifar10_test": (54.30, 0.0), "cifar100_test": (15.61, 0.0), "imagenet16_test": (16.32, 0.0)},
    "gdas": {"cifar10_valid": (90.00, 0.21), "cifar10_test": (93.51, 0.13), "cifar100_test": (70.61, 0.26), "imagenet16_test": (41.84, 0.90)},
}


def true_accuracy(truth: Benchmark, arch: str | None) -> dict[str, float] | None:
    """The four NB201 accuracies of ``arch``, or, from a truth without those columns (the BPE
    paper's DARTS cells), its default metric; ``None`` without an arch or for an arch the truth
    does not hold."""
    if arch is None:
        return None
    if set(TRUE_METRICS.values()) <= set(truth.metrics):
        return {key: truth.query(arch, metric) for key, metric in TRUE_METRICS.items()}
    try:
        return {truth.default_metric: truth.query(arch)}
    except TruthError:  # a one-shot cell outside a listed benchmark
        return None


def run_many(
    algorithm: str,
    estimator_factory: Callable[[], Estimator | Trainer],
    budget: Budget,
    *,
    runs: int,
    seed: int = 0,
    space: str = "nb201",
    jobs: int = 1,
    progress: bool = True,
    algorithm_options: dict[str, Any] | None = None,
    runner: Runner | None = None,
    scheduler: Callable[[int], Scheduler] | None = None,
    desc: str | None = None,
) -> list[SearchResult]:
    """``runs`` independent runs of the driver ``algorithm`` with seeds ``seed, seed+1, ...``,
    each through :func:`~search_algos.loop.run_search` (see :func:`parallel_runs` for ``jobs`` and
    ``runner``).  ``scheduler(seed)`` makes a run's scheduler (a multi-fidelity method, see
    :func:`~search_algos.fidelity.fidelity_scheduler`); ``desc`` labels the progress bar
    (default: ``algorithm``)."""

    def one(r: int) -> SearchResult:
        algo = create_algorithm(algorithm, space=space, seed=seed + r, **(algorithm_options or {}))
        return run_search(algo, estimator_factory(), budget,
                          scheduler=scheduler(seed + r) if scheduler is not None else None)

    return parallel_runs(one, runs, jobs=jobs, runner=runner, desc=desc or algorithm, progress=progress)


def _located(one: Callable[[int], SearchResult], r: int) -> tuple[SearchResult, dict[str, Any]]:
    return one(r), where()


def parallel_runs(one: Callable[[int], SearchResult], runs: int, *, jobs: int = 1, runner: Runner | None = None,
                  desc: str = "", progress: bool = True) -> list[SearchResult]:
    """``[one(0), ..., one(runs - 1)]``, each run one task of ``runner`` (on its backend: a Dask
    or Ray cluster's workers, or local processes) or, without one, of ``jobs`` local processes
    (in this process when 1; workers exit with it); returned in run order whatever order they
    finish in, each recording where it ran (``worker``)."""
    executor = runner if runner is not None else Runner(jobs=jobs, progress=False)
    done: dict[int, SearchResult] = {}
    tasks = executor.map(functools.partial(_located, one), list(range(runs)))
    for r, (result, place) in tqdm(tasks, total=runs, desc=desc, unit="run", disable=not progress):
        result.worker = place
        done[r] = result  # runs finish in any order; they are returned in seed order
    return [done[r] for r in range(runs)]


def summarize(accs: Sequence[dict[str, float] | None]) -> dict[str, dict[str, float]]:
    """Mean and std (population) of each true-accuracy key over runs."""
    rows = [a for a in accs if a]
    if not rows:
        return {}
    return {k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows]))}
            for k in rows[0]}


def best_so_far_curve(result: SearchResult, truth: Benchmark, grid: np.ndarray, axis: str, metric: str) -> np.ndarray:
    """Truth (``metric``) of the incumbent (best score so far) at each budget point of ``grid``."""
    values = np.full(len(grid), np.nan)
    best_score, best_truth, steps = -math.inf, math.nan, result.history
    j = 0
    for step in steps:
        position = step.simulated_seconds if axis == "simulated_seconds" else (
            step.seconds if axis == "seconds" else step.evaluations)
        while j < len(grid) and grid[j] < position:
            values[j] = best_truth
            j += 1
        if step.score is not None and step.score > best_score:
            best_score, best_truth = step.score, truth.query(step.arch, metric)
    values[j:] = best_truth
    return values


def best_so_far_plot(results: dict[str, list[SearchResult]], truth: Benchmark, path: str | Path, *,
                     axis: str, limit: float, metric: str = "v11_cifar10_test") -> Path:
    """Mean ± std of the incumbent's truth against budget, one line per algorithm."""
    grid = np.linspace(0, limit, 101)[1:]
    fig, ax = new_figure(figsize=(8, 4))
    means = []
    for name, runs in results.items():
        curves = np.array([best_so_far_curve(r, truth, grid, axis, metric) for r in runs])
        with warnings.catch_warnings():  # budget points before a run's first evaluation are empty
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
        means.append(mean)
        ax.plot(grid, mean, label=f"{name} ({len(runs)} runs, mean ± std)")
        ax.fill_between(grid, mean - std, mean + std, alpha=0.15)
    tail = np.concatenate([m[len(m) // 10:] for m in means])
    if np.isfinite(tail).any():  # zoom on where the algorithms differ, not on the first few evaluations
        ax.set_ylim(np.nanmin(tail) - 1.0, np.nanmax(tail) + 0.6)
    ax.set_xlabel({"simulated_seconds": "simulated seconds", "seconds": "wall seconds"}.get(axis, "evaluations"))
    ax.set_ylabel(f"truth of best-so-far arch ({metric})")
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save_figure(fig, path)
