"""Multi-fidelity search over architectures: successive halving and Hyperband, where the fidelity
is proxy-training epochs — the random driver, an epoch-by-epoch trainer and a scheduler, run by
the one search loop (:func:`~search_algos.loop.run_search`).

The bandit is Optuna's (``SuccessiveHalvingPruner`` and ``HyperbandPruner``: the asynchronous
forms of Li et al. 2020 and 2018), wrapped as a :class:`~search_algos.loop.Scheduler`
(:class:`PrunerScheduler`).  Each trial is one architecture, drawn by the random-search driver
(a seeded permutation of the space, no repeats); it trains under the proxy setting
(:class:`EpochCurves`), whose ``epochs`` is the largest fidelity, reports its validation accuracy
after every epoch (:func:`bpe.training.train_and_evaluate` with ``on_epoch``) and stops when the
pruner says it is not among the best fraction of its rung.  The search returns the arch with the
best accuracy among the trials that trained to the last epoch.

Budget and resume, as for the other drivers (the loop charges every epoch reported): every
arch's accuracy curve is cached per epoch (keyed by the proxy setting, so the curve of one arch
serves every seed and every method), and epochs read from the cache are reported again at their
recorded seconds.  A rerun of a killed search replays the cache, makes the same pruning
decisions (Optuna's bracket choice hashes the study name and the trial number, both fixed by
the seed) and trains only what was not finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bpe.cache import EvalCache
from bpe.errors import BPEError
from bpe.records import Cost, EvalRecord
from bpe.registry import Registry
from bpe.runtime import EVAL_THREADS, torch_threads
from search_algos.base import check_options, create_algorithm, keyword_options
from search_algos.budget import Budget
from search_algos.loop import Report, ReportFn, Scheduler, SearchResult, Trainer, run_search

__all__ = ["FidelitySearch", "EpochCurves", "PrunerScheduler", "available_fidelity_methods", "create_fidelity_method",
           "fidelity_driver", "fidelity_options", "fidelity_scheduler", "fidelity_search", "register_fidelity_method"]

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


def fidelity_driver(name: str) -> str:
    """The driver that orders the archs of the registered method ``name``."""
    return _REGISTRY.get(name).driver


def create_fidelity_method(name: str, *, space: str = "nb201", seed: int = 0, **options: Any) -> FidelitySearch:
    """Build a registered method; unknown or out-of-range options raise :class:`BPEError`."""
    options = check_options(name, options, fidelity_options(name))
    return _REGISTRY.get(name)(space=space, seed=seed, **options)


class FidelitySearch(ABC):
    """A bandit over architectures whose arms are trained epoch by epoch: the ``driver`` orders
    the archs, :meth:`scheduler` stops the worst at each rung.

    Args:
        space: search-space name.
        seed: seed of the arch order (and the study name, hence Hyperband's brackets).
        min_epochs: the first rung (epochs a trial trains before it can be stopped).
        reduction_factor: each rung keeps the best ``1/reduction_factor`` of the trials that reach it.
    """

    name: ClassVar[str] = ""
    #: the driver that draws the archs (its seeded order; the scheduler never changes it)
    driver: ClassVar[str] = "random"

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

    def scheduler(self, max_epochs: int) -> PrunerScheduler:
        """The scheduler of one run (this method's seed) over trials of at most ``max_epochs`` epochs."""
        self.check(max_epochs)
        return PrunerScheduler(self.name, self.seed, self.pruner(max_epochs), max_epochs)


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


_TOLD_AS = {"pruned": "PRUNED", "failed": "FAIL", "stopped": "FAIL"}  # an evaluation's status -> Optuna's state


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[Any]:
    """Optuna at WARNING inside (one log line per trial otherwise), its verbosity restored after."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield optuna
    finally:
        optuna.logging.set_verbosity(verbosity)


class PrunerScheduler(Scheduler):
    """An Optuna study and pruner as the loop's scheduler: a trial per arch, each epoch's value
    reported to it, the trial stopped when the pruner says so (never after the last epoch), and
    told complete (its last value), pruned, or failed (a failure, or cut by the budget).

    Args:
        name: the method's name (its runs' name; with ``seed`` it names the study, which fixes
            Hyperband's brackets).
        seed: the run's seed.
        pruner: an Optuna pruner.
        max_epochs: the last epoch (a trial that reaches it is never pruned).
    """

    def __init__(self, name: str, seed: int, pruner: Any, max_epochs: int) -> None:
        self.name, self.max_epochs = name, max_epochs
        with _quiet_optuna() as optuna:
            self.study = optuna.create_study(direction="maximize", study_name=f"bpe-{name}-seed{seed}",
                                             sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)

    def start(self, arch: str) -> Any:
        with _quiet_optuna():
            trial = self.study.ask()
        trial.set_user_attr("arch", arch)
        return trial

    def should_stop(self, trial: Any, epoch: int, value: float) -> bool:
        trial.report(value, epoch)
        return epoch < self.max_epochs and trial.should_prune()

    def finish(self, trial: Any, status: str, value: float | None) -> None:
        from optuna.trial import TrialState

        with _quiet_optuna():
            if status == "ok":
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=TrialState[_TOLD_AS[status]])


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


class EpochCurves(Trainer):
    """Per-epoch measurements of archs under one proxy setting, cached epoch by epoch: the
    multi-fidelity trainer of the search loop.  What a trial reports after each epoch is what the
    setting reports (``config.report``), with the seconds of that epoch.

    Args:
        estimator: a proxy-training estimator; its config's ``epochs`` is the largest fidelity.
        cache: where the curves are kept (``None``: nothing is kept).
    """

    def __init__(self, estimator: Any, cache: EvalCache | None) -> None:
        config = getattr(estimator, "config", None)
        if config is None or not hasattr(config, "epochs") or getattr(estimator, "population", False):
            raise BPEError("multi-fidelity search trains architectures epoch by epoch: --estimator must be a "
                           "BPEConfig JSON file, a preset or a bpe.json exporting a setting (not a scorer or blend)")
        self.estimator = estimator
        self.cache = cache
        self.max_epochs = int(config.epochs)
        self.report = config.report
        self.fingerprint = {**estimator.fingerprint(), "estimator": "bpe-epoch-curve"}

    def run(self, arch: str, report: ReportFn) -> str | None:
        """Report ``arch``'s epochs: the cached ones first (at their recorded seconds), then the
        epochs it trains, until ``report`` says stop or the last epoch; a failed epoch's seconds
        are reported too (with no value).  Returns the curve's error.  An exception while
        training (other than bad input, :class:`BPEError`) fails the arch, uncached: the search
        goes on."""
        known = self.cached(arch)
        for epoch in range(1, len(known.accuracies) + 1):
            if report(self._report(known, epoch, known.epoch_cost(epoch))):
                return known.error
        curve = known
        if known.error is None and len(known.accuracies) < self.max_epochs:
            try:
                curve = self.train(arch, known, lambda epoch, new, cost: report(self._report(new, epoch, cost)))
            except BPEError:
                raise
            except Exception as err:  # one arch's fault (e.g. out of memory): a failed trial, not cached
                log.warning("multi-fidelity search: training %s failed: %s", arch, err)
                curve = dataclasses.replace(known, error=f"{type(err).__name__}: {err}")
        if curve.error is not None:
            report(Report(None, None, curve.error_seconds))  # the epoch that failed cost its time too
        return curve.error

    def _report(self, curve: Curve, epoch: int, seconds: float) -> Report:
        return Report(epoch, curve.signal(epoch, self.report), seconds)

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


def fidelity_scheduler(name: str, max_epochs: int, seed: int, *, space: str = "nb201",
                       **options: Any) -> PrunerScheduler:
    """The scheduler of a run of the registered method ``name`` with ``seed`` (its options checked)."""
    return create_fidelity_method(name, space=space, seed=seed, **options).scheduler(max_epochs)


def fidelity_search(method: FidelitySearch, curves: EpochCurves, budget: Budget) -> SearchResult:
    """Run ``method`` until ``budget`` is spent: its driver's archs trained through ``curves``,
    stopped by its scheduler, in the one search loop (evaluations: archs started; seconds: epochs
    trained, cached epochs at their recorded cost, a failed epoch included; an epoch that would
    overrun is not charged, its arch not counted, and it ends the search)."""
    scheduler = method.scheduler(curves.max_epochs)
    return run_search(create_algorithm(method.driver, space=method.space, seed=method.seed), curves, budget,
                      scheduler=scheduler)
