"""The search-space contract: what every driver, estimator and command may ask of a space.

A space is a small object registered by name (``@register_space("nb201")``) and looked up
with :func:`get_space`.  Its architectures are immutable values whose ``str`` is the one
canonical string (equal strings mean equal archs).  Everything a search needs is expressed
through *decisions*: an arch is a tuple of integer choices, decision ``d`` taking one of
``decisions()[d]`` values.  Mutation, neighbours, the default predictor encoding and the
REINFORCE policy are written once, here, on top of them; a space overrides only what it can
do better (NB201 enumerates its 15,625 cells, for example).

Network sizes: the proxy knob for depth is the BPE paper's ``layers`` (:class:`~bpe.config.BPEConfig`);
:meth:`SearchSpace.net_size` maps a config to the keyword arguments of :meth:`SearchSpace.build`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from bpe.errors import ArchStringError, BPEError, ConfigError
from bpe.registry import Registry

__all__ = ["SearchSpace", "ListedSpace", "register_space", "get_space", "available_spaces"]


class SearchSpace(ABC):
    """One search space (see the module doc).  Subclasses set ``name`` through the registry
    and implement the abstract methods; the defaults of the others are correct for any space.
    """

    name: ClassVar[str] = ""
    #: True when :meth:`enumerate_archs` lists the whole space.
    enumerable: ClassVar[bool] = False
    #: ``channels`` and ``layers`` of the space's fully trained network (what training-free
    #: scorers score unless told otherwise).
    eval_size: ClassVar[dict[str, int]] = {}
    #: ``channels`` and ``layers`` training-free scorers score unless told otherwise (empty: the
    #: :attr:`eval_size`); a space whose fully trained network is too big to score cheaply names
    #: a smaller one (DARTS: its search network, as zero-cost studies on DARTS score).
    score_size: ClassVar[dict[str, int]] = {}
    #: Training features of the space's networks that a config may switch on (``auxiliary``: an
    #: auxiliary head, ``drop_path``: a ``set_drop_path(p)`` method).
    training_features: ClassVar[frozenset[str]] = frozenset()

    # -- strings -------------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> Any:
        """Parse and validate an arch string (every accepted form); raises
        :class:`~bpe.errors.ArchStringError` naming the problem and the fix."""

    def to_arch(self, arch: Any) -> Any:
        """An arch value from an arch or a string."""
        return self.parse(arch) if isinstance(arch, str) else self._check_arch(arch)

    def _check_arch(self, arch: Any) -> Any:
        if not isinstance(arch, self.arch_type()):
            raise ArchStringError(f"expected a {self.name} arch or string, got {type(arch).__name__}")
        return arch

    @abstractmethod
    def arch_type(self) -> type:
        """The class of this space's arch values."""

    def format(self, arch: Any) -> str:
        """The canonical string of ``arch`` (an arch or any accepted string form)."""
        return str(self.to_arch(arch))

    # -- size and sampling ------------------------------------------------------------
    @property
    @abstractmethod
    def size(self) -> int:
        """Number of distinct archs in the space."""

    def enumerate_archs(self) -> Iterator[Any]:
        """Every arch of the space (only for an enumerable space)."""
        raise BPEError(f"the {self.name} space has {self.size:.3g} archs and cannot be listed; give a number "
                       f"(a seeded sample) or a file of archs, or a truth source whose archs to use")

    @abstractmethod
    def random_arch(self, rng: np.random.Generator) -> Any:
        """One arch drawn from the space's sampling distribution."""

    def random_order(self, rng: np.random.Generator | int) -> Iterator[Any]:
        """Distinct archs in a seeded random order (random search draws from it): without
        replacement, by rejecting repeats of :meth:`random_arch`."""
        rng = np.random.default_rng(rng)
        seen: set[str] = set()
        while len(seen) < self.size:
            arch = self.random_arch(rng)
            key = str(arch)
            if key not in seen:
                seen.add(key)
                yield arch

    def _check_count(self, n: int) -> None:
        if not 0 <= n <= self.size:
            raise ArchStringError(f"can sample 0..{self.size} {self.name} archs without replacement, got {n}")

    def sample(self, n: int, rng: np.random.Generator | int) -> list[Any]:
        """``n`` distinct archs drawn without replacement."""
        self._check_count(n)
        order = self.random_order(np.random.default_rng(rng))
        return [next(order) for _ in range(n)]

    def sample_nested(self, n: int, seed: int) -> list[Any]:
        """The first ``n`` archs of one order seeded by ``seed``: samples of one seed are nested
        (the sample of 50 is the start of the sample of 100), so growing one reuses work.  Here
        that is :meth:`sample` itself, which takes the start of one seeded order."""
        return self.sample(n, seed)

    # -- decisions: what a policy chooses, what mutation changes ------------------------------
    @abstractmethod
    def decisions(self) -> tuple[int, ...]:
        """The number of choices of every decision, in a fixed order."""

    def decision_names(self) -> tuple[str, ...]:
        """A short name per decision (for reports)."""
        return tuple(f"d{i}" for i in range(len(self.decisions())))

    @abstractmethod
    def to_decisions(self, arch: Any) -> tuple[int, ...]:
        """The choice of every decision of ``arch``."""

    @abstractmethod
    def from_decisions(self, codes: Sequence[int]) -> Any:
        """The arch of a full set of choices (inverse of :meth:`to_decisions`)."""

    def mutate(self, arch: Any, rng: np.random.Generator | int) -> Any:
        """Change one uniformly chosen decision to a different, uniformly chosen value."""
        arch = self.to_arch(arch)
        rng = np.random.default_rng(rng)
        sizes = self.decisions()
        codes = list(self.to_decisions(arch))
        mutable = [d for d, n in enumerate(sizes) if n > 1]
        d = mutable[int(rng.integers(len(mutable)))] if len(mutable) < len(sizes) else int(rng.integers(len(sizes)))
        choices = [c for c in range(sizes[d]) if c != codes[d]]
        codes[d] = choices[int(rng.integers(len(choices)))]
        return self.from_decisions(codes)

    def neighbours(self, arch: Any) -> list[Any]:
        """Every arch one decision away, in decision then value order."""
        codes = self.to_decisions(self.to_arch(arch))
        out = []
        for d, n in enumerate(self.decisions()):
            for value in range(n):
                if value != codes[d]:
                    out.append(self.from_decisions((*codes[:d], value, *codes[d + 1:])))
        return out

    def graph_features(self, archs: Sequence[Any]) -> tuple[list[str], np.ndarray]:
        """(names, values ``(n, k)``): interpretable features of each cell's graph for predictors
        (GRAF-style: op counts, paths, degrees).  The default counts each value of each decision
        over the decisions; spaces with a graph override it."""
        sizes = self.decisions()
        width = max(sizes)
        names = [f"decision value {v}" for v in range(width)]
        values = np.zeros((len(archs), width), dtype=float)
        for row, arch in enumerate(archs):
            for code in self.to_decisions(self.to_arch(arch)):
                values[row, code] += 1
        return names, values

    def encode(self, archs: Sequence[Any] | Any) -> np.ndarray:
        """Predictor features: the one-hot of every decision, shape ``(n, sum(decisions()))``,
        float32; 1-D for one arch."""
        single = isinstance(archs, (str, self.arch_type()))
        items = [archs] if single else list(archs)
        sizes = self.decisions()
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        out = np.zeros((len(items), int(sum(sizes))), dtype=np.float32)
        for row, arch in enumerate(items):
            out[row, offsets + np.asarray(self.to_decisions(self.to_arch(arch)), dtype=int)] = 1.0
        return out[0] if single else out

    # -- networks ------------------------------------------------------------------------
    @abstractmethod
    def build(self, arch: Any, *, num_classes: int = 10, **size: Any) -> Any:
        """The network trained for ``arch`` (a ``torch.nn.Module`` whose ``forward(x)`` returns logits)."""

    @abstractmethod
    def net_size(self, *, channels: int, layers: int) -> dict[str, Any]:
        """The :meth:`build` size keywords for a proxy's ``channels`` and ``layers`` (the BPE
        paper's depth knob, mapped to this space's own structure)."""

    def size_key(self, *, channels: int, layers: int) -> dict[str, Any]:
        """The network size as it enters cache keys (:meth:`net_size` without the channels)."""
        return {k: v for k, v in self.net_size(channels=channels, layers=layers).items() if k != "channels"}

    def check_config(self, config: Any) -> None:
        """Raise :class:`~bpe.errors.ConfigError` when ``config`` asks for a training feature this
        space's networks lack (before any work starts)."""
        for field, feature in (("auxiliary_weight", "auxiliary"), ("drop_path", "drop_path")):
            if getattr(config, field, 0) > 0 and feature not in self.training_features:
                raise ConfigError(f"{field} > 0 needs networks with {feature.replace('_', '-')}; the {self.name} "
                                  f"space has none: set {field} to 0")

    def describe_size(self, *, channels: int, layers: int) -> str:
        """A short label of a network size, e.g. ``C=16, L=8``."""
        return f"C={channels}, L={layers}"

    @abstractmethod
    def supernet(self, *, num_classes: int = 10, **size: Any) -> Any:
        """The weight-sharing supernet for one-shot search: a module with ``alphas`` (architecture
        logits, last axis the ops), ``weight_parameters()``, ``forward(x, weights=None, index=None)``
        and ``derive()`` returning an arch of this space."""


class ListedSpace(SearchSpace):
    """A space restricted to a listed set of its archs (a tabular benchmark's cells, such as the BPE
    paper's 100 DARTS cells), so that the search drivers run over exactly those.

    Sampling draws from the list without replacement.  A proposal a driver builds from decisions
    (REINFORCE) becomes the listed arch nearest to it in decisions (the first in list order on a
    tie); mutation mutates in the full space and moves to the listed arch nearest to the child
    (other than the parent); neighbours are the listed archs nearest to an arch.  Networks and
    encodings are the full space's.

    Args:
        base: the full space.
        archs: the listed archs (arch values or strings of ``base``), at least two.
    """

    def __init__(self, base: SearchSpace, archs: Sequence[Any]) -> None:
        self.base = base
        self.name = base.name  # type: ignore[misc]  # an instance, named as its space
        self.enumerable = True  # type: ignore[misc]
        self.eval_size = base.eval_size  # type: ignore[misc]
        self.score_size = base.score_size  # type: ignore[misc]
        self.training_features = base.training_features  # type: ignore[misc]
        self._archs = list(dict.fromkeys(base.to_arch(a) for a in archs))
        if len(self._archs) < 2:
            raise BPEError(f"a listed {base.name} space needs at least 2 archs, got {len(self._archs)}")
        self._keys = {str(a): i for i, a in enumerate(self._archs)}
        self._codes = np.array([base.to_decisions(a) for a in self._archs])

    def parse(self, text: str) -> Any:
        return self.to_arch(self.base.parse(text))

    def to_arch(self, arch: Any) -> Any:
        """``arch`` (an arch or a string) when it is listed; an arch value is checked by its key,
        not parsed again."""
        arch = self.base.to_arch(arch)
        if str(arch) not in self._keys:
            raise ArchStringError(f"{arch} is not among the {len(self._archs)} listed {self.name} archs")
        return arch

    def arch_type(self) -> type:
        return self.base.arch_type()

    @property
    def size(self) -> int:
        return len(self._archs)

    def enumerate_archs(self) -> Iterator[Any]:
        return iter(list(self._archs))

    def random_arch(self, rng: np.random.Generator) -> Any:
        return self._archs[int(rng.integers(len(self._archs)))]

    def random_order(self, rng: np.random.Generator | int) -> Iterator[Any]:
        for i in np.random.default_rng(rng).permutation(len(self._archs)):
            yield self._archs[int(i)]

    def decisions(self) -> tuple[int, ...]:
        return self.base.decisions()

    def decision_names(self) -> tuple[str, ...]:
        return self.base.decision_names()

    def to_decisions(self, arch: Any) -> tuple[int, ...]:
        return self.base.to_decisions(self.to_arch(arch))

    def _distances(self, codes: Sequence[int]) -> np.ndarray:
        return (self._codes != np.asarray(codes)[None, :]).sum(axis=1)

    def from_decisions(self, codes: Sequence[int]) -> Any:
        """The listed arch nearest to ``codes`` (fewest differing decisions; first in list order on a tie)."""
        return self._archs[int(np.argmin(self._distances(codes)))]

    def _nearest(self, codes: Sequence[int], exclude: str) -> list[int]:
        d = self._distances(codes)
        d[self._keys[exclude]] = np.iinfo(d.dtype).max
        return [int(i) for i in np.flatnonzero(d == d.min())]

    def mutate(self, arch: Any, rng: np.random.Generator | int) -> Any:
        """The full space's mutation (one decision changed), projected to the listed arch nearest to
        it other than ``arch`` (ties drawn uniformly)."""
        rng = np.random.default_rng(rng)
        arch = self.to_arch(arch)
        child = self.base.mutate(arch, rng)
        nearest = self._nearest(self.base.to_decisions(child), str(arch))
        return self._archs[nearest[int(rng.integers(len(nearest)))]]

    def neighbours(self, arch: Any) -> list[Any]:
        """The listed archs nearest to ``arch`` (``arch`` itself excluded)."""
        arch = self.to_arch(arch)
        return [self._archs[i] for i in self._nearest(self.base.to_decisions(arch), str(arch))]

    def encode(self, archs: Sequence[Any] | Any) -> np.ndarray:
        return self.base.encode(archs)

    def graph_features(self, archs: Sequence[Any]) -> tuple[list[str], np.ndarray]:
        return self.base.graph_features(archs)

    def build(self, arch: Any, *, num_classes: int = 10, **size: Any) -> Any:
        return self.base.build(arch, num_classes=num_classes, **size)

    def net_size(self, *, channels: int, layers: int) -> dict[str, Any]:
        return self.base.net_size(channels=channels, layers=layers)

    def describe_size(self, *, channels: int, layers: int) -> str:
        return self.base.describe_size(channels=channels, layers=layers)

    def supernet(self, *, num_classes: int = 10, **size: Any) -> Any:
        return self.base.supernet(num_classes=num_classes, **size)


def _load_builtin() -> None:
    # the built-in spaces register themselves on import
    from bpe.spaces import darts, nb201  # noqa: F401


_REGISTRY: Registry = Registry("search space", BPEError, _load_builtin)
#: Class decorator adding a search space under a name (duplicates are an error).
register_space = _REGISTRY.register
_INSTANCES: dict[str, SearchSpace] = {}


def available_spaces() -> list[str]:
    """Names of the registered search spaces."""
    return _REGISTRY.names()


def get_space(name: str | SearchSpace) -> SearchSpace:
    """The search space registered under ``name`` (one shared instance; unknown names raise
    :class:`~bpe.errors.BPEError` with a suggestion); a space object is returned as it is."""
    if isinstance(name, SearchSpace):
        return name
    space = _INSTANCES.get(name)
    if space is None:
        space = _INSTANCES[name] = _REGISTRY.get(name)()
    return space
