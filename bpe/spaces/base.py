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

__all__ = ["SearchSpace", "register_space", "get_space", "available_spaces"]


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
        (the sample of 50 is the start of the sample of 100), so growing one reuses work."""
        self._check_count(n)
        order = self.random_order(np.random.default_rng(seed))
        return [next(order) for _ in range(n)]

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


def get_space(name: str) -> SearchSpace:
    """The search space registered under ``name`` (one shared instance; unknown names raise
    :class:`~bpe.errors.BPEError` with a suggestion)."""
    space = _INSTANCES.get(name)
    if space is None:
        space = _INSTANCES[name] = _REGISTRY.get(name)()
    return space
