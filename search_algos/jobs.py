"""``bpe search`` as one library call: check every input and the output, run the searches
(sample-based drivers, multi-fidelity methods, or one one-shot method), write ``search.json``
and the best-so-far plot; return the typed experiment (:mod:`search_algos.experiment`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bpe.config import PRESETS, load_config
from bpe.data import prepare_split
from bpe.errors import BPEError
from bpe.estimators import estimator_from_spec
from bpe.estimators.cached import CachedEstimator
from bpe.outputs import plan_outputs, run_provenance
from bpe.registry import did_you_mean
from bpe.spaces import ListedSpace, get_space
from bpe.truth import load_truth
from search_algos.base import available_algorithms, create_algorithm
from search_algos.budget import parse_budget
from search_algos.experiment import OneShotExperiment, OneShotRun, SearchContext, SearchExperiment
from search_algos.fidelity import EpochCurves, available_fidelity_methods, create_fidelity_method
from search_algos.options import algorithm_options
from search_algos.orchestrate import oneshot_experiment, oneshot_plot, sample_based_experiment
from search_algos.runs import best_so_far_plot

__all__ = ["SEARCH_OUTPUTS", "PUBLISHED_PROTOCOL", "search_job", "published_differences"]

#: What `bpe search` writes: the results JSON and the best-so-far plot.
SEARCH_OUTPUTS = (".json", ".png")
#: The NAS-Bench-201 paper's protocol for its sample-based rows (Table 5).
PUBLISHED_PROTOCOL = {"estimator": "oracle", "simulated_seconds": 12000.0, "runs": 500}


def published_differences(estimator: str, budget: Any, runs: int) -> list[str]:
    """How a sample-based run differs from the protocol of the published rows (empty: comparable)."""
    out = []
    if estimator != PUBLISHED_PROTOCOL["estimator"]:
        out.append(f"estimator {estimator}, not the benchmark's recorded training (oracle)")
    if budget.simulated_seconds != PUBLISHED_PROTOCOL["simulated_seconds"] or budget.evaluations or budget.seconds:
        out.append(f"budget {budget.describe()}, not 12000s-simulated")
    if runs < 100:
        out.append(f"{runs} runs, not {PUBLISHED_PROTOCOL['runs']} (means over few runs)")
    return out


def search_job(*, algos: Sequence[str], estimator_spec: str, dataset: Any, truth_spec: str | None, metric: str,
               budget_spec: str | None, runs: int, seed: int, runner: Any, out: str | Path, space: str = "nb201",
               device: str = "auto", oracle_epochs: int = 12, prescreen_spec: str | None = None, pool: int = 100,
               option_items: Sequence[str] = (), progress: bool = True,
               on_start: Callable[[str], None] | None = None,
               on_run: Callable[[int, OneShotRun], None] | None = None,
               keep_evaluated: bool = False,
               plot: bool = True) -> tuple[SearchExperiment | OneShotExperiment, list[Path]]:
    """Run ``runs`` seeded searches of each of ``algos`` (or one one-shot method) and write the results
    (``keep_evaluated``: every run also lists the archs it evaluated and what each cost) and, with
    ``plot``, a PNG (the best-so-far truth per budget; a one-shot method's supernet loss per epoch).
    Returns the experiment and the paths written; ``on_run(r, run)`` is called after each one-shot run."""
    from search_algos.oneshot import ONESHOT_ALIASES  # torch-heavy

    algos = [a.strip() for a in algos if a.strip()]
    if not algos:
        raise BPEError("--algo needs at least one algorithm")
    repeated = sorted({a for a in algos if algos.count(a) > 1})
    if repeated:
        raise BPEError(f"--algo lists {', '.join(repeated)} more than once; give each algorithm once (--runs sets "
                       "how many runs each gets)")
    if hasattr(runner, "preflight"):
        runner.preflight()  # an unreachable --scheduler is refused before any work
    if runs < 1:
        raise BPEError(f"--runs must be >= 1, got {runs}")
    outputs = plan_outputs(out, suffixes=SEARCH_OUTPUTS, default_stem="search", command="bpe search")
    truth = load_truth(truth_spec, space=space) if truth_spec else None
    if any(a in ONESHOT_ALIASES for a in algos):
        if len(algos) != 1:
            raise BPEError("a one-shot method (darts, darts-v2, gdas) runs alone: pass it as the only --algo")
        if getattr(runner, "backend", "loky") != "loky":
            raise BPEError(f"a one-shot method trains its supernets in this process and cannot use --backend "
                           f"{runner.backend}; drop --backend (sample-based searches run on a cluster)")
        result = _oneshot(ONESHOT_ALIASES[algos[0]], estimator_spec, dataset, truth, runs, seed, device,
                          option_items, progress, on_start, on_run, space=space)
        outputs.write_json(result.to_dict())
        written = [outputs.path(".json")]
        if plot:
            written.append(oneshot_plot(result, outputs.path(".png")))
        return result, outputs.finish(written)
    if budget_spec is None:
        raise BPEError("sample-based search needs --budget: N (evaluations), Ns (wall seconds) or Ns-simulated")
    budget = parse_budget(budget_spec)
    fidelity = [a for a in algos if a in available_fidelity_methods()]
    known = [*available_algorithms(), *available_fidelity_methods(), *ONESHOT_ALIASES]
    for algo in algos:  # an unknown name is reported (with a suggestion) before any work
        if algo not in known:
            raise BPEError(f"unknown search algorithm '{algo}'{did_you_mean(algo, known)} "
                           f"(available: {', '.join(known)})")
    options = algorithm_options(option_items, algos)
    for algo, opts in options.items():  # out-of-range options fail here, before any work
        (create_fidelity_method if algo in fidelity else create_algorithm)(algo, **opts)
    if estimator_spec == "oracle" and truth is None:
        raise BPEError("--estimator oracle needs --truth PATH.csv (the table it looks rewards up in)")
    if budget.simulated_seconds is not None and estimator_spec != "oracle":
        raise BPEError("a simulated-seconds budget needs --estimator oracle (only a benchmark records training time)")
    estimator = estimator_from_spec(estimator_spec, dataset=dataset, truth=truth, metric=metric, space=space,
                                    device=device)
    if estimator.population:
        raise BPEError(f"{estimator.describe()} ranks archs scored together, and a search scores them one by one: "
                       "use it as --prescreen (with --algo random), or search with one of its scorers")
    if estimator_spec == "oracle":
        estimator.epochs = oracle_epochs
    if estimator_spec == "oracle" or estimator.cheap:
        factory = lambda: estimator  # noqa: E731 - lookups need no cache
    else:
        cached = CachedEstimator(estimator, runner.cache)
        factory = lambda: cached  # noqa: E731
    curves = EpochCurves(estimator, runner.cache) if fidelity else None  # checks it is a proxy setting
    for algo in fidelity:
        create_fidelity_method(algo, **options.get(algo, {})).check(curves.max_epochs)
    prescreen = None
    if prescreen_spec:
        if algos != ["random"]:
            raise BPEError("--prescreen makes a two-stage random search: use it with --algo random only")
        if pool < 1:
            raise BPEError(f"--pool must be >= 1, got {pool}")
        prescreen = estimator_from_spec(prescreen_spec, dataset=dataset, truth=truth, metric=metric, space=space,
                                        device=device)
    if on_start is not None:
        on_start(f"{', '.join(algos)} x {runs} runs, estimator {estimator.describe()}, budget {budget.describe()}"
                 + (f", options {options}" if options else "")
                 + (f", prescreen {prescreen.describe()} on {pool} archs" if prescreen else ""))
    search_space = get_space(space)
    if not search_space.enumerable and truth is not None and hasattr(truth, "archs"):
        search_space = ListedSpace(search_space, truth.archs())  # search the truth's cells (the BPE paper's 100)
    result, all_results = sample_based_experiment(
        algos, factory, budget, runs=runs, seed=seed, space=search_space,
        jobs=1 if estimator_spec == "oracle" else runner.jobs, truth=truth, prescreen=prescreen, pool=pool,
        algorithm_options=options, progress=progress, curves=curves, runner=runner, keep_evaluated=keep_evaluated)
    differences = published_differences(estimator_spec if estimator_spec == "oracle" else estimator.describe(),
                                         budget, runs)
    for row in result.summary.values():
        if row.published and differences:
            row.published_not_comparable = differences
            row.published = None
    result.context = SearchContext(truth_source=truth_spec, metric=metric, space=space, dataset=dataset.name,
                                   provenance=run_provenance())
    outputs.write_json(result.to_dict())
    written = [outputs.path(".json")]
    if plot and truth is not None and "v11_cifar10_test" in truth.metrics:
        axis, limit = (("simulated_seconds", budget.simulated_seconds) if budget.simulated_seconds else
                       ("evaluations", budget.evaluations) if budget.evaluations else ("seconds", budget.seconds))
        written.append(best_so_far_plot(all_results, truth, outputs.path(".png"), axis=axis, limit=limit))
    return result, outputs.finish(written)


def _oneshot(method: str, estimator_spec: str, dataset: Any, truth: Any, runs: int, seed: int, device: str,
             option_items: Sequence[str], progress: bool, on_start: Any, on_run: Any,
             space: str = "nb201") -> OneShotExperiment:
    from search_algos.oneshot import ONESHOT_ALIASES, oneshot_options  # torch-heavy

    if not (estimator_spec.endswith(".json") or estimator_spec in PRESETS):
        raise BPEError(f"{method} trains a supernet: --estimator must be a BPEConfig JSON file or a preset "
                       f"({', '.join(PRESETS)})")
    names = [a for a, m in ONESHOT_ALIASES.items() if m == method]  # darts.x and darts-v1.x mean the same
    per_name = algorithm_options(option_items, names, lambda _: oneshot_options())
    options = {k: v for opts in per_name.values() for k, v in opts.items()}
    config = load_config(estimator_spec)
    data = prepare_split(dataset, config.data_fraction)
    if on_start is not None:
        on_start(f"{method} x {runs} runs, supernet trained under {config.to_dict()}"
                 + (f", options {options}" if options else ""))
    result = oneshot_experiment(method, config, data, runs=runs, seed=seed, device=device, truth=truth,
                                on_run=on_run, progress=progress, options=options, space=space)
    for row in result.summary.values():
        if row.published:
            row.published_note = ("the NAS-Bench-201 paper's one-shot rows come from its own supernet training "
                                  "on CIFAR-10; compare only a run with the same data and epochs")
    result.dataset = dataset.name
    return result
