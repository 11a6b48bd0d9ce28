"""The one search loop: a driver asks for an arch, its evaluation reports (once, or after every
epoch), the budget is charged for each report, a scheduler may stop the evaluation early, and
the driver is told the outcome — the shape of Optuna's ask/tell/prune and Syne Tune's schedulers.

Budgets are charged here and only here (:func:`run_search`, through :class:`_Trial`); every
search of the package (plain drivers, successive halving and Hyperband, two-stage search) runs
through this loop, so every one has the same budget and the same failure rule:

- a report whose cost would overrun the budget is not charged, its evaluation is not counted
  nor told to the driver, and the run ends (an evaluation that reports epoch by epoch is kept in
  the history as ``stopped``: the epochs it reported before were charged);
- an evaluation that fails (its trainer's error) or reports no finite value is ``failed``,
  recorded with its error and told to the driver as ``None``, never as a made-up score;
- an evaluation its scheduler stops is ``pruned`` (told as ``None``);
- else it is ``ok``, with its last reported value as its score.

A repeated architecture is served from the run's memory and charged nothing.  Plain drivers
(random, REA, REINFORCE, TPE...) run without a scheduler and never stop an evaluation early; an
:class:`~bpe.estimators.base.Estimator` is one report (its record: score and cost).
"""

from __future__ import annotations

import functools
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from bpe.estimators.base import Estimator
from search_algos.base import SearchAlgorithm
from search_algos.budget import Budget, Spent

__all__ = ["Report", "Trainer", "EstimatorTrainer", "Scheduler", "SearchStep", "SearchResult", "run_search"]

log = logging.getLogger(__name__)

_frozen_key = functools.lru_cache(maxsize=1 << 16)(str)


def _arch_key(arch: Any) -> str:
    """``str(arch)``, the key of every ask; remembered for immutable arch values (frozen
    dataclasses such as ``NB201Arch``), whose string never changes: a simulated search asks
    ~10^5 times over a space of ~10^4 archs."""
    params = getattr(type(arch), "__dataclass_params__", None)
    return _frozen_key(arch) if params is not None and params.frozen else str(arch)


@dataclass(frozen=True, slots=True)
class Report:
    """One step of an evaluation: what it measured and what that step cost.

    Attributes:
        epoch: epochs trained so far (``None``: an evaluation that reports once, or the cost of
            a step that failed).
        value: the signal (higher is better); ``None`` when the step produced none (a failure).
        seconds: wall seconds of this step.
        simulated_seconds: seconds of this step charged by a benchmark's recorded training time.
    """

    epoch: int | None
    value: float | None
    seconds: float
    simulated_seconds: float = 0.0


#: What a trainer calls after each step: True tells it to stop (pruned, or the budget is spent).
ReportFn = Callable[[Report], bool]


class Trainer(ABC):
    """Evaluates an architecture step by step, reporting after each step (Syne Tune's trial).

    Attributes:
        per_epoch: True when the reports are epochs (the history records the epochs reported).
        report: what the reported values are (``"score"``, ``"valid_accuracy"``, ...).
    """

    per_epoch: ClassVar[bool] = True
    report: str = "score"

    @abstractmethod
    def run(self, arch: str, report: ReportFn) -> str | None:
        """Evaluate ``arch``, calling ``report`` after each step and stopping as soon as it
        returns True; return the error that failed the evaluation, or ``None``."""


class EstimatorTrainer(Trainer):
    """An estimator as a trainer: one report per arch, its record's score and cost.

    Args:
        estimator: any estimator (its records: ``ok`` with a finite score, or ``failed``).
    """

    per_epoch = False

    def __init__(self, estimator: Estimator) -> None:
        self.estimator = estimator
        self._evaluate = estimator.evaluate  # bound once: a simulated search evaluates ~10^4 archs a second

    def run(self, arch: str, report: ReportFn) -> str | None:
        record = self._evaluate(arch)  # the canonical string: estimators score an arch by its string
        cost = record.cost
        ok = record.status == "ok"
        report(Report(None, record.score if ok else None, cost.seconds, cost.simulated_seconds))
        return None if ok else record.error


class Scheduler(ABC):
    """Decides, after each epoch an evaluation reports, whether it goes on (Syne Tune's
    ``TrialScheduler``; Optuna's pruners): one trial per evaluated arch.

    Attributes:
        name: the name of the search it makes (what its runs are called).
    """

    name: str = ""

    @abstractmethod
    def start(self, arch: str) -> Any:
        """Open the trial of ``arch``; returns its handle."""

    @abstractmethod
    def should_stop(self, trial: Any, epoch: int, value: float) -> bool:
        """Record ``value`` after ``epoch`` epochs; True stops the trial (pruned)."""

    @abstractmethod
    def finish(self, trial: Any, status: str, value: float | None) -> None:
        """Close the trial: ``status`` is ``ok`` (with its ``value``), ``pruned``, ``failed`` or
        ``stopped`` (by the budget)."""


@dataclass(slots=True)
class SearchStep:
    """One ask: the arch, its record, whether it was a repeat, and the budget spent after it."""

    arch: str
    score: float | None
    status: str
    error: str | None
    repeat: bool
    evaluations: int
    seconds: float
    simulated_seconds: float
    epochs: int | None = None  # multi-fidelity search: epochs the arch trained (None: not a fidelity)


@dataclass
class SearchResult:
    """A finished run: the best arch by score (what the search returns), its history and spend."""

    algorithm: str
    seed: int
    budget: str
    arch: str | None
    score: float | None
    spent: Spent
    stopped_by: str
    history: list[SearchStep] = field(default_factory=list)
    #: where the run ran (``host``, ``pid``), set by :func:`~search_algos.runs.parallel_runs`
    worker: dict[str, Any] | None = None
    #: what the driver added (:meth:`~search_algos.base.SearchAlgorithm.summary`), e.g. a Pareto front
    driver: dict[str, Any] | None = None

    def to_dict(self, *, with_history: bool = True) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        out = {
            "algorithm": self.algorithm,
            "seed": self.seed,
            "budget": self.budget,
            "arch": self.arch,
            "score": self.score,
            "spent": asdict(self.spent),
            "stopped_by": self.stopped_by,
        }
        if self.worker is not None:
            out["worker"] = dict(self.worker)
        if self.driver is not None:
            out["driver"] = self.driver
        if with_history:
            out["history"] = [asdict(s) for s in self.history]
        return out


class _Trial:
    """One evaluation in the loop: each report charged to the budget (the only place a budget is
    charged), then judged by the failure rule and the scheduler."""

    __slots__ = ("budget", "spent", "scheduler", "handle", "over", "unusable", "pruned", "epochs", "last")

    def __init__(self, budget: Budget, spent: Spent, scheduler: Scheduler | None, handle: Any,
                 epochs: int | None) -> None:
        self.budget, self.spent, self.scheduler, self.handle = budget, spent, scheduler, handle
        self.over: str | None = None  # why the budget stopped it
        self.unusable = self.pruned = False
        self.epochs, self.last = epochs, None

    def report(self, step: Report) -> bool:
        """Charge and judge one report; True stops the evaluation."""
        seconds, simulated = step.seconds, step.simulated_seconds
        budget, spent = self.budget, self.spent
        if not budget.allows(spent, seconds=seconds, simulated=simulated):
            self.over = ("budget: seconds" if budget.seconds is not None and not budget.allows(spent, seconds=seconds)
                         else "budget: simulated seconds")
            return True
        spent.seconds += seconds
        spent.simulated_seconds += simulated
        value = step.value
        if value is None or not math.isfinite(value):
            self.unusable = True
            return True
        self.last = value
        if step.epoch is not None:
            self.epochs = step.epoch
            if self.scheduler is not None and self.scheduler.should_stop(self.handle, step.epoch, value):
                self.pruned = True
                return True
        return False

    def outcome(self, error: str | None, what: str) -> tuple[str, float | None, str | None]:
        """(status, score, error) by the failure rule; ``error`` is the trainer's, ``what`` what
        its reports carry."""
        if self.over is not None:
            return "stopped", None, error
        if error is not None or self.unusable or self.last is None:
            after = f" after epoch {(self.epochs or 0) + 1}" if self.epochs is not None else ""
            return "failed", None, error or f"no usable {what}{after}"
        if self.pruned:
            return "pruned", None, None
        return "ok", self.last, None


def run_search(
    algorithm: SearchAlgorithm,
    estimator: Estimator | Trainer,
    budget: Budget,
    *,
    scheduler: Scheduler | None = None,
    max_repeats: int = 10_000,
    spent: Spent | None = None,
) -> SearchResult:
    """Run ``algorithm`` with ``estimator`` until ``budget`` (or the space) is exhausted.

    Args:
        algorithm: an ask/tell search algorithm.
        estimator: scores architectures (higher is better): any registered estimator (one report
            per arch), or a :class:`Trainer` that reports after every epoch.
        budget: limits in evaluations (archs started), wall seconds and simulated seconds.
        scheduler: stops evaluations early from what they report (successive halving,
            Hyperband); ``None``: every evaluation runs to its end.  With one, the run is named
            after it.
        max_repeats: stop after this many consecutive asks of already-evaluated archs.
        spent: what earlier stages of the same search already spent (updated in place), so
            several stages share one budget.
    """
    trainer = estimator if isinstance(estimator, Trainer) else EstimatorTrainer(estimator)
    spent = spent if spent is not None else Spent()
    memo: dict[str, tuple[float | None, str, str | None, int | None]] = {}
    history: list[SearchStep] = []
    best: tuple[float, str] | None = None
    repeats = 0
    first_epochs = 0 if trainer.per_epoch else None
    # bound once: this loop runs ~10^5 times in a simulated search, where lookups are microseconds
    ask, tell, train, what = algorithm.ask, algorithm.tell, trainer.run, trainer.report
    allows, remember = budget.allows, history.append
    while True:
        if not allows(spent, evaluations=1):
            stopped_by = "budget: evaluations"
            break
        try:
            arch = ask()
        except StopIteration:
            stopped_by = "space exhausted"
            break
        key = _arch_key(arch)
        done = memo.get(key)
        if done is not None:
            repeats += 1
            if repeats > max_repeats:
                stopped_by = f"{max_repeats} repeated asks in a row"
                break
            score, status, error, epochs = done
            tell(arch, score)
            remember(SearchStep(key, score, status, error, True, spent.evaluations, spent.seconds,
                                spent.simulated_seconds, epochs))
            continue
        repeats = 0
        spent.evaluations += 1  # an arch started counts, unless the budget cuts it
        trial = _Trial(budget, spent, scheduler, scheduler.start(key) if scheduler is not None else None,
                       first_epochs)
        status, score, error = trial.outcome(train(key, trial.report), what)
        if scheduler is not None:
            scheduler.finish(trial.handle, status, score)
        if status == "stopped":
            spent.evaluations -= 1
            stopped_by = trial.over
            if trainer.per_epoch:  # the epochs it reported were charged: they stay in the history
                remember(SearchStep(key, None, status, error, False, spent.evaluations, spent.seconds,
                                    spent.simulated_seconds, trial.epochs))
            break
        memo[key] = (score, status, error, trial.epochs)
        if score is not None and (best is None or score > best[0]):
            best = (float(score), key)
        tell(arch, score)
        remember(SearchStep(key, score, status, error, False, spent.evaluations, spent.seconds,
                            spent.simulated_seconds, trial.epochs))
    return SearchResult(
        algorithm=scheduler.name if scheduler is not None else algorithm.name,
        seed=algorithm.seed,
        budget=budget.describe(),
        arch=best[1] if best else None,
        score=best[0] if best else None,
        spent=spent,
        stopped_by=stopped_by,
        history=history,
        driver=algorithm.summary() if hasattr(algorithm, "summary") else None,  # any ask/tell object will do
    )
