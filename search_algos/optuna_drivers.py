"""Optuna's samplers as search drivers: ``tpe`` (Bergstra et al., 2011; Optuna's TPESampler),
``cmaes`` (Optuna's CmaEsSampler, over the decisions as integers; needs the ``cmaes`` package)
and ``nsga2`` (Optuna's NSGAIISampler, with one objective, or two: the score and the arch's own
cost, ``cost=params|flops``, for a search that trades accuracy against model size), over any space's
decisions (NB201: the op of each of the 6 edges; DARTS: each node's inputs and ops), through the
same ask/tell loop, budget, cache and resume as every other driver.

Each ask is an Optuna trial whose parameters are the space's decisions, each a categorical over
its choices; its arch is :meth:`~bpe.spaces.base.SearchSpace.from_decisions` of them.  A score
told back completes the trial (higher is better); a failed evaluation fails it, so the sampler
never learns from a made-up value.  The study lives in memory: a search run is reproduced from
its seed (the sampler's), and a resumed ``bpe search`` replays it from the evaluation cache.
"""

from __future__ import annotations

import collections
import importlib.util
import warnings
from typing import Any

import optuna

from bpe.data import DatasetSpec
from bpe.estimators import create_estimator
from search_algos.base import SearchAlgorithm, register_algorithm

__all__ = ["OptunaSearch", "TPESearch", "NSGA2Search", "CMAESSearch", "COSTS"]


class OptunaSearch(SearchAlgorithm):
    """An Optuna sampler proposing the space's decisions (subclasses give the sampler)."""

    def __init__(self, space: str = "nb201", seed: int = 0) -> None:
        super().__init__(space, seed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(directions=self.directions(), sampler=self.sampler())
        self._sizes = self.space.decisions()
        self._pending: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._told: set[str] = set()

    def sampler(self) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def directions(self) -> list[str]:
        """The study's objectives: the score alone (maximised)."""
        return ["maximize"]

    def distribution(self, n: int) -> optuna.distributions.BaseDistribution:
        """How a decision of ``n`` choices is a parameter: categorical (no order among ops)."""
        return optuna.distributions.CategoricalDistribution(list(range(n)))

    def suggest(self, trial: optuna.trial.Trial, name: str, n: int) -> int:
        """The trial's value of a decision of ``n`` choices (as :meth:`distribution` says)."""
        return int(trial.suggest_categorical(name, list(range(n))))

    def values(self, arch: Any, score: float) -> float | list[float]:
        """What a scored arch is told as (the score; a multi-objective driver adds its objectives)."""
        return float(score)

    def ask(self) -> Any:
        if len(self._told) >= self.space.size:
            raise StopIteration(f"{self.name} has evaluated every arch of the space")
        trial = self.study.ask()
        codes = [self.suggest(trial, f"d{i}", n) for i, n in enumerate(self._sizes)]
        arch = self.space.from_decisions(codes)
        self._pending[str(arch)].append((trial, tuple(codes)))
        return arch

    def tell(self, arch: Any, score: float | None) -> None:
        pending = self._pending.get(str(arch))
        if not pending:
            return  # not asked by this driver (nothing to complete)
        trial, codes = pending.popleft()
        self._told.add(str(arch))
        evaluated = tuple(self.space.to_decisions(arch))
        if evaluated != codes:  # a listed space moved the ask to its nearest arch: learn what was scored
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if score is not None:
                dists = {f"d{i}": self.distribution(n) for i, n in enumerate(self._sizes)}
                self.study.add_trial(optuna.trial.create_trial(
                    params={f"d{i}": c for i, c in enumerate(evaluated)}, distributions=dists,
                    values=_as_list(self.values(arch, score))))
            return
        if score is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, self.values(arch, score))


@register_algorithm("tpe")
class TPESearch(OptunaSearch):
    """Tree-structured Parzen estimator: ``n_startup_trials`` random trials, then TPE
    (``multivariate``: one density over all decisions jointly)."""

    def __init__(self, space: str = "nb201", seed: int = 0, *, n_startup_trials: int = 10,
                 multivariate: bool = True) -> None:
        if n_startup_trials < 1:
            raise ValueError(f"need n_startup_trials >= 1, got {n_startup_trials}")
        self.n_startup_trials, self.multivariate = int(n_startup_trials), bool(multivariate)
        super().__init__(space, seed)

    def sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                          multivariate=self.multivariate)


@register_algorithm("cmaes")
class CMAESSearch(OptunaSearch):
    """CMA-ES (Hansen, 2016; Optuna's CmaEsSampler) over the decisions as integers 0..n-1: the
    covariance matrix adaptation needs numbers, so each op or input is its index, an order the
    space does not have (a baseline for users who reach for CMA-ES; TPE and REA treat the choices
    as categories).  ``n_startup_trials`` random trials first; ``popsize`` per generation
    (``None``: CMA-ES's default for the dimension)."""

    def __init__(self, space: str = "nb201", seed: int = 0, *, n_startup_trials: int = 10,
                 popsize: int | None = None) -> None:
        if n_startup_trials < 0:
            raise ValueError(f"need n_startup_trials >= 0, got {n_startup_trials}")
        if popsize is not None and popsize < 2:
            raise ValueError(f"need popsize >= 2, got {popsize}")
        self.n_startup_trials, self.popsize = int(n_startup_trials), popsize
        super().__init__(space, seed)

    def sampler(self) -> optuna.samplers.BaseSampler:
        if importlib.util.find_spec("cmaes") is None:
            raise ValueError("the cmaes driver needs the cmaes package: pip install cmaes (or the test extra)")
        with warnings.catch_warnings():  # Optuna marks CMA-ES's integer handling experimental
            warnings.simplefilter("ignore")
            return optuna.samplers.CmaEsSampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                                popsize=self.popsize)

    def distribution(self, n: int) -> optuna.distributions.BaseDistribution:
        return optuna.distributions.IntDistribution(0, n - 1)

    def suggest(self, trial: optuna.trial.Trial, name: str, n: int) -> int:
        return int(trial.suggest_int(name, 0, n - 1))


def _as_list(values: float | list[float]) -> list[float]:
    return list(values) if isinstance(values, list) else [values]


#: Second objectives of ``nsga2``: the arch's own size, measured by these data-free scorers.
COSTS = ("none", "params", "flops")


@register_algorithm("nsga2")
class NSGA2Search(OptunaSearch):
    """NSGA-II (a genetic algorithm): ``population`` archs per generation.  ``cost``: ``none``
    (the score alone) or ``params`` / ``flops`` (minimised as a second objective, the arch's
    parameter count or FLOPs at the space's scoring size; the run then reports its Pareto front of
    score against cost, and its best arch is still the best-scored one)."""

    def __init__(self, space: str = "nb201", seed: int = 0, *, population: int = 20, cost: str = "none") -> None:
        if population < 2:
            raise ValueError(f"need population >= 2, got {population}")
        if cost not in COSTS:
            raise ValueError(f"need cost in {', '.join(COSTS)}, got {cost!r}")
        self.population, self.cost = int(population), cost
        self._costs: dict[str, float] = {}
        self._scores: dict[str, float] = {}
        super().__init__(space, seed)
        if cost != "none":  # no images are read: the digits spec only names the 10 classes of the scored network
            self._measure = create_estimator(cost, dataset=DatasetSpec("digits"), space=self.space_name, device="cpu")

    def sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=self.seed, population_size=self.population)

    def directions(self) -> list[str]:
        return ["maximize"] if self.cost == "none" else ["maximize", "minimize"]

    def values(self, arch: Any, score: float) -> float | list[float]:
        if self.cost == "none":
            return float(score)
        key = str(arch)
        if key not in self._costs:
            self._costs[key] = float(self._measure.score(key))
        self._scores[key] = float(score)
        return [float(score), self._costs[key]]

    def summary(self) -> dict[str, Any] | None:
        """The Pareto front of the evaluated archs: score (higher) against cost (lower)."""
        if self.cost == "none":
            return None
        front = [a for a, s in self._scores.items()
                 if not any(t >= s and self._costs[b] <= self._costs[a] and (t > s or self._costs[b] < self._costs[a])
                            for b, t in self._scores.items())]
        front.sort(key=lambda a: self._costs[a])
        return {"objectives": ["score", self.cost], "pareto_front": [
            {"arch": a, "score": self._scores[a], self.cost: self._costs[a]} for a in front]}
