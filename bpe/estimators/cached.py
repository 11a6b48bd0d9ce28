"""Cached evaluation of one architecture with one failure rule, used by every evaluation path:
the :class:`~bpe.parallel.Runner`'s workers (``bpe evaluate``/``score``/``mip``) and
:class:`CachedEstimator` (search loops that evaluate one arch at a time), so both reuse and
feed the same cache and treat a failing evaluation the same way."""

from __future__ import annotations

import traceback
from typing import Any

from bpe.cache import EvalCache
from bpe.errors import BPEError
from bpe.estimators.base import Estimator
from bpe.records import EvalRecord

__all__ = ["CachedEstimator", "cached_record", "measure_cached"]


def cached_record(estimator: Estimator, cache: EvalCache | None, fingerprint: dict[str, Any],
                  arch: str) -> EvalRecord | None:
    """The cached measurement of ``arch``, or ``None`` when there is none or ``estimator`` cannot
    reuse it (:meth:`~bpe.estimators.base.Estimator.reusable`: an older record format)."""
    if cache is None:
        return None
    record = cache.get(fingerprint, arch)
    return record if record is not None and estimator.reusable(record) else None


def measure_cached(estimator: Estimator, arch: Any, cache: EvalCache | None,
                   fingerprint: dict[str, Any]) -> EvalRecord:
    """The measurement of ``arch``: read from ``cache`` when reusable, else measured and stored.

    Failure rule: a :class:`~bpe.errors.BPEError` propagates (bad user input: the whole run stops
    with its message); any other exception (a bug, or a transient fault such as running out of
    memory) becomes a failed record marked ``transient`` with the traceback, which is not
    cached, so a rerun tries again.  A failed record the estimator returns itself (a diverged
    run) is cached like a score.  The record is stored before it is returned, so a process
    killed afterwards loses nothing done.
    """
    key = str(arch)
    record = cached_record(estimator, cache, fingerprint, key)
    if record is not None:
        return record
    try:
        record = estimator.measure(arch)
    except BPEError:
        raise
    except Exception as err:
        record = EvalRecord.failure(key, f"{type(err).__name__}: {err}", transient=True,
                                    traceback=traceback.format_exc(limit=5))
    if cache is not None and not record.info.get("transient"):
        cache.put(fingerprint, record)
    return record


class CachedEstimator(Estimator):
    """Same scores as ``inner``; a cached evaluation is returned with its recorded cost
    (so budgets charge what the evaluation originally cost, as if it were recomputed).

    It measures through :func:`measure_cached`: an exception of ``inner`` other than a
    :class:`~bpe.errors.BPEError` gives a failed, uncached record instead of ending the search.
    """

    def __init__(self, inner: Estimator, cache: EvalCache | None) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.cheap = inner.cheap
        self._fingerprint = inner.fingerprint()

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint

    def _evaluate(self, arch: str) -> EvalRecord:
        return measure_cached(self.inner, arch, self.cache, self._fingerprint)

    def finalize(self, record: EvalRecord) -> EvalRecord:
        return self.inner.finalize(record)

    def reusable(self, record: EvalRecord) -> bool:
        return self.inner.reusable(record)

    def describe(self) -> str:
        return self.inner.describe()
