"""Run an estimator over many architectures: disk cache, joblib parallelism (local processes,
or Dask / Ray backends for clusters) and a progress bar with ETA."""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from bpe.cache import EvalCache
from bpe.errors import BPEError
from bpe.estimators.base import Estimator, EvalRecord

__all__ = ["BACKENDS", "Runner"]

log = logging.getLogger(__name__)

BACKENDS = ("loky", "dask", "ray")


def _evaluate_task(
    estimator: Estimator, arch: str, index: int, cache: EvalCache | None, fingerprint: dict, num_threads: int | None
) -> tuple[int, dict]:
    """Worker body: evaluate one arch and store it before returning (so a kill loses nothing done).

    ``num_threads=None`` on a Dask worker means the worker's own thread count.
    """
    if num_threads is None:
        num_threads = _dask_worker_threads()
    try:
        record = estimator.measure(arch, num_threads=num_threads)
    except BPEError:
        raise  # bad input: stop the whole run with the user-facing message
    except Exception as err:  # a bug or a transient fault (out of memory): record, do not cache
        record = EvalRecord.failure(arch, f"{type(err).__name__}: {err}", transient=True,
                                    traceback=traceback.format_exc(limit=5))
    if cache is not None and not record.info.get("transient"):
        cache.put(fingerprint, record)
    return index, record.to_dict()


def _dask_worker_threads() -> int | None:
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def local_threads(jobs: int) -> int:
    """Torch threads per local worker: the cores shared evenly, at least 1."""
    return max(1, (os.cpu_count() or 1) // jobs)


@dataclass
class Runner:
    """How to run many evaluations.

    Attributes:
        jobs: parallel workers (1 = in this process).
        backend: ``loky`` (local processes), ``dask`` or ``ray``.
        scheduler: Dask scheduler address (``tcp://host:port``) or Ray address; ``None``
            starts a local cluster of ``jobs`` workers for those backends.
        cache: on-disk cache, or ``None`` to always recompute.
        progress: show a progress bar (stderr) with ETA.
    """

    jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    cache: EvalCache | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise BPEError(f"unknown backend '{self.backend}'; choose one of {', '.join(BACKENDS)}")
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise BPEError(f"jobs must be a positive integer, got {self.jobs!r}")

    def run(self, estimator: Estimator, archs: Sequence[Any], *, desc: str = "evaluating") -> list[EvalRecord]:
        """Scored records for ``archs`` in order: cached ones read from disk, the rest computed."""
        return [estimator.finalize(r) for r in self.measure(estimator, archs, desc=desc)]

    def measure(self, estimator: Estimator, archs: Sequence[Any], *, desc: str = "evaluating") -> list[EvalRecord]:
        """Measured (cacheable) records for ``archs`` in order, before :meth:`Estimator.finalize`."""
        from tqdm.auto import tqdm

        keys = [str(a) for a in archs]
        cache = None if estimator.cheap else self.cache
        fingerprint = estimator.fingerprint() if cache is not None else {}
        results: dict[str, EvalRecord] = {}
        if cache is not None:
            for key in dict.fromkeys(keys):
                record = cache.get(fingerprint, key)
                if record is not None and estimator.reusable(record):
                    results[key] = record
        todo = [k for k in dict.fromkeys(keys) if k not in results]
        if results:
            log.info("%s: %d of %d archs read from the cache", desc, len(results), len(set(keys)))
        bar = tqdm(total=len(set(keys)), initial=len(results), desc=desc, unit="arch",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            for index, record in self._execute(estimator, todo, cache, fingerprint):
                results[todo[index]] = EvalRecord.from_dict(record)
                bar.update(1)
        finally:
            bar.close()
        return [results[k] for k in keys]

    # -- execution ------------------------------------------------------------------
    def _execute(
        self, estimator: Estimator, todo: list[str], cache: EvalCache | None, fingerprint: dict
    ) -> Iterator[tuple[int, dict]]:
        if not todo:
            return
        threads = local_threads(self.jobs) if self.backend == "loky" else None
        if self.jobs == 1 and self.backend == "loky":
            for i, arch in enumerate(todo):
                yield _evaluate_task(estimator, arch, i, cache, fingerprint, threads)
            return
        from joblib import Parallel, delayed, parallel_config

        with self._backend_context() as backend_kw, parallel_config(**backend_kw):
            parallel = Parallel(n_jobs=self.jobs, return_as="generator_unordered")
            yield from parallel(
                delayed(_evaluate_task)(estimator, arch, i, cache, fingerprint, threads)
                for i, arch in enumerate(todo)
            )

    @contextlib.contextmanager
    def _backend_context(self) -> Iterator[dict]:
        if self.backend == "loky":
            yield {"backend": "loky"}
            return
        if self.backend == "dask":
            try:
                from dask.distributed import Client, LocalCluster
            except ImportError:
                raise BPEError("backend dask needs dask.distributed: pip install 'bpe[dask]'") from None
            if self.scheduler:
                try:
                    client = Client(self.scheduler, timeout="20s")
                except OSError as err:
                    raise BPEError(f"cannot reach the Dask scheduler at {self.scheduler} ({err}); check --scheduler") from None
                cluster = None
            else:
                cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
                client = Client(cluster)
            try:
                yield {"backend": "dask"}
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
            return
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise BPEError("backend ray needs ray: pip install 'bpe[ray]'") from None
        register_ray()
        started = False
        if not ray.is_initialized():
            ray.init(address=self.scheduler, num_cpus=None if self.scheduler else self.jobs, log_to_driver=False)
            started = True
        try:
            yield {"backend": "ray"}
        finally:
            if started:
                ray.shutdown()
