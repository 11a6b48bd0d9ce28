"""Run an estimator over many architectures: disk cache, joblib parallelism (local processes,
or Dask / Ray backends for clusters) and a progress bar with ETA."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from bpe.cache import EvalCache
from bpe.errors import BPEError
from bpe.estimators.base import Estimator
from bpe.estimators.cached import cached_record, measure_cached
from bpe.records import EvalRecord

__all__ = ["BACKENDS", "Runner", "exit_with_parent", "where"]

log = logging.getLogger(__name__)

BACKENDS = ("loky", "dask", "ray")

#: Seconds between two checks of a local worker that the process which started the run is alive.
PARENT_POLL_S = 0.5
#: Exit status of a local worker that found its parent gone.
ORPHAN_EXIT_CODE = 70

_watchdog_lock = threading.Lock()
_watchdog_parent: int | None = None


def _measure_task(estimator: Estimator, cache: EvalCache | None, fingerprint: dict, arch: str) -> EvalRecord:
    """Worker body of an evaluation: the cached measurement of one arch
    (:func:`~bpe.estimators.cached.measure_cached`: stored before returning, so a kill loses
    nothing done)."""
    return measure_cached(estimator, arch, cache, fingerprint)


def _call_task(fn: Callable[[Any], Any], index: int, item: Any, parent: int | None) -> tuple[int, Any]:
    """Worker body of :meth:`Runner.map`: ``(index, fn(item))``.

    ``parent`` is the pid of the process running the :class:`Runner` when this runs in a local
    worker process of it (loky); the worker then exits as soon as that process dies.
    """
    if parent is not None:
        exit_with_parent(parent)
    return index, fn(item)


def where() -> dict[str, Any]:
    """The host and process this runs in (recorded with work a :class:`Runner` sent elsewhere)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def exit_with_parent(parent: int) -> None:
    """In a local worker process of ``parent``, start (once) a daemon thread that ends this
    process when ``parent`` dies, so a killed run (``kill -9``) leaves no worker training.

    A dead parent shows as a changed ``os.getppid()`` (the worker is re-parented).  Nothing
    is started in ``parent`` itself or in a process that is not its child; a worker that finds
    ``parent`` already gone exits at once.
    """
    global _watchdog_parent
    if os.getpid() == parent:
        return
    if os.getppid() != parent:
        try:
            os.kill(parent, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            os._exit(ORPHAN_EXIT_CODE)
        except OSError:
            pass
        return
    with _watchdog_lock:
        if _watchdog_parent == parent:
            return
        _watchdog_parent = parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(ORPHAN_EXIT_CODE)

    threading.Thread(target=watch, name="bpe-parent-watchdog", daemon=True).start()


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
        if self.scheduler and self.backend == "loky":
            raise BPEError(f"--scheduler {self.scheduler} needs --backend dask or ray (loky runs local processes)")

    def run(self, estimator: Estimator, archs: Sequence[Any], *, desc: str = "evaluating") -> list[EvalRecord]:
        """Scored records for ``archs`` in order: cached ones read from disk, the rest computed (a
        ``population`` estimator, a vote, scores them together; a ``composite`` one scores its
        members through this runner)."""
        if estimator.population or estimator.composite:
            return estimator.score_population([str(a) for a in archs], self)
        return [estimator.finalize(r) for r in self.measure(estimator, archs, desc=desc)]

    def measure(self, estimator: Estimator, archs: Sequence[Any], *, desc: str = "evaluating") -> list[EvalRecord]:
        """Measured (cacheable) records for ``archs`` in order, before :meth:`Estimator.finalize`."""
        keys = [str(a) for a in archs]
        cache = None if estimator.cheap else self.cache
        fingerprint = estimator.fingerprint() if cache is not None else {}
        results: dict[str, EvalRecord] = {}
        for key in dict.fromkeys(keys):
            record = cached_record(estimator, cache, fingerprint, key)
            if record is not None:
                results[key] = record
        todo = [k for k in dict.fromkeys(keys) if k not in results]
        if results:
            log.info("%s: %d of %d archs read from the cache", desc, len(results), len(set(keys)))
        bar = tqdm(total=len(set(keys)), initial=len(results), desc=desc, unit="arch",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            for index, record in self._execute(estimator, todo, cache, fingerprint):
                results[todo[index]] = record
                bar.update(1)
        finally:
            bar.close()
        return [results[k] for k in keys]

    # -- execution ------------------------------------------------------------------
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(i, fn(items[i]))`` for every item, in the order they finish: in this process when
        ``jobs`` is 1 and the backend is local, else on the backend's workers (local processes
        that exit with this one, or a Dask or Ray cluster's).  ``fn`` and the items travel by
        cloudpickle, so a closure will do."""
        if not items:
            return
        if self.jobs == 1 and self.backend == "loky":
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        from joblib import Parallel, delayed, parallel_config  # ~0.2 s: only a parallel run needs it

        # Local worker processes watch this one and exit with it; the workers of a Dask or Ray
        # cluster are that cluster's to manage.
        parent = os.getpid() if self.backend == "loky" else None
        with self._backend_context() as backend_kw, parallel_config(**backend_kw):
            # Results come back as they finish; Ray's joblib backend (a multiprocessing pool)
            # only returns them all at the end (its workers still store each record when done).
            returns = "list" if self.backend == "ray" else "generator_unordered"
            parallel = Parallel(n_jobs=self.jobs, return_as=returns)
            yield from parallel(delayed(_call_task)(fn, i, item, parent) for i, item in enumerate(items))

    def preflight(self) -> None:
        """Refuse an unreachable ``scheduler`` before any work (a TCP connection to its
        ``host:port``; other forms are left to the backend)."""
        if self.scheduler:
            _check_reachable(self.scheduler, what="the Dask scheduler" if self.backend == "dask" else "the Ray cluster")

    def _execute(
        self, estimator: Estimator, todo: list[str], cache: EvalCache | None, fingerprint: dict
    ) -> Iterator[tuple[int, EvalRecord]]:
        yield from self.map(functools.partial(_measure_task, estimator, cache, fingerprint), todo)

    @contextlib.contextmanager
    def _backend_context(self) -> Iterator[dict]:
        if self.backend == "loky":
            yield {"backend": "loky"}
            return
        if self.backend == "dask":
            try:
                from dask.distributed import Client, LocalCluster
            except ImportError:
                raise BPEError("backend dask needs dask.distributed: pip install 'bpe-nas[dask]' "
                               "(or '.[dask]' from a checkout)") from None
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
            raise BPEError("backend ray needs ray: pip install 'bpe-nas[ray]' (or '.[ray]' from a checkout)") from None
        register_ray()
        started = False
        if not ray.is_initialized():
            if self.scheduler:
                _check_reachable(self.scheduler)  # ray.init retries an unreachable address for minutes
                try:
                    ray.init(address=self.scheduler, log_to_driver=False)
                except (ConnectionError, RuntimeError, ValueError) as err:
                    raise BPEError(f"cannot reach the Ray cluster at {self.scheduler} ({err}); "
                                   "check --scheduler") from None
            else:  # a local cluster of `jobs` CPUs, shut down after the run
                ray.init(num_cpus=self.jobs, include_dashboard=False, log_to_driver=False)
            started = True
        try:
            yield {"backend": "ray"}
        finally:
            if started:
                ray.shutdown()


def _check_reachable(address: str, timeout: float = 10.0, what: str = "the Ray cluster") -> None:
    """Raise :class:`BPEError` when a ``host:port`` (or ``tcp://host:port``, ``ray://host:port``)
    address accepts no TCP connection; other forms (``auto``) are left to the backend."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise BPEError(f"cannot reach {what} at {address} ({err.strerror or err}); "
                       "check --scheduler") from None
