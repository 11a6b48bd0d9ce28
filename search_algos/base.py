"""The ask/tell interface of sample-based search algorithms, and their registry."""

from __future__ import annotations

import functools
import inspect
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from bpe.errors import BPEError
from bpe.registry import Registry
from bpe.spaces import get_space

__all__ = ["SearchAlgorithm", "register_algorithm", "create_algorithm", "algorithm_options", "check_options",
           "keyword_options", "available_algorithms", "get_algorithm_class"]

class SearchAlgorithm(ABC):
    """Proposes architectures (``ask``) and learns from their scores (``tell``; higher is better).

    Every random choice uses ``self.rng`` (seeded), so the same seed gives the same sequence
    of asks for the same scores.
    """

    name: ClassVar[str] = ""

    def __init__(self, space: str = "nb201", seed: int = 0) -> None:
        self.space = get_space(space)
        self.space_name = self.space.name
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def ask(self) -> Any:
        """The next architecture to evaluate."""

    @abstractmethod
    def tell(self, arch: Any, score: float | None) -> None:
        """Report the score of an asked architecture (``None`` when its evaluation failed)."""

    def summary(self) -> dict[str, Any] | None:
        """What the driver adds to its run's result once the run ends (e.g. a Pareto front), or
        ``None``."""
        return None


def _load_builtin() -> None:
    # Local: an import cycle (drivers imports register_algorithm from here); loaded on first lookup.
    from search_algos import drivers, optuna_drivers  # noqa: F401


_REGISTRY: Registry = Registry("search algorithm", BPEError, _load_builtin)
#: Class decorator adding a search algorithm under a name (duplicates are an error).
register_algorithm = _REGISTRY.register


def available_algorithms() -> list[str]:
    """Names of the registered sample-based algorithms."""
    return _REGISTRY.names()


def get_algorithm_class(name: str) -> type[SearchAlgorithm]:
    """The class registered under ``name`` (unknown names raise with a suggestion)."""
    return _REGISTRY.get(name)


def keyword_options(func: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keyword-only arguments of ``func`` (its tunable options) and their defaults."""
    return dict(_keyword_options(func, tuple(exclude)))


@functools.lru_cache(maxsize=256)
def _keyword_options(func: Any, exclude: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """``keyword_options`` read once per function (a signature does not change; a simulated
    search creates an algorithm per run, thousands of runs)."""
    params = inspect.signature(func).parameters.values()
    return tuple((p.name, p.default) for p in params
                 if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in exclude)


def algorithm_options(name: str) -> dict[str, Any]:
    """The tunable options of a registered algorithm and their defaults (keyword-only arguments)."""
    return keyword_options(_REGISTRY.get(name).__init__)


def check_options(name: str, options: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against ``known`` (option -> default): unknown names and values not of
    the default's type (bool, int, finite float) raise :class:`BPEError` naming the fix."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        accepted = ", ".join(f"{k} (default {v})" for k, v in known.items()) or "none"
        raise BPEError(f"{name} has no option {', '.join(unknown)}; its options: {accepted}")
    return {k: _check_option(name, k, v, known[k]) for k, v in options.items()}


def _check_option(name: str, key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the option's default (bool, int or finite float), else BPEError."""
    want = type(default)
    ok = (isinstance(value, bool) if want is bool else
          isinstance(value, int) and not isinstance(value, bool) if want is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) if want is float
          else True)
    if not ok:
        raise BPEError(f"{name}.{key} takes {'a finite ' if want is float else 'an ' if want is int else 'a '}"
                       f"{want.__name__}, got {value!r}")
    return float(value) if want is float else value


def create_algorithm(name: str, *, space: str = "nb201", seed: int = 0, **kwargs: Any) -> SearchAlgorithm:
    """Build a registered algorithm; unknown, mistyped or out-of-range options raise :class:`BPEError`."""
    kwargs = check_options(name, kwargs, algorithm_options(name))
    try:
        return _REGISTRY.get(name)(space=space, seed=seed, **kwargs)
    except (TypeError, ValueError) as err:
        raise BPEError(f"invalid options for {name}: {err}") from None
