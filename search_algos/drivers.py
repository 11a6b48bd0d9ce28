"""Sample-based drivers: random search, regularized evolution, REINFORCE."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from search_algos.base import SearchAlgorithm, register_algorithm

__all__ = ["RandomSearch", "RegularizedEvolution", "Reinforce"]


@register_algorithm("random")
class RandomSearch(SearchAlgorithm):
    """Uniform sampling without replacement (the space's seeded random order)."""

    def __init__(self, space: str = "nb201", seed: int = 0) -> None:
        super().__init__(space, seed)
        self._order = self.space.random_order(self.rng)

    def ask(self) -> Any:
        try:
            return next(self._order)
        except StopIteration:
            raise StopIteration("random search has visited the whole space") from None

    def tell(self, arch: Any, score: float | None) -> None:
        pass


@register_algorithm("rea")
class RegularizedEvolution(SearchAlgorithm):
    """Regularized evolution (Real et al., 2019): a population of ``population`` archs; each step
    samples ``tournament`` members, mutates the best one edge, and the oldest member dies.
    The first ``population`` asks are uniform random samples (without replacement)."""

    def __init__(self, space: str = "nb201", seed: int = 0, *, population: int = 10, tournament: int = 3) -> None:
        super().__init__(space, seed)
        if population < 1 or not 1 <= tournament <= population:
            raise ValueError(f"need population >= 1 and 1 <= tournament <= population, got {population}, {tournament}")
        self.population_size = population
        self.tournament = tournament
        self.population: collections.deque = collections.deque()
        self._initial = [a for a in self.space.sample(population, self.rng)]

    def ask(self) -> Any:
        if self._initial:
            return self._initial.pop(0)
        members = list(self.population)
        idx = self.rng.choice(len(members), size=min(self.tournament, len(members)), replace=False)
        parent = max((members[i] for i in idx), key=lambda m: m[1])
        return self.space.mutate(parent[0], self.rng)

    def tell(self, arch: Any, score: float | None) -> None:
        if score is None:
            return  # a failed evaluation never enters the population
        self.population.append((arch, float(score)))
        if len(self.population) > self.population_size:
            self.population.popleft()


@register_algorithm("reinforce")
class Reinforce(SearchAlgorithm):
    """REINFORCE with a categorical policy per decision of the space (NB201: the op of each edge,
    logits 6x5; DARTS: each node's inputs and ops), Adam, and a bias-corrected exponential
    moving-average reward baseline (NB201's settings: lr 0.001, momentum 0.9).  Decisions with
    fewer choices than the largest have their missing choices masked out (probability 0)."""

    def __init__(self, space: str = "nb201", seed: int = 0, *, learning_rate: float = 1e-3,
                 baseline_momentum: float = 0.9) -> None:
        super().__init__(space, seed)
        if not learning_rate > 0 or not 0 <= baseline_momentum < 1:
            raise ValueError(f"need learning_rate > 0 and 0 <= baseline_momentum < 1, got {learning_rate}, {baseline_momentum}")
        sizes = self.space.decisions()
        n_ops = max(sizes)
        self.logits = np.zeros((len(sizes), n_ops))
        for d, n in enumerate(sizes):
            self.logits[d, n:] = -np.inf
        self.learning_rate = learning_rate
        self.momentum = baseline_momentum
        self._ema_num = 0.0
        self._ema_den = 0.0
        self._m = np.zeros_like(self.logits)
        self._v = np.zeros_like(self.logits)
        self._t = 0
        # work arrays: a step runs ~20 small array operations, so none allocates
        self._p = np.empty_like(self.logits)
        self._policy_at = -1  # the update count ``_t`` at which ``_p`` was computed
        self._onehot = np.eye(n_ops)
        self._grad = np.empty_like(self.logits)
        self._work = np.empty_like(self.logits)
        self._step = np.empty_like(self.logits)

    def probabilities(self) -> np.ndarray:
        """Per-decision choice probabilities (softmax of the logits; NB201: per-edge op probabilities)."""
        return self._policy().copy()

    def _policy(self) -> np.ndarray:
        """The softmax of the logits, computed once per update (``ask`` and ``tell`` both need it;
        the logits change only in ``tell``)."""
        if self._policy_at != self._t:
            z = np.subtract(self.logits, self.logits.max(axis=1, keepdims=True), out=self._work)
            np.exp(z, out=z)
            np.divide(z, z.sum(axis=1, keepdims=True), out=self._p)
            self._policy_at = self._t
        return self._p

    def ask(self) -> Any:
        p = self._policy()
        if np.isfinite(p).all():
            # rng.choice(n_ops, p=row) for every row at once, drawing the same uniforms in the same
            # order: index = searchsorted(cumsum(row) / sum, uniform, side="right")
            cdf = p.cumsum(axis=1)
            cdf = cdf / cdf[:, -1:]
            codes = (cdf <= self.rng.random(len(p))[:, None]).sum(axis=1).tolist()
        else:  # rng.choice says what is wrong with the policy
            codes = [int(self.rng.choice(p.shape[1], p=row)) for row in p]
        return self.space.from_decisions(codes)

    def tell(self, arch: Any, score: float | None) -> None:
        if score is None:
            return
        reward = float(score)
        self._ema_num = self.momentum * self._ema_num + (1 - self.momentum) * reward
        self._ema_den = self.momentum * self._ema_den + (1 - self.momentum)
        advantage = reward - self._ema_num / self._ema_den
        # grad = -(onehot - p) * advantage: the gradient of -advantage * log pi(arch)
        grad = np.subtract(self._onehot[list(self.space.to_decisions(arch))], self._policy(), out=self._grad)
        np.negative(grad, out=grad)
        np.multiply(grad, advantage, out=grad)
        self._t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        m, v, work, step = self._m, self._v, self._work, self._step
        # Adam, in place: m = b1 m + (1 - b1) grad; v = b2 v + (1 - b2) grad^2;
        # logits -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
        np.multiply(m, b1, out=m)
        np.add(m, np.multiply(grad, 1 - b1, out=work), out=m)
        np.multiply(v, b2, out=v)
        np.add(v, np.multiply(np.square(grad, out=work), 1 - b2, out=work), out=v)
        np.divide(m, 1 - b1**self._t, out=step)
        np.multiply(step, self.learning_rate, out=step)
        np.divide(v, 1 - b2**self._t, out=work)
        np.sqrt(work, out=work)
        np.add(work, eps, out=work)
        np.divide(step, work, out=step)
        np.subtract(self.logits, step, out=self.logits)
