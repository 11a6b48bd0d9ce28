"""What one evaluation produced and cost: :class:`EvalRecord` and :class:`Cost`.

Plain data, kept as objects from the evaluation to the file that stores them (the cache, a
results file).  This module imports nothing else of ``bpe``, so the cache and the estimators
can both depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Cost", "EvalRecord"]


@dataclass
class Cost:
    """What one evaluation cost.

    Attributes:
        seconds: wall seconds actually spent.
        simulated_seconds: seconds charged by a benchmark's recorded training time (oracle).
        epochs: training epochs run.
        forward_passes: mini-batch forward passes run.
    """

    seconds: float = 0.0
    simulated_seconds: float = 0.0
    epochs: int = 0
    forward_passes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)

    @classmethod
    def total(cls, costs: Iterable[Cost]) -> Cost:
        """The sum of several evaluations' costs (a blend's members)."""
        costs = list(costs)
        return cls(seconds=sum(c.seconds for c in costs), simulated_seconds=sum(c.simulated_seconds for c in costs),
                   epochs=sum(c.epochs for c in costs), forward_passes=sum(c.forward_passes for c in costs))


@dataclass
class EvalRecord:
    """The result of scoring one architecture.

    ``status`` is ``"ok"`` (``score`` is a finite float) or ``"failed"`` (``score`` is
    ``None`` and ``error`` says why).  ``info`` holds estimator-specific details (loss,
    accuracy history, device, ...); a failure marked ``transient`` (an exception such as out
    of memory) is not cached, so a rerun tries again.
    """

    arch: str
    score: float | None
    status: str
    cost: Cost = field(default_factory=Cost)
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the evaluation produced a finite score."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return {
            "arch": self.arch,
            "score": self.score,
            "status": self.status,
            "seconds": self.cost.seconds,
            "cost": self.cost.to_dict(),
            "error": self.error,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            arch=data["arch"],
            score=data["score"],
            status=data["status"],
            cost=Cost(**data.get("cost", {})),
            error=data.get("error"),
            info=data.get("info", {}),
        )

    @classmethod
    def failure(cls, arch: str, error: str, seconds: float = 0.0, **info: Any) -> EvalRecord:
        """A failed evaluation with its reason."""
        return cls(arch=arch, score=None, status="failed", cost=Cost(seconds=seconds), error=error, info=info)
