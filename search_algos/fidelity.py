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

import dataclasses
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bpe.cache import EvalCache
from bpe.errors import BPEError
from bpe.records import Cost, EvalRecord
from bpe.registry import Registry
from bpe.runtime import EVAL_THREADS, torch_threads
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

    def check(self, max_epochs: int) -> None:
        """Refuse a first rung at or beyond the last epoch (nothing could ever be stopped)."""
        if self.min_epochs >= max_epochs:
            raise BPEError(f"{self.name}.min_epochs ({self.min_epochs}) must be below the setting's epochs "
                           f"({max_epochs}): raise epochs in the BPEConfig or lower min_epochs")


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
    """An arch's per-epoch measurements: validation accuracy and loss, mean training loss, and the
    run's wall seconds at that epoch (cumulative); ``error`` when the training failed (a
    non-finite loss), with ``error_seconds`` the time of the epoch that failed."""

    accuracies: list[float] = field(default_factory=list)
    valid_losses: list[float] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    error: str | None = None
    error_seconds: float = 0.0

    def epoch_cost(self, epoch: int) -> float:
        """Seconds of epoch ``epoch`` (1-based)."""
        return self.seconds[epoch - 1] - (self.seconds[epoch - 2] if epoch > 1 else 0.0)

    def signal(self, epoch: int, report: str) -> float | None:
        """What the proxy setting reports after ``epoch`` epochs (its ``report``: validation
        accuracy, negated validation loss, TSE or TSE-E1 over the epochs so far)."""
        from bpe.estimators.proxy import reported_score  # torch-heavy module; the function is not

        return reported_score(report, self.accuracies[epoch - 1], self.valid_losses[epoch - 1],
                              self.train_losses[:epoch])

    def to_info(self) -> dict[str, Any]:
        return {"curve": self.accuracies, "valid_losses": self.valid_losses, "train_losses": self.train_losses,
                "seconds": self.seconds, "error_seconds": self.error_seconds}


class EpochCurves:
    """Per-epoch measurements of archs under one proxy setting, cached epoch by epoch.  What a
    trial reports after each epoch is what the setting reports (``config.report``).

    Args:
        estimator: a proxy-training estimator; its config's ``epochs`` is the largest fidelity.
        cache: where the curves are kept (``None``: nothing is kept).
    """

    def __init__(self, estimator: Any, cache: EvalCache | None) -> None:
        config = getattr(estimator, "config", None)
        if config is None or not hasattr(config, "epochs") or getattr(estimator, "population", False):
            raise BPEError("multi-fidelity search trains architectures epoch by epoch: --estimator must be a "
                           "BPEConfig JSON file or a preset (without a hybrid)")
        self.estimator = estimator
        self.cache = cache
        self.max_epochs = int(config.epochs)
        self.report = config.report
        self.fingerprint = {**estimator.fingerprint(), "estimator": "bpe-epoch-curve"}

    def cached(self, arch: str) -> Curve:
        """What the cache holds of ``arch``'s curve (possibly empty or partial)."""
        record = self.cache.get(self.fingerprint, arch) if self.cache is not None else None
        if record is None or "train_losses" not in record.info:
            return Curve()
        info = record.info
        return Curve(list(info["curve"]), list(info["valid_losses"]), list(info["train_losses"]),
                     list(info["seconds"]), record.error, float(info.get("error_seconds", 0.0)))

    def _store(self, arch: str, curve: Curve) -> None:
        if self.cache is None:
            return
        complete = curve.error is None and len(curve.accuracies) == self.max_epochs
        self.cache.put(self.fingerprint, EvalRecord(
            arch=arch, score=curve.accuracies[-1] if curve.accuracies and curve.error is None else None,
            status="failed" if curve.error else "ok",
            cost=Cost(seconds=(curve.seconds[-1] if curve.seconds else 0.0) + curve.error_seconds,
                      epochs=len(curve.accuracies)),
            error=curve.error, info={**curve.to_info(), "complete": complete}))

    def train(self, arch: str, known: Curve, on_new_epoch: Any) -> Curve:
        """Train ``arch`` from scratch; epochs beyond ``known`` are appended to the curve, stored,
        and passed to ``on_new_epoch(epoch, curve, seconds)``, which returns True to stop."""
        from bpe.training import train_and_evaluate  # torch-heavy

        est = self.estimator
        curve = Curve(*(list(v) for v in (known.accuracies, known.valid_losses, known.train_losses, known.seconds)))
        offset = {"seconds": 0.0}  # this run's clock against the recorded one, for epochs replayed

        def on_epoch(record: dict[str, float]) -> bool:
            epoch = int(record["epoch"])
            if epoch <= len(known.accuracies):  # already reported from the cache
                offset["seconds"] = known.seconds[epoch - 1] - record["seconds"]
                return False
            curve.accuracies.append(float(record["valid_accuracy"]))
            curve.valid_losses.append(float(record["valid_loss"]))
            curve.train_losses.append(float(record["train_loss"]))
            curve.seconds.append(float(record["seconds"]) + offset["seconds"])
            self._store(arch, curve)
            return bool(on_new_epoch(epoch, curve, curve.epoch_cost(epoch)))

        with torch_threads(EVAL_THREADS):
            result = train_and_evaluate(arch, est.config, est.dataset, space=est.space, device=est.device,
                                        eval_every_epoch=True, on_epoch=on_epoch)
        if result.status != "ok":
            curve.error = result.error
            curve.error_seconds = max(0.0, result.seconds + offset["seconds"] - (curve.seconds[-1] if curve.seconds
                                                                                 else 0.0))
            self._store(arch, curve)
        return curve


class _TrialRun:
    """One trial's epochs: each is charged to the budget and its signal reported to the pruner."""

    def __init__(self, trial: Any, budget: Budget, spent: Spent, max_epochs: int, report: str) -> None:
        self.trial, self.budget, self.spent, self.max_epochs, self.report_name = trial, budget, spent, max_epochs, report
        self.pruned = self.over = self.unusable = False
        self.epochs, self.last = 0, None

    def charge(self, cost: float) -> bool:
        """Charge ``cost`` seconds; False (and nothing charged) when the budget cannot pay."""
        if not self.budget.allows(self.spent, seconds=cost):
            self.over = True
            return False
        self.spent.seconds += cost
        return True

    def report(self, epoch: int, curve: Curve, cost: float) -> bool:
        """Charge and report one epoch; True stops the trial (pruned, no usable signal, or the
        budget is spent)."""
        if not self.charge(cost):
            return True
        value = curve.signal(epoch, self.report_name)
        if value is None or not math.isfinite(value):
            self.unusable = True
            return True
        self.epochs, self.last = epoch, value
        self.trial.report(value, epoch)
        if epoch < self.max_epochs and self.trial.should_prune():
            self.pruned = True
            return True
        return False


def fidelity_search(method: FidelitySearch, curves: EpochCurves, budget: Budget) -> SearchResult:
    """Run ``method`` until ``budget`` is spent (evaluations: archs started; seconds: epochs
    trained, cached epochs at their recorded cost, a failed epoch included).  An epoch that would
    overrun the seconds budget is not counted, nor is its arch, and it ends the search.  An
    exception while training one arch (other than bad input) fails that trial, uncached, and the
    search goes on."""
    import optuna
    from optuna.trial import TrialState

    method.check(curves.max_epochs)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial otherwise; restored below
    try:
        study = optuna.create_study(direction="maximize", study_name=f"bpe-{method.name}-seed{method.seed}",
                                    sampler=optuna.samplers.RandomSampler(seed=method.seed),
                                    pruner=method.pruner(curves.max_epochs))
        return _search(method, curves, budget, study, TrialState)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _search(method: FidelitySearch, curves: EpochCurves, budget: Budget, study: Any, states: Any) -> SearchResult:
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
        run = _TrialRun(trial, budget, spent, curves.max_epochs, curves.report)
        known = curves.cached(arch)
        stop = False
        for epoch in range(1, len(known.accuracies) + 1):
            if run.report(epoch, known, known.epoch_cost(epoch)):
                stop = True
                break
        curve = known
        if not stop and known.error is None and len(known.accuracies) < curves.max_epochs:
            try:
                curve = curves.train(arch, known, run.report)
            except BPEError:
                raise
            except Exception as err:  # one arch's fault (e.g. out of memory): a failed trial, not cached
                log.warning("%s: training %s failed: %s", method.name, arch, err)
                curve = dataclasses.replace(known, error=f"{type(err).__name__}: {err}")
        error = curve.error
        if error is not None and not stop:
            run.charge(curve.error_seconds)  # the epoch that failed cost its time too
        if run.over:  # its arch is not counted; the epochs it trained before are
            study.tell(trial, state=states.FAIL)
            spent.evaluations -= 1
            status, score, stopped_by = "stopped", None, "budget: seconds"
        elif error is not None or run.unusable or run.last is None:
            study.tell(trial, state=states.FAIL)
            status, score = "failed", None
            error = error or f"no usable {curves.report} after epoch {run.epochs + 1}"
        elif run.pruned:
            study.tell(trial, state=states.PRUNED)
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
