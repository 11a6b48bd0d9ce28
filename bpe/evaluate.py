"""Evaluate an estimator: score a seeded sample of architectures and compare the ranking with
a ground truth (the job behind ``bpe evaluate``)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bpe.archlists import resolve_archs, sample_archs
from bpe.data import check_data_files
from bpe.errors import BPEError
from bpe.estimators import estimator_from_spec
from bpe.estimators.base import Estimator
from bpe.metrics import RankSummary, rank_stats
from bpe.mip.recost import Recost, recost_export
from bpe.outputs import OutputSet, atomic_write_text, plan_outputs, run_provenance
from bpe.parallel import Runner
from bpe.plotting import new_figure, save_figure, set_title
from bpe.truth import Benchmark, load_truth
from bpe.truth.match import check_truth_dataset

__all__ = ["ArchScore", "SeedNoise", "Evaluation", "sample_archs", "evaluate_estimator", "write_results",
           "evaluate_job", "EVALUATE_OUTPUTS"]

#: What `bpe evaluate` writes: the results JSON, the per-arch CSV, the scatter plot.
EVALUATE_OUTPUTS = (".json", ".csv", ".png")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchScore:
    """One arch of an evaluation: its score, its truth, and what scoring it cost."""

    arch: str
    score: float | None
    truth: float | None
    seconds: float
    status: str
    error: str | None
    cost: dict[str, Any]
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "score": self.score, "truth": self.truth, "seconds": self.seconds,
                "status": self.status, "error": self.error, "cost": self.cost, "info": self.info}


@dataclass(frozen=True)
class SeedNoise:
    """A trained estimator's seed-to-seed noise (see :func:`seed_noise`)."""

    n_archs: int
    seeds: tuple[int, int]
    mean_abs_diff: float
    score_std: float
    noise_to_spread: float
    seconds_per_arch: float

    def to_dict(self) -> dict[str, Any]:
        return {"n_archs": self.n_archs, "seeds": list(self.seeds), "mean_abs_diff": self.mean_abs_diff,
                "score_std": self.score_std, "noise_to_spread": self.noise_to_spread,
                "seconds_per_arch": self.seconds_per_arch}


@dataclass
class Evaluation:
    """An estimator's scores on a sample of archs against a truth: the ranking statistics, the
    counts, the cost per arch (and the truth's), one :class:`ArchScore` per arch; what
    ``bpe evaluate`` adds (where and how it ran, a re-costing, seed noise) is set by
    :func:`evaluate_job`.  :meth:`to_dict` is the results JSON."""

    ranking: RankSummary
    n_sampled: int
    n_ok: int
    n_failed: int
    n_no_truth: int
    seconds_per_arch: float
    simulated_seconds_per_arch: float
    truth_seconds_per_arch: float | None
    wall_seconds: float
    estimator_name: str
    estimator_description: str
    estimator_fingerprint: dict[str, Any]
    metric: str
    truth_fingerprint: dict[str, Any]
    seed: int
    records: list[ArchScore]
    recost: Recost | None = None
    seed_noise: SeedNoise | None = None
    noise_measured: bool = False  # seed noise was asked for (the JSON then holds ``seed_noise``, maybe null)
    space: str | None = None
    dataset: str | None = None
    data_dir: str | None = None
    truth_source: str | None = None
    arch_seed: int | None = None
    provenance: dict[str, Any] | None = None
    note: str | None = None

    @property
    def spearman(self) -> float:
        return self.ranking.spearman

    @property
    def kendall(self) -> float:
        return self.ranking.kendall

    @property
    def warning(self) -> str | None:
        return self.ranking.warning

    def scores(self) -> list[float | None]:
        """The scores, in the sample's order."""
        return [r.score for r in self.records]

    def truths(self) -> list[float | None]:
        """The truths, in the sample's order."""
        return [r.truth for r in self.records]

    def to_dict(self) -> dict[str, Any]:
        """The results JSON ``bpe evaluate`` writes (its keys in their historical order)."""
        out: dict[str, Any] = {
            **self.ranking.to_dict(),
            "n_sampled": self.n_sampled, "n_ok": self.n_ok, "n_failed": self.n_failed, "n_no_truth": self.n_no_truth,
            "seconds_per_arch": self.seconds_per_arch, "simulated_seconds_per_arch": self.simulated_seconds_per_arch,
            "truth_seconds_per_arch": self.truth_seconds_per_arch, "wall_seconds": self.wall_seconds,
            "estimator": {"name": self.estimator_name, "description": self.estimator_description,
                          **self.estimator_fingerprint},
            "truth": {"metric": self.metric, **self.truth_fingerprint},
            "seed": self.seed,
            "records": [r.to_dict() for r in self.records],
        }
        if self.recost is not None:
            out["recost"] = self.recost.to_dict()
        if self.noise_measured:
            out["seed_noise"] = self.seed_noise.to_dict() if self.seed_noise is not None else None
        if self.space is not None:
            out.update(space=self.space, dataset=self.dataset, data_dir=self.data_dir, truth_source=self.truth_source,
                       arch_seed=self.arch_seed, provenance=self.provenance)
        if self.note is not None:
            out["note"] = self.note
        return out


def evaluate_estimator(
    estimator: Estimator,
    truth: Benchmark,
    archs: Sequence[Any],
    *,
    metric: str | None = None,
    runner: Runner | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score ``archs`` with ``estimator`` and correlate with ``truth``.

    Returns the :class:`Evaluation`: ``spearman``, ``kendall`` (plus bootstrap 95% intervals,
    top-10% precision, regret) in ``ranking``, ``n_archs``, ``seconds_per_arch`` (mean compute
    seconds of one evaluation, cached ones included at their recorded cost), ``wall_seconds`` of
    this call, and one record per arch.
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
    seconds = [r.cost.seconds for r in records]
    truth_seconds = [truth.measured_seconds(a) for a in archs]
    truth_cost = float(np.mean(truth_seconds)) if all(s is not None for s in truth_seconds) else None
    return Evaluation(
        ranking=rank_stats(scores, usable, seed=seed),
        n_sampled=len(archs),
        n_ok=sum(r.ok for r in records),
        n_failed=sum(not r.ok for r in records),
        n_no_truth=sum(t is None for t in usable),
        seconds_per_arch=float(np.mean(seconds)) if seconds else math.nan,
        simulated_seconds_per_arch=float(np.mean([r.cost.simulated_seconds for r in records])),
        truth_seconds_per_arch=truth_cost,
        wall_seconds=wall,
        estimator_name=estimator.name,
        estimator_description=estimator.describe(),
        estimator_fingerprint=estimator.fingerprint(),
        metric=metric,
        truth_fingerprint=truth.fingerprint(),
        seed=seed,
        records=[ArchScore(arch=r.arch, score=r.score, truth=t, seconds=r.cost.seconds, status=r.status, error=r.error,
                           cost=r.cost.to_dict(), info=r.info)
                 for r, t in zip(records, usable)],
    )


def seed_noise(estimator: Estimator, archs: Sequence[str], scores: Sequence[float | None], *, n_archs: int,
               runner: Runner) -> SeedNoise | None:
    """Seed-to-seed noise of a trained estimator: the first ``n_archs`` of ``archs`` with a
    score trained again with the next seed.  Returns the mean absolute score difference, the
    spread (std) of ``scores`` over all archs, and their ratio (``noise_to_spread``: near or
    above 1, the ranking is mostly noise); ``None`` for estimators without a training seed."""
    if n_archs < 1 or not hasattr(estimator, "with_seed"):
        return None
    first = [(a, s) for a, s in zip(archs, scores) if s is not None][:n_archs]
    if len(first) < 2:
        return None
    seed = estimator.config.seed
    again = runner.run(estimator.with_seed(seed + 1), [a for a, _ in first], desc="seed noise")
    diffs = [abs(s - r.score) for (_, s), r in zip(first, again) if r.ok]
    spread = float(np.std([s for s in scores if s is not None]))
    mean_diff = float(np.mean(diffs)) if diffs else math.nan
    return SeedNoise(n_archs=len(diffs), seeds=(seed, seed + 1), mean_abs_diff=mean_diff, score_std=spread,
                     noise_to_spread=mean_diff / spread if spread > 0 else math.nan,
                     seconds_per_arch=float(np.mean([r.cost.seconds for r in again])))


def write_results(result: Evaluation, out: str | Path | OutputSet, *, plot: bool = True) -> list[Path]:
    """Write the results JSON, a CSV of the records and (when ``plot``) a scatter PNG, all with
    one stem (see :mod:`bpe.outputs`); a plot of an earlier run is removed under ``plot=False``.

    Every file is written atomically.  Returns the paths written.
    """
    outputs = out if isinstance(out, OutputSet) else plan_outputs(out, suffixes=EVALUATE_OUTPUTS,
                                                                 default_stem="evaluate")
    outputs.write_json(result.to_dict())
    paths = [outputs.path(".json")]
    frame = pd.DataFrame([{"arch": r.arch, "score": r.score, "truth": r.truth, "seconds": r.seconds,
                           "status": r.status, "error": r.error} for r in result.records],
                         columns=["arch", "score", "truth", "seconds", "status", "error"])
    frame["dataset"] = result.dataset
    frame["truth_source"] = result.truth_source
    frame["metric"] = result.metric
    atomic_write_text(outputs.path(".csv"), frame.to_csv(index=False))
    paths.append(outputs.path(".csv"))
    if plot:
        paths.append(_scatter(result, outputs.path(".png")))
    return outputs.finish(paths)


def _scatter(result: Evaluation, path: Path) -> Path:
    ok = [r for r in result.records if r.score is not None and r.truth is not None]
    fig, ax = new_figure(figsize=(5, 4), dpi=120)
    ax.scatter([r.truth for r in ok], [r.score for r in ok], s=14, alpha=0.75)
    ax.set_xlabel(f"ground truth ({result.metric})")
    ax.set_ylabel(f"score ({result.estimator_name})")
    set_title(ax, f"{result.estimator_description}\n"
              f"{result.dataset or '?'} vs {result.truth_source or '?'} ({result.metric}): "
              f"Spearman {result.spearman:.3f}, Kendall {result.kendall:.3f}, n={result.ranking.n_archs}, "
              f"{result.seconds_per_arch:.1f} s/arch", width=64)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def evaluate_job(estimator_spec: str, *, dataset: Any, truth_spec: str, metric: str | None, archs: str | int,
                 seed: int, runner: Runner, out: str | Path, plot: bool = True, space: str = "nb201",
                 device: str = "auto", reference_config: Any = None, allow_mismatch: bool = False,
                 confirm: Any = None, noise_archs: int = 5) -> tuple[Evaluation, list[Path]]:
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
        if plan.n_to_train:
            confirm(plan)
    recost = recost_export(estimator_spec, dataset=dataset, archs=sample, space=space, device=device) \
        if reads_data else None  # a bpe.json measured on another machine: its cost per arch here
    result = evaluate_estimator(estimator, truth, sample, metric=metric, runner=runner, seed=seed)
    result.recost = recost
    if noise_archs and hasattr(estimator, "with_seed"):
        result.noise_measured = True
        result.seed_noise = seed_noise(estimator, [r.arch for r in result.records], result.scores(),
                                       n_archs=noise_archs, runner=runner)
    result.space = space
    result.dataset = dataset.name if estimator_spec != "oracle" else truth_dataset
    result.data_dir = dataset.data_dir
    result.truth_source = truth_spec
    result.arch_seed = seed
    result.provenance = run_provenance()
    if estimator_spec == "oracle":
        result.note = "the oracle estimator looks the truth up: its correlation is 1 by construction"
    return result, write_results(result, outputs, plot=plot)
