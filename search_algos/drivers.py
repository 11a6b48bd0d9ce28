"""Sample-based drivers: random search, regularized evolution, REINFORCE."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from search_algos.base import SearchAlgorithm, register_algorithm

__all__ = ["RandomSearch", "RegularizedEvolution", "Reinforce"]


@register_algorithm("random")
class RandomSearch(SearchAlgorithm):
    """Uniform sampling without replacement (a seeded permutation of the space)."""

    def __init__(self, space: str = "nb201", seed: int = 0) -> None:
        super().__init__(space, seed)
        self._order = self.rng.permutation(self.space.NUM_ARCHS)
        self._next = 0

    def ask(self) -> Any:
        if self._next >= len(self._order):
            raise StopIteration("random search has visited the whole space")
        arch = self.space.from_index(int(self._order[self._next]))
        self._next += 1
        return arch

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
    """REINFORCE with a categorical policy per edge (logits 6x5), Adam, and a bias-corrected
    exponential moving-average reward baseline (NB201's settings: lr 0.001, momentum 0.9)."""

    def __init__(self, space: str = "nb201", seed: int = 0, *, learning_rate: float = 1e-3,
                 baseline_momentum: float = 0.9) -> None:
        super().__init__(space, seed)
        if not learning_rate > 0 or not 0 <= baseline_momentum < 1:
            raise ValueError(f"need learning_rate > 0 and 0 <= baseline_momentum < 1, got {learning_rate}, {baseline_momentum}")
        n_edges, n_ops = len(self.space.EDGES), len(self.space.OPS)
        self.logits = np.zeros((n_edges, n_ops))
        self.learning_rate = learning_rate
        self.momentum = baseline_momentum
        self._ema_num = 0.0
        self._ema_den = 0.0
        self._m = np.zeros_like(self.logits)
        self._v = np.zeros_like(self.logits)
        self._t = 0

    def probabilities(self) -> np.ndarray:
        """Per-edge op probabilities (softmax of the logits)."""
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def ask(self) -> Any:
        p = self.probabilities()
        codes = [int(self.rng.choice(p.shape[1], p=row)) for row in p]
        return self.space.NB201Arch(tuple(self.space.OPS[c] for c in codes))

    def tell(self, arch: Any, score: float | None) -> None:
        if score is None:
            return
        reward = float(score)
        self._ema_num = self.momentum * self._ema_num + (1 - self.momentum) * reward
        self._ema_den = self.momentum * self._ema_den + (1 - self.momentum)
        advantage = reward - self._ema_num / self._ema_den
        onehot = np.zeros_like(self.logits)
        onehot[np.arange(len(arch.op_codes)), arch.op_codes] = 1.0
        grad = -(onehot - self.probabilities()) * advantage  # gradient of -advantage * log pi(arch)
        self._t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        self._m = b1 * self._m + (1 - b1) * grad
        self._v = b2 * self._v + (1 - b2) * grad**2
        m_hat = self._m / (1 - b1**self._t)
        v_hat = self._v / (1 - b2**self._t)
        self.logits -= self.learning_rate * m_hat / (np.sqrt(v_hat) + eps)
