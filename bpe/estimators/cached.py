"""``CachedEstimator``: wraps an estimator with the on-disk evaluation cache, so search loops
that evaluate one arch at a time reuse (and feed) the same cache as ``bpe evaluate``/``score``."""

from __future__ import annotations

from typing import Any

from bpe.cache import EvalCache
from bpe.estimators.base import Estimator, EvalRecord

__all__ = ["CachedEstimator"]


class CachedEstimator(Estimator):
    """Same scores as ``inner``; a cached evaluation is returned with its recorded cost
    (so budgets charge what the evaluation originally cost, as if it were recomputed)."""

    def __init__(self, inner: Estimator, cache: EvalCache | None) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.cheap = inner.cheap
        self._fingerprint = inner.fingerprint()

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint

    def _evaluate(self, arch: str) -> EvalRecord:
        raise NotImplementedError  # evaluate() is overridden

    def measure(self, arch: Any, *, num_threads: int | None = None) -> EvalRecord:
        key = str(arch)
        if self.cache is not None:
            record = self.cache.get(self._fingerprint, key)
            if record is not None and self.inner.reusable(record):
                return record
        record = self.inner.measure(arch, num_threads=num_threads)
        if self.cache is not None and not record.info.get("transient"):
            self.cache.put(self._fingerprint, record)
        return record

    def finalize(self, record: EvalRecord) -> EvalRecord:
        return self.inner.finalize(record)

    def describe(self) -> str:
        return self.inner.describe()
