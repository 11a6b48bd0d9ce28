"""The ask/tell interface of sample-based search algorithms, and their registry."""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from bpe.errors import BPEError
from bpe.spaces import get_space

__all__ = ["SearchAlgorithm", "register_algorithm", "create_algorithm", "available_algorithms"]

_REGISTRY: dict[str, type["SearchAlgorithm"]] = {}
T = TypeVar("T", bound=type)


class SearchAlgorithm(ABC):
    """Proposes architectures (``ask``) and learns from their scores (``tell``; higher is better).

    Every random choice uses ``self.rng`` (seeded), so the same seed gives the same sequence
    of asks for the same scores.
    """

    name: ClassVar[str] = ""

    def __init__(self, space: str = "nb201", seed: int = 0) -> None:
        self.space_name = space
        self.space = get_space(space)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def ask(self) -> Any:
        """The next architecture to evaluate."""

    @abstractmethod
    def tell(self, arch: Any, score: float | None) -> None:
        """Report the score of an asked architecture (``None`` when its evaluation failed)."""


def register_algorithm(name: str) -> Callable[[T], T]:
    """Class decorator adding a search algorithm under ``name`` (duplicates are an error)."""

    def deco(cls: T) -> T:
        if name in _REGISTRY:
            raise ValueError(f"search algorithm '{name}' is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    from search_algos import drivers  # noqa: F401


def available_algorithms() -> list[str]:
    """Names of the registered sample-based algorithms."""
    _load_builtin()
    return sorted(_REGISTRY)


def create_algorithm(name: str, *, space: str = "nb201", seed: int = 0, **kwargs: Any) -> SearchAlgorithm:
    """Build a registered algorithm."""
    _load_builtin()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BPEError(f"unknown search algorithm '{name}'{hint} (available: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name](space=space, seed=seed, **kwargs)
