"""Two-stage search: score a pool of random archs with a cheap estimator, then spend the rest of
the same budget evaluating the best of them, in order, with a dearer estimator.  The result is
the best arch by the dear estimator's score."""

from __future__ import annotations

from typing import Any

from bpe.estimators.base import Estimator
from bpe.parallel import Runner
from bpe.records import EvalRecord
from search_algos.base import SearchAlgorithm, create_algorithm
from search_algos.budget import Budget, Spent
from search_algos.loop import SearchResult, run_search

__all__ = ["RankedList", "two_stage_search"]


class RankedList(SearchAlgorithm):
    """Asks a fixed list of archs in order (the second stage)."""

    name = "ranked-list"

    def __init__(self, archs: list[Any], space: str = "nb201", seed: int = 0) -> None:
        super().__init__(space, seed)
        self._archs = list(archs)

    def ask(self) -> Any:
        if not self._archs:
            raise StopIteration("ranked list exhausted")
        return self._archs.pop(0)

    def tell(self, arch: Any, score: float | None) -> None:
        pass


def two_stage_search(cheap: Estimator, dear: Estimator, budget: Budget, *, pool: int, seed: int = 0,
                     space: str = "nb201", runner: Runner | None = None) -> SearchResult:
    """Stage 1: ``pool`` random archs (without replacement) scored by ``cheap``; stage 2: the
    pool in descending cheap score evaluated by ``dear`` until ``budget`` runs out.  Both
    stages are charged to ``budget``; evaluations count in both.  A ``population`` estimator (a
    vote) scores the pool at once through ``runner`` (its members' cache)."""
    spent = Spent()
    stage_budget = Budget(evaluations=min(pool, budget.evaluations or pool), seconds=budget.seconds,
                          simulated_seconds=budget.simulated_seconds)
    if cheap.population:
        first = _score_pool(cheap, stage_budget, seed, space, runner or Runner(progress=False), spent)
    else:
        first = run_search(create_algorithm("random", space=space, seed=seed), cheap, stage_budget, spent=spent)
    ranked = sorted((s for s in first.history if s.score is not None), key=lambda s: -s.score)
    second = run_search(RankedList([s.arch for s in ranked], space=space, seed=seed), dear, budget, spent=spent)
    return SearchResult(
        algorithm=f"two-stage({cheap.name}->{dear.name})",
        seed=seed,
        budget=budget.describe(),
        arch=second.arch,
        score=second.score,
        spent=spent,
        stopped_by=second.stopped_by,
        history=first.history + second.history,
    )


class _Scored(Estimator):
    """Serves records already scored together (a vote's pool), so the search loop charges them."""

    def __init__(self, estimator: Estimator, records: list[EvalRecord]) -> None:
        self.name, self._fingerprint = estimator.name, estimator.fingerprint()
        self.records = {r.arch: r for r in records}

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint

    def evaluate(self, arch: Any) -> EvalRecord:
        return self.records[str(arch)]

    def _evaluate(self, arch: str) -> EvalRecord:
        return self.records[arch]


def _score_pool(cheap: Estimator, budget: Budget, seed: int, space: str, runner: Runner, spent: Spent) -> SearchResult:
    """Stage 1 for an estimator that ranks archs together: the random driver's first
    ``budget.evaluations`` archs scored at once (their ranks are among all of them), then charged
    in order by the search loop until the budget runs out; the archs beyond it are not counted
    nor used."""
    order = create_algorithm("random", space=space, seed=seed)
    archs = []
    for _ in range(budget.evaluations or 0):
        try:
            archs.append(str(order.ask()))
        except StopIteration:
            break
    records = runner.run(cheap, archs, desc=f"{cheap.name} pool")
    return run_search(RankedList(archs, space=space, seed=seed), _Scored(cheap, records), budget, spent=spent)
