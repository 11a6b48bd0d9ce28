"""Multi-fidelity search over architectures: successive halving and Hyperband, where the fidelity
is proxy-training epochs.

The bandit is Optuna's (``SuccessiveHalvingPruner`` and ``HyperbandPruner``: the asynchronous
forms of Li et al. 2020 and 2018).  Each trial is one architecture, drawn by the random-search
driver (a seeded permutation of the space, no repeats); it trains under the proxy setting,
whose ``epochs`` is the largest fidelity, reports its validation accuracy after every epoch
(:func:`bpe.training.train_and_evaluate` with ``on_epoch``) and stops when the pruner says it is
not among the best fraction of its rung.  The search returns the arch with the best accuracy
among the trials that trained to the last epoch.

Budget and resume, as for the other drivers: every arch's accuracy curve is cached per epoch
(keyed by the proxy setting, so the curve of one arch serves every seed and every method), and
epochs read from the cache are charged their recorded seconds.  A rerun of a killed search
replays the cache, makes the same pruning decisions (Optuna's bracket choice hashes the study
name and the trial number, both fixed by the seed) and trains only what was not finished.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bpe.cache import EvalCache
from bpe.data import prepare_split
from bpe.errors import BPEError
from bpe.estimators.base import EVAL_THREADS, torch_threads
from bpe.records import Cost, EvalRecord
from bpe.registry import Registry
from search_algos.base import check_options, create_algorithm, keyword_options
from search_algos.budget import Budget, Spent
from search_algos.loop import SearchResult, SearchStep

__all__ = ["FidelitySearch", "EpochCurves", "available_fidelity_methods", "create_fidelity_method",
           "fidelity_options", "fidelity_search", "register_fidelity_method"]

log = logging.getLogger(__name__)

_REGISTRY: Registry = Registry("multi-fidelity method", BPEError)
#: Class decorator adding a multi-fidelity method under a name.
register_fidelity_method = _REGISTRY.register


def available_fidelity_methods() -> list[str]:
    """Names of the registered multi-fidelity methods."""
    return _REGISTRY.names()


def fidelity_options(name: str) -> dict[str, Any]:
    """The tunable options of a registered method and their defaults."""
    return keyword_options(_REGISTRY.get(name).__init__)


def create_fidelity_method(name: str, *, space: str = "nb201", seed: int = 0, **options: Any) -> FidelitySearch:
    """Build a registered method; unknown or out-of-range options raise :class:`BPEError`."""
    options = check_options(name, options, fidelity_options(name))
    return _REGISTRY.get(name)(space=space, seed=seed, **options)


class FidelitySearch(ABC):
    """A bandit over architectures whose arms are trained epoch by epoch.

    Args:
        space: search-space name.
        seed: seed of the arch order (and the study name, hence Hyperband's brackets).
        min_epochs: the first rung (epochs a trial trains before it can be stopped).
        reduction_factor: each rung keeps the best ``1/reduction_factor`` of the trials that reach it.
    """

    name: ClassVar[str] = ""

    def __init__(self, space: str = "nb201", seed: int = 0, *, min_epochs: int = 1, reduction_factor: int = 3) -> None:
        if min_epochs < 1:
            raise BPEError(f"{self.name}.min_epochs must be >= 1, got {min_epochs}")
        if reduction_factor < 2:
            raise BPEError(f"{self.name}.reduction_factor must be >= 2, got {reduction_factor}")
        self.space, self.seed = space, seed
        self.min_epochs, self.reduction_factor = min_epochs, reduction_factor

    @abstractmethod
    def pruner(self, max_epochs: int) -> Any:
        """The Optuna pruner for trials of at most ``max_epochs`` epochs."""


@register_fidelity_method("sha")
class SuccessiveHalving(FidelitySearch):
    """Asynchronous successive halving: rungs at ``min_epochs * reduction_factor**k`` epochs."""

    def pruner(self, max_epochs: int) -> Any:
        import optuna

        return optuna.pruners.SuccessiveHalvingPruner(min_resource=self.min_epochs,
                                                      reduction_factor=self.reduction_factor)


@register_fidelity_method("hyperband")
class Hyperband(FidelitySearch):
    """Hyperband: several successive-halving brackets with later first rungs, trials assigned
    to brackets in proportion to the brackets' budgets (Optuna's ``HyperbandPruner``)."""

    def pruner(self, max_epochs: int) -> Any:
        import optuna

        return optuna.pruners.HyperbandPruner(min_resource=self.min_epochs, max_resource=max_epochs,
                                              reduction_factor=self.reduction_factor)


@dataclass
class Curve:
    """An arch's validation accuracy after each epoch and the run's wall seconds at that epoch
    (cumulative); ``error`` when the training failed (a non-finite loss)."""

    accuracies: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    error: str | None = None

    def epoch_cost(self, epoch: int) -> float:
        """Seconds of epoch ``epoch`` (1-based)."""
        return self.seconds[epoch - 1] - (self.seconds[epoch - 2] if epoch > 1 else 0.0)


class EpochCurves:
    """Per-epoch validation accuracies of archs under one proxy setting, cached epoch by epoch.

    Args:
        estimator: a proxy-training estimator (``bpe``); its config's ``epochs`` is the largest fidelity.
        cache: where the curves are kept (``None``: nothing is kept).
    """

    def __init__(self, estimator: Any, cache: EvalCache | None) -> None:
        if getattr(estimator, "name", None) != "bpe":
            raise BPEError("multi-fidelity search trains architectures: --estimator must be a BPEConfig JSON file "
                           "or a preset")
        self.estimator = estimator
        self.cache = cache
        self.max_epochs = int(estimator.config.epochs)
        self.fingerprint = {**estimator.fingerprint(), "estimator": "bpe-epoch-curve"}

    def cached(self, arch: str) -> Curve:
        """What the cache holds of ``arch``'s curve (possibly empty or partial)."""
        record = self.cache.get(self.fingerprint, arch) if self.cache is not None else None
        if record is None:
            return Curve()
        return Curve(list(record.info.get("curve", [])), list(record.info.get("seconds", [])), record.error)

    def _store(self, arch: str, curve: Curve) -> None:
        if self.cache is None:
            return
        complete = curve.error is None and len(curve.accuracies) == self.max_epochs
        self.cache.put(self.fingerprint, EvalRecord(
            arch=arch, score=curve.accuracies[-1] if curve.accuracies and curve.error is None else None,
            status="failed" if curve.error else "ok",
            cost=Cost(seconds=curve.seconds[-1] if curve.seconds else 0.0, epochs=len(curve.accuracies)),
            error=curve.error, info={"curve": curve.accuracies, "seconds": curve.seconds, "complete": complete}))

    def train(self, arch: str, known: Curve, on_new_epoch: Any) -> Curve:
        """Train ``arch`` from scratch; epochs beyond ``known`` are appended to the curve, stored,
        and passed to ``on_new_epoch(epoch, accuracy, seconds)``, which returns True to stop."""
        from bpe.training import train_and_evaluate  # torch-heavy

        est = self.estimator
        curve = Curve(list(known.accuracies), list(known.seconds))
        offset = {"seconds": 0.0}  # this run's clock against the recorded one, for epochs replayed

        def on_epoch(record: dict[str, float]) -> bool:
            epoch = int(record["epoch"])
            if epoch <= len(known.accuracies):  # already reported from the cache
                offset["seconds"] = known.seconds[epoch - 1] - record["seconds"]
                return False
            curve.accuracies.append(float(record["valid_accuracy"]))
            curve.seconds.append(float(record["seconds"]) + offset["seconds"])
            self._store(arch, curve)
            return bool(on_new_epoch(epoch, curve.accuracies[-1], curve.epoch_cost(epoch)))

        data = prepare_split(est.dataset, est.config.data_fraction)
        with torch_threads(EVAL_THREADS):
            result = train_and_evaluate(arch, est.config, data, space=est.space, device=est.device,
                                        eval_every_epoch=True, on_epoch=on_epoch)
        if result.status != "ok":
            curve.error = result.error
            self._store(arch, curve)
        return curve


class _TrialRun:
    """One trial's epochs: each is charged to the budget and reported to the pruner."""

    def __init__(self, trial: Any, budget: Budget, spent: Spent, max_epochs: int) -> None:
        self.trial, self.budget, self.spent, self.max_epochs = trial, budget, spent, max_epochs
        self.pruned = self.over = False
        self.epochs, self.last = 0, None

    def report(self, epoch: int, accuracy: float, cost: float) -> bool:
        """Charge and report one epoch; True stops the trial (pruned, or the budget is spent)."""
        if not self.budget.allows(self.spent, seconds=cost):
            self.over = True
            return True
        self.spent.seconds += cost
        self.epochs, self.last = epoch, accuracy
        self.trial.report(accuracy, epoch)
        if epoch < self.max_epochs and self.trial.should_prune():
            self.pruned = True
            return True
        return False


def fidelity_search(method: FidelitySearch, curves: EpochCurves, budget: Budget) -> SearchResult:
    """Run ``method`` until ``budget`` is spent (evaluations: archs started; seconds: epochs
    trained, cached epochs at their recorded cost).  An epoch that would overrun the seconds
    budget is not counted and ends the search."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    max_epochs = curves.max_epochs
    study = optuna.create_study(direction="maximize", study_name=f"bpe-{method.name}-seed{method.seed}",
                                sampler=optuna.samplers.RandomSampler(seed=method.seed),
                                pruner=method.pruner(max_epochs))
    order = create_algorithm("random", space=method.space, seed=method.seed)
    spent = Spent()
    history: list[SearchStep] = []
    best: tuple[float, str] | None = None
    stopped_by = None
    while stopped_by is None:
        if not budget.allows(spent, evaluations=1):
            stopped_by = "budget: evaluations"
            break
        try:
            arch = str(order.ask())
        except StopIteration:
            stopped_by = "space exhausted"
            break
        trial = study.ask()
        trial.set_user_attr("arch", arch)
        spent.evaluations += 1
        run = _TrialRun(trial, budget, spent, max_epochs)
        known = curves.cached(arch)
        stop = False
        for epoch, accuracy in enumerate(known.accuracies, start=1):
            if run.report(epoch, accuracy, known.epoch_cost(epoch)):
                stop = True
                break
        error = known.error
        if not stop and error is None and len(known.accuracies) < max_epochs:
            error = curves.train(arch, known, run.report).error
        if error is not None:
            study.tell(trial, state=TrialState.FAIL)
            status, score = "failed", None
        elif run.over:  # its epochs so far are charged; it has no result
            study.tell(trial, state=TrialState.FAIL)
            status, score, stopped_by = "stopped", None, "budget: seconds"
        elif run.pruned:
            study.tell(trial, state=TrialState.PRUNED)
            status, score = "pruned", None
        else:
            study.tell(trial, run.last)
            status, score = "ok", float(run.last)
            if best is None or score > best[0]:
                best = (score, arch)
        history.append(SearchStep(arch, score, status, error, False, spent.evaluations, spent.seconds, 0.0,
                                  epochs=run.epochs))
    return SearchResult(algorithm=method.name, seed=method.seed, budget=budget.describe(),
                        arch=best[1] if best else None, score=best[0] if best else None, spent=spent,
                        stopped_by=stopped_by or "", history=history)
