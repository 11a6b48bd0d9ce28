"""The ground-truth interface: what an architecture's (fully trained) performance is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from bpe.errors import TruthError
from bpe.spaces import get_space

__all__ = ["Benchmark", "arch_row"]


def arch_row(rows: Mapping[str, int], space: str, arch: Any, *, what: str, where: str) -> int:
    """The row of ``arch`` in ``rows`` (keyed by canonical string; a canonical string, the usual
    case in search loops, needs no parsing).  An arch not there raises :class:`TruthError`
    ``"<what> <canonical string> is not <where>"``."""
    if type(arch) is str:
        row = rows.get(arch)
        if row is not None:
            return row
    key = str(get_space(space).to_arch(arch))
    try:
        return rows[key]
    except KeyError:
        raise TruthError(f"{what} {key} is not {where}") from None


class Benchmark(ABC):
    """A source of ground-truth metrics for architectures.

    ``query`` returns ``nan`` for an architecture the source has no value for (for example
    the NB201 archs whose training diverged); callers drop those from correlations.
    """

    #: Metric used when none is given.
    default_metric: str = ""

    @property
    @abstractmethod
    def metrics(self) -> list[str]:
        """Names of the metrics ``query`` accepts."""

    @abstractmethod
    def query(self, arch: Any, metric: str | None = None) -> float:
        """The value of ``metric`` for ``arch`` (``nan`` when unknown)."""

    def query_many(self, archs: Sequence[Any], metric: str | None = None, *, runner: Any = None) -> list[float]:
        """Values for many archs; sources that must compute them use ``runner`` (a
        :class:`bpe.parallel.Runner`) for parallelism, caching and progress."""
        return [self.query(a, metric) for a in archs]

    def train_seconds(self, arch: Any, epochs: int) -> float | None:
        """Simulated seconds to train ``arch`` for ``epochs`` (``None`` when not recorded)."""
        return None

    def measured_seconds(self, arch: Any) -> float | None:
        """Wall seconds this source spent to produce ``arch``'s truth (``None`` for lookups)."""
        return None

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Identity of the source for cache keys."""

    def check_metric(self, metric: str | None) -> str:
        """Resolve ``None`` to the default metric and validate the name."""
        metric = metric or self.default_metric
        if metric not in self.metrics:
            raise TruthError(
                f"metric '{metric}' is not in the ground truth; choose one of {', '.join(self.metrics)} (--metric)"
            )
        return metric
