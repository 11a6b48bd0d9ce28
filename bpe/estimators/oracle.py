"""``OracleEstimator``: look the score up in a ground-truth benchmark, charging the
benchmark's recorded training time as simulated cost (for tabular searches in seconds)."""

from __future__ import annotations

import math
import time
from typing import Any

from bpe.errors import EstimatorError
from bpe.estimators import register_estimator
from bpe.estimators.base import Estimator
from bpe.records import Cost, EvalRecord

__all__ = ["OracleEstimator"]


@register_estimator("oracle")
class OracleEstimator(Estimator):
    """Score = ``benchmark.query(arch, metric)``; cost = ``epochs`` x recorded seconds per epoch.

    Lookups are memoised per arch string (for the current benchmark, metric and epochs): a
    simulated search asks the same archs many times, and a lookup never changes.

    Args:
        benchmark: a :class:`bpe.truth.Benchmark`.
        metric: the benchmark column or metric name used as score.
        epochs: epochs charged per evaluation (12 for NB201's hp=12 protocol).
    """

    reads_data = False  # a lookup in the truth

    cheap = True

    def __init__(self, benchmark: Any = None, metric: str = "v11_cifar10valid_valid", *, epochs: int = 12) -> None:
        self.benchmark = benchmark
        self.metric = metric
        self.epochs = epochs

    @classmethod
    def from_context(cls, context: Any) -> OracleEstimator:
        if context.truth is None:
            raise EstimatorError("estimator 'oracle' needs a ground-truth table (--truth)")
        return cls(benchmark=context.truth, metric=context.metric or context.truth.default_metric)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "estimator": self.name,
            "benchmark": self.benchmark.fingerprint() if self.benchmark is not None else None,
            "metric": self.metric,
            "epochs": self.epochs,
        }

    def _lookup(self, arch: str) -> tuple[float, float]:
        """(score, simulated seconds) of ``arch``; memoised until benchmark, metric or epochs change."""
        memo = self.__dict__.get("_memo")
        if memo is None or memo[0] is not self.benchmark or memo[1] != (self.metric, self.epochs):
            memo = self._memo = (self.benchmark, (self.metric, self.epochs), {})
        values = memo[2].get(arch)
        if values is None:
            if self.benchmark is None:
                raise ValueError("OracleEstimator needs a benchmark")
            value = self.benchmark.query(arch, self.metric)
            simulated = self.benchmark.train_seconds(arch, self.epochs)
            values = memo[2][arch] = (value, simulated or 0.0)
        return values

    def _evaluate(self, arch: str) -> EvalRecord:
        value, simulated = self._lookup(arch)
        return EvalRecord(
            arch=arch,
            score=value,
            status="ok",
            cost=Cost(seconds=0.0, simulated_seconds=simulated, epochs=self.epochs),
        )

    def measure(self, arch: Any) -> EvalRecord:
        """:meth:`Estimator.measure` without setting torch's threads (a lookup runs no torch):
        the wall seconds of the lookup, and a non-finite value recorded as a failure."""
        arch_str = arch if type(arch) is str else str(arch)
        start = time.perf_counter()
        record = self._evaluate(arch_str)
        record.cost.seconds = time.perf_counter() - start
        if record.score is None or not math.isfinite(record.score):
            return EvalRecord.failure(arch_str, f"non-finite score {record.score}", record.cost.seconds)
        return record

    def describe(self) -> str:
        return f"oracle({self.metric})"
