"""One search loop for every sample-based algorithm: ask, evaluate, tell — within a budget.

Budgets are enforced here and only here: an evaluation whose cost would overrun the budget
is not counted, not told to the algorithm, and ends the run.  A repeated architecture is
served from the run's memory and charged nothing.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from bpe.estimators.base import Estimator
from bpe.records import EvalRecord
from search_algos.base import SearchAlgorithm
from search_algos.budget import Budget, Spent

__all__ = ["SearchStep", "SearchResult", "run_search"]

log = logging.getLogger(__name__)

_frozen_key = functools.lru_cache(maxsize=1 << 16)(str)


def _arch_key(arch: Any) -> str:
    """``str(arch)``, the key of every ask; remembered for immutable arch values (frozen
    dataclasses such as ``NB201Arch``), whose string never changes: a simulated search asks
    ~10^5 times over a space of ~10^4 archs."""
    params = getattr(type(arch), "__dataclass_params__", None)
    return _frozen_key(arch) if params is not None and params.frozen else str(arch)


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


def run_search(
    algorithm: SearchAlgorithm,
    estimator: Estimator,
    budget: Budget,
    *,
    max_repeats: int = 10_000,
    spent: Spent | None = None,
) -> SearchResult:
    """Run ``algorithm`` with ``estimator`` until ``budget`` (or the space) is exhausted.

    Args:
        algorithm: an ask/tell search algorithm.
        estimator: scores architectures (higher is better); any registered kind.
        budget: limits in evaluations, wall seconds and simulated seconds.
        max_repeats: stop after this many consecutive asks of already-evaluated archs.
        spent: what earlier stages of the same search already spent (updated in place), so
            several stages share one budget.
    """
    spent = spent if spent is not None else Spent()
    memo: dict[str, EvalRecord] = {}
    history: list[SearchStep] = []
    best: tuple[float, str] | None = None
    repeats = 0
    # bound once: this loop runs ~10^5 times in a simulated search, where lookups are microseconds
    ask, tell, evaluate = algorithm.ask, algorithm.tell, estimator.evaluate
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
        record = memo.get(key)
        repeat = record is not None
        if repeat:
            repeats += 1
            if repeats > max_repeats:
                stopped_by = f"{max_repeats} repeated asks in a row"
                break
        else:
            repeats = 0
            record = evaluate(key)  # the canonical string: estimators score an arch by its string
            cost = record.cost
            if not allows(spent, evaluations=1, seconds=cost.seconds, simulated=cost.simulated_seconds):
                stopped_by = "budget: seconds" if budget.seconds is not None and not allows(
                    spent, seconds=cost.seconds) else "budget: simulated seconds"
                break
            spent.evaluations += 1
            spent.seconds += cost.seconds
            spent.simulated_seconds += cost.simulated_seconds
            memo[key] = record
            if record.ok and (best is None or record.score > best[0]):
                best = (float(record.score), key)
        tell(arch, record.score if record.ok else None)
        remember(SearchStep(key, record.score, record.status, record.error, repeat,
                            spent.evaluations, spent.seconds, spent.simulated_seconds))
    return SearchResult(
        algorithm=algorithm.name,
        seed=algorithm.seed,
        budget=budget.describe(),
        arch=best[1] if best else None,
        score=best[0] if best else None,
        spent=spent,
        stopped_by=stopped_by,
        history=history,
        driver=algorithm.summary() if hasattr(algorithm, "summary") else None,  # any ask/tell object will do
    )
