"""``OracleEstimator``: look the score up in a ground-truth benchmark, charging the
benchmark's recorded training time as simulated cost (for tabular searches in seconds)."""

from __future__ import annotations

from typing import Any

from bpe.estimators import register_estimator
from bpe.estimators.base import Cost, Estimator, EvalRecord

__all__ = ["OracleEstimator"]


@register_estimator("oracle")
class OracleEstimator(Estimator):
    """Score = ``benchmark.query(arch, metric)``; cost = ``epochs`` x recorded seconds per epoch.

    Args:
        benchmark: a :class:`bpe.benchmarks.Benchmark`.
        metric: the benchmark column or metric name used as score.
        epochs: epochs charged per evaluation (12 for NB201's hp=12 protocol).
    """

    cheap = True

    def __init__(self, benchmark: Any = None, metric: str = "v11_cifar10valid_valid", *, epochs: int = 12) -> None:
        self.benchmark = benchmark
        self.metric = metric
        self.epochs = epochs

    def fingerprint(self) -> dict[str, Any]:
        return {
            "estimator": self.name,
            "benchmark": self.benchmark.fingerprint() if self.benchmark is not None else None,
            "metric": self.metric,
            "epochs": self.epochs,
        }

    def _evaluate(self, arch: str) -> EvalRecord:
        if self.benchmark is None:
            raise ValueError("OracleEstimator needs a benchmark")
        value = self.benchmark.query(arch, self.metric)
        simulated = self.benchmark.train_seconds(arch, self.epochs)
        return EvalRecord(
            arch=arch,
            score=value,
            status="ok",
            cost=Cost(seconds=0.0, simulated_seconds=simulated or 0.0, epochs=self.epochs),
        )

    def describe(self) -> str:
        return f"oracle({self.metric})"
