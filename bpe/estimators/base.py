"""The estimator interface: anything that scores an architecture (higher is better)."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = ["Cost", "EvalRecord", "Estimator"]


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


@dataclass
class EvalRecord:
    """The result of scoring one architecture.

    ``status`` is ``"ok"`` (``score`` is a finite float) or ``"failed"`` (``score`` is
    ``None`` and ``error`` says why).  ``info`` holds estimator-specific details (loss,
    accuracy history, device, ...).
    """

    arch: str
    score: float | None
    status: str
    cost: Cost = field(default_factory=Cost)
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall seconds of the evaluation."""
        return self.cost.seconds

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
    def from_dict(cls, data: dict[str, Any]) -> "EvalRecord":
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
    def failure(cls, arch: str, error: str, seconds: float = 0.0, **info: Any) -> "EvalRecord":
        """A failed evaluation with its reason."""
        return cls(arch=arch, score=None, status="failed", cost=Cost(seconds=seconds), error=error, info=info)


class Estimator(ABC):
    """Scores architectures; higher is better.

    Subclasses set ``name`` (the registry key) and implement :meth:`_evaluate` and
    :meth:`fingerprint`.  Constructors only store parameters.  :meth:`evaluate` never
    raises for a problem of one architecture (a diverged run, a NaN score): it returns a
    failed :class:`EvalRecord` with the reason.
    """

    name: ClassVar[str] = ""
    #: True when scores come from a lookup or are otherwise cheap and need no disk cache.
    cheap: ClassVar[bool] = False

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the scores (the cache key), JSON-serialisable."""

    @abstractmethod
    def _evaluate(self, arch: str) -> EvalRecord:
        """Score one canonical arch string."""

    def evaluate(self, arch: Any, *, num_threads: int | None = None) -> EvalRecord:
        """Score ``arch`` (object or string) and return a record with its cost.

        ``num_threads`` limits torch's intra-op threads (set by parallel runners).  This is
        :meth:`finalize` applied to :meth:`measure`.
        """
        return self.finalize(self.measure(arch, num_threads=num_threads))

    def finalize(self, record: EvalRecord) -> EvalRecord:
        """Turn a measured (cacheable) record into the scored one.

        The default keeps it.  Estimators whose score is one of several quantities read off
        the same measurement (a proxy's validation accuracy, validation loss or training-speed
        estimate) keep the measurement in the cache and choose the score here, so changing
        what is reported costs no new measurement.
        """
        return record

    def reusable(self, record: EvalRecord) -> bool:
        """Whether a cached measurement holds everything :meth:`finalize` needs (an older record
        format may not; it is then measured again and overwritten)."""
        return True

    def measure(self, arch: Any, *, num_threads: int | None = None) -> EvalRecord:
        """The measurement of ``arch`` that the cache stores under :meth:`fingerprint`."""
        if num_threads is not None:
            import torch

            torch.set_num_threads(max(1, int(num_threads)))
        arch_str = str(arch)
        start = time.perf_counter()
        record = self._evaluate(arch_str)
        if record.cost.seconds == 0.0:
            record.cost.seconds = time.perf_counter() - start
        if record.ok and (record.score is None or not math.isfinite(record.score)):
            return EvalRecord.failure(arch_str, f"non-finite score {record.score}", record.cost.seconds)
        return record

    def score(self, arch: Any) -> float:
        """The score of ``arch``; raises ``RuntimeError`` when the evaluation failed."""
        record = self.evaluate(arch)
        if not record.ok:
            raise RuntimeError(f"{self.name} failed on {record.arch}: {record.error}")
        return float(record.score)

    def describe(self) -> str:
        """One line for logs and CLI output."""
        return self.name
