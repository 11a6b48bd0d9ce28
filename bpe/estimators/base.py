"""The estimator interface: anything that scores an architecture (higher is better)."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from bpe.records import Cost, EvalRecord  # re-exported: ``from bpe.estimators.base import EvalRecord`` keeps working
from bpe.runtime import EVAL_THREADS, torch_threads

__all__ = ["Cost", "EvalRecord", "Estimator"]

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
    #: True when a score is relative to the archs scored together (a vote): runners call
    #: :meth:`score_population` with the whole sample instead of scoring archs one by one.
    population: ClassVar[bool] = False
    #: True when scoring needs other estimators' scores (a learned blend's members): runners call
    #: :meth:`score_population`, so the members go through the cache; each arch's score is still
    #: its own, so a search may score archs one by one.
    composite: ClassVar[bool] = False
    #: True for a training-free scorer (it reads an untrained network, or counts it): what MIP's
    #: ``--scorers`` and ``--baseline`` take, an assembly of such measures (``az_nas``) included.
    training_free: ClassVar[bool] = False

    @property
    def reads_data(self) -> bool:
        """Whether scoring reads images of the dataset (so its files must be there before any
        work); False for a lookup, a predictor of arch strings, or a data-free scorer."""
        return True

    @classmethod
    def from_context(cls, context: Any) -> Estimator:
        """Build from an :class:`~bpe.estimators.context.EstimatorContext` (the one way the
        factory builds estimators); the default takes nothing from it."""
        return cls()

    @classmethod
    def tiny(cls, context: Any) -> Estimator:
        """A tiny instance for the conformance tests (tiny nets, tiny images; default: as
        :meth:`from_context`)."""
        return cls.from_context(context)

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the scores (the cache key), JSON-serialisable."""

    @abstractmethod
    def _evaluate(self, arch: str) -> EvalRecord:
        """Score one canonical arch string."""

    def evaluate(self, arch: Any) -> EvalRecord:
        """Score ``arch`` (object or string) and return a record with its cost.

        This is :meth:`finalize` applied to :meth:`measure`.
        """
        return self.finalize(self.measure(arch))

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

    def measure(self, arch: Any) -> EvalRecord:
        """The measurement of ``arch`` that the cache stores under :meth:`fingerprint`, taken with
        :data:`EVAL_THREADS` torch threads."""
        arch_str = str(arch)
        start = time.perf_counter()
        with torch_threads(EVAL_THREADS):
            record = self._evaluate(arch_str)
        if record.cost.seconds == 0.0:
            record.cost.seconds = time.perf_counter() - start
        if record.ok and (record.score is None or not math.isfinite(record.score)):
            return EvalRecord.failure(arch_str, f"non-finite score {record.score}", record.cost.seconds)
        return record

    def score_population(self, archs: Sequence[str], runner: Any) -> list[EvalRecord]:
        """Scored records of ``archs`` taken together (only for ``population`` and ``composite`` estimators)."""
        raise NotImplementedError(f"{self.name} scores archs one by one")

    def score(self, arch: Any) -> float:
        """The score of ``arch``; raises ``RuntimeError`` when the evaluation failed."""
        record = self.evaluate(arch)
        if not record.ok:
            raise RuntimeError(f"{self.name} failed on {record.arch}: {record.error}")
        return float(record.score)

    def describe(self) -> str:
        """One line for logs and CLI output."""
        return self.name
