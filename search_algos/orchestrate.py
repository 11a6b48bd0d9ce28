"""Whole search experiments as ``bpe search`` runs them: R seeded runs per algorithm (or one
one-shot method), their true accuracies and a summary next to the published rows, returned as a
typed experiment (:mod:`search_algos.experiment`) whose ``to_dict`` is written to
``search.json``.  The CLI only parses, validates and prints."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bpe.config import BPEConfig
from bpe.data import TensorSplit
from bpe.errors import BPEError
from bpe.estimators.base import Estimator
from bpe.parallel import Runner
from bpe.plotting import legend_outside, new_figure, save_figure, set_title
from bpe.truth import Benchmark
from search_algos.budget import Budget
from search_algos.experiment import (
    AlgorithmSummary,
    OneShotExperiment,
    OneShotRun,
    OneShotSummary,
    SampleSummary,
    SearchExperiment,
    SearchRun,
)
from search_algos.fidelity import EpochCurves, available_fidelity_methods, fidelity_driver, fidelity_scheduler
from search_algos.loop import SearchResult
from search_algos.runs import PUBLISHED, TRUE_METRICS, parallel_runs, run_many, summarize, true_accuracy
from search_algos.two_stage import two_stage_search

__all__ = ["ACCURACY_KEYS", "evaluated_archs", "sample_based_experiment", "oneshot_experiment", "summary_table"]

#: Columns of the summary table, in the NB201 paper's order.
ACCURACY_KEYS = tuple(TRUE_METRICS)


def sample_based_experiment(
    algorithms: Sequence[str],
    estimator_factory: Callable[[], Estimator],
    budget: Budget,
    *,
    runs: int,
    seed: int = 0,
    space: str = "nb201",
    jobs: int = 1,
    truth: Benchmark | None = None,
    prescreen: Estimator | None = None,
    pool: int = 100,
    algorithm_options: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
    curves: EpochCurves | None = None,
    runner: Runner | None = None,
    keep_evaluated: bool = False,
) -> tuple[SearchExperiment, dict[str, list[SearchResult]]]:
    """Run ``runs`` seeded searches (seeds ``seed, seed+1, ...``) of every algorithm, each through
    the one search loop.

    With ``prescreen`` every run is a two-stage search (``pool`` random archs scored by
    ``prescreen``, the budget's rest spent on the best of them).  ``algorithm_options`` maps an
    algorithm name to its constructor options.  A multi-fidelity method (``hyperband``, ``sha``)
    is its driver (random) training through ``curves``, with its scheduler, under the same
    budget; ``runner`` scores a vote's prescreen pool, and
    when its backend is a cluster's (Dask, Ray) every run is one task there (``jobs`` local
    processes run them otherwise).
    ``keep_evaluated`` adds to every run the archs it evaluated, in order, each with the budget
    seconds its evaluation was charged (for cost accounting; off by default to keep the JSON of
    thousands of simulated runs small).  Returns the experiment (a summary per algorithm and the
    runs, each with its true accuracies when ``truth`` is given) and the raw results per
    algorithm (for the best-so-far plot).
    """
    options = algorithm_options or {}
    all_results: dict[str, list[SearchResult]] = {}
    runs_out: list[SearchRun] = []
    summary: dict[str, SampleSummary] = {}
    cluster = runner if runner is not None and runner.backend != "loky" else None  # each run one task there
    local = Runner(jobs=1, cache=runner.cache, progress=False) if cluster is not None else None  # in such a task
    for algo in algorithms:
        if prescreen is not None and cluster is None:
            results = [two_stage_search(prescreen, estimator_factory(), budget, pool=pool, seed=seed + r, space=space,
                                        runner=runner)
                       for r in range(runs)]
        elif prescreen is not None:  # a whole run per task; its pool scored in that task
            results = parallel_runs(
                lambda r: two_stage_search(prescreen, estimator_factory(), budget, pool=pool, seed=seed + r,
                                           space=space, runner=local), runs, runner=cluster, desc=algo,
                progress=progress)
        else:
            driver, driver_options, evaluator, scheduler = _plan(algo, options.get(algo), estimator_factory, curves,
                                                                 space)
            results = run_many(driver, evaluator, budget, runs=runs, seed=seed, space=space, jobs=jobs,
                               progress=progress, algorithm_options=driver_options, runner=cluster,
                               scheduler=scheduler, desc=algo)
        if prescreen is not None:
            algo = results[0].algorithm
        all_results[algo] = results
        accs = []
        for r in results:
            acc = true_accuracy(truth, r.arch) if truth is not None else None
            accs.append(acc)
            runs_out.append(SearchRun(r, acc, evaluated_archs(r) if keep_evaluated else None))
        summary[algo] = SampleSummary(
            true_accuracy=summarize(accs), published=_published(algo, accs), options=options.get(algo, {}),
            mean_evaluations=float(sum(r.spent.evaluations for r in results) / len(results)),
            mean_seconds=float(sum(r.spent.seconds for r in results) / len(results)))
    experiment = SearchExperiment(algorithms=list(all_results), estimator=estimator_factory().describe(),
                                  budget=budget.describe(), runs_per_algorithm=runs, seed=seed, summary=summary,
                                  runs=runs_out)
    return experiment, all_results


def _plan(algo: str, options: dict[str, Any] | None, estimator_factory: Callable[[], Estimator],
          curves: EpochCurves | None, space: Any) -> tuple[str, dict[str, Any] | None, Callable[[], Any], Any]:
    """(driver, its options, what evaluates an arch, the scheduler per seed or ``None``) of the
    search named ``algo``: a registered driver alone with the estimator, or a multi-fidelity
    method: its driver over ``curves`` (epoch by epoch) with its scheduler."""
    if algo not in available_fidelity_methods():
        return algo, options, estimator_factory, None
    if curves is None:
        raise BPEError(f"{algo} trains architectures epoch by epoch: it needs a proxy-training estimator")
    scheduler = functools.partial(fidelity_scheduler, algo, curves.max_epochs, space=space, **(options or {}))
    return fidelity_driver(algo), None, lambda: curves, scheduler


def evaluated_archs(result: SearchResult) -> list[dict[str, Any]]:
    """The archs a run evaluated (repeats left out), in order, each with the seconds its
    evaluation was charged and its score."""
    out, before = [], 0.0
    for step in result.history:
        if not step.repeat:
            out.append({"arch": step.arch, "seconds": step.seconds - before, "score": step.score, "epochs": step.epochs})
        before = step.seconds
    return out


def oneshot_experiment(
    method: str,
    config: BPEConfig,
    data: TensorSplit,
    *,
    runs: int,
    seed: int = 0,
    device: str = "auto",
    truth: Benchmark | None = None,
    on_run: Callable[[int, OneShotRun], None] | None = None,
    progress: bool = False,
    options: dict[str, Any] | None = None,
    space: str = "nb201",
) -> OneShotExperiment:
    """``runs`` one-shot searches on ``space``'s supernet (``config`` with seeds ``seed, seed+1, ...``); ``on_run(r, run)``
    is called after each (for progress printing); ``progress`` shows a bar over epochs; ``options``
    go to :func:`~search_algos.oneshot.oneshot_search` (e.g. ``arch_learning_rate``).  A run whose
    supernet loss became non-finite is a run with ``status`` ``failed``, its ``error``, and no arch,
    score or true accuracy (the summary counts it in ``n_failed``)."""
    from search_algos.oneshot import oneshot_search  # torch-heavy

    runs_out, accs = [], []
    for r in range(runs):
        found = oneshot_search(method, config.replace(seed=seed + r), data, space=space, device=device,
                               progress=progress, **(options or {}))
        acc = true_accuracy(truth, found.arch) if truth is not None else None
        accs.append(acc)
        run = OneShotRun(algorithm=method, seed=seed + r, status=found.status, error=found.error, arch=found.arch,
                         score=found.supernet_valid_accuracy, seconds=found.seconds,
                         parameter_free=found.parameter_free(), probabilities=found.probabilities,
                         history=found.history, true_accuracy=acc)
        runs_out.append(run)
        if on_run is not None:
            on_run(r, run)
    summary = {method: OneShotSummary(true_accuracy=summarize(accs), published=_published(method.split("-")[0], accs),
                                      mean_seconds=float(sum(run.seconds for run in runs_out) / runs),
                                      n_failed=sum(run.status == "failed" for run in runs_out),
                                      options=options or {})}
    return OneShotExperiment(algorithms=[method], space=space, estimator=config.to_dict(), runs_per_algorithm=runs,
                             seed=seed, summary=summary, runs=runs_out)


def _published(algo: str, accs: Sequence[dict[str, float] | None]) -> Any:
    """NAS-Bench-201's published row of ``algo``, only for runs judged by NB201's accuracies."""
    judged = [a for a in accs if a]
    return PUBLISHED.get(algo) if judged and set(ACCURACY_KEYS) <= set(judged[0]) else None


def summary_table(summary: dict[str, AlgorithmSummary]) -> str:
    """Markdown table: mean ± std of each true accuracy per algorithm, with the published row below."""
    present = [k for row in summary.values() for k in row.true_accuracy]  # another truth: its own metric
    keys = ([k for k in ACCURACY_KEYS if k in present] + [k for k in dict.fromkeys(present) if k not in ACCURACY_KEYS]
            or list(ACCURACY_KEYS))
    lines = ["| algorithm | " + " | ".join(keys) + " | evaluations/run |",
             "|---|" + "---|" * (len(keys) + 1)]
    for algo, s in summary.items():
        acc = s.true_accuracy
        cells = [f"{acc[k]['mean']:.2f} ± {acc[k]['std']:.2f}" if k in acc else "-" for k in keys]
        evals = f"{s.mean_evaluations:.1f}" if s.mean_evaluations is not None else "-"
        lines.append(f"| {algo} | " + " | ".join(cells) + f" | {evals} |")
        if s.published and acc and keys == list(ACCURACY_KEYS):
            lines.append(f"| {algo} (published) | " + " | ".join(
                f"{m:.2f} ± {sd:.2f}" for m, sd in (s.published[k] for k in ACCURACY_KEYS)) + " | |")
    return "\n".join(lines)


def oneshot_plot(experiment: OneShotExperiment, path: str | Path) -> Path:
    """The supernet's training loss per epoch, one line per run, each run's last change of its
    derived cell marked (where the architecture settled)."""
    fig, ax = new_figure(figsize=(8, 4))
    for run in experiment.runs:
        history = run.history or []
        epochs = [h["epoch"] for h in history]
        line, = ax.plot(epochs, [h["train_loss"] for h in history], marker="o", ms=3,
                        label=f"seed {run.seed}" + ("" if run.status == "ok" else f" ({run.status})"))
        archs = [h.get("arch") for h in history]
        settled = next((i for i in range(len(archs) - 1, 0, -1) if archs[i] != archs[i - 1]), 0)
        if history:
            ax.axvline(epochs[settled], color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("supernet training loss")
    ax.grid(alpha=0.3)
    set_title(ax, f"{', '.join(experiment.algorithms)} on {experiment.space}: supernet loss per epoch (dotted: the "
                  "derived cell's last change)")
    legend_outside(ax)
    return save_figure(fig, path)
