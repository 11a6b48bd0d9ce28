"""Kernel choices made by measuring, on the machine at hand.

Where several ways to compute the same result exist (an int8 or a float product, ...), which is
fastest depends on the CPU (an int8 product ran 100x slower than a float one on an AVX2-only
EPYC, and as fast on an AVX-512 Xeon with VNNI).  :func:`choose` times each variant once per
machine (:func:`bpe.machine.machine_key`), keeps the fastest in ``probes.json`` beside the
evaluation cache, and reuses it from then on; ``-v`` logs the choice and the timings.  Only
choices that cannot change a result are made here: a precision that changes results is a knob
the user or MIP sets, never a probe's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: probes run unlocked
    fcntl = None  # type: ignore[assignment]

from bpe.cache import default_cache_dir
from bpe.machine import machine_info, machine_key
from bpe.outputs import atomic_write_text

__all__ = ["choose", "probe_file", "PROBE_REPEATS"]

log = logging.getLogger(__name__)

#: Timed calls of each variant (after one untimed warm-up); the fastest call counts.
PROBE_REPEATS = 3

_lock = threading.Lock()
_chosen: dict[str, str] = {}  # this process's choices (the file is read once per probe)


def probe_file() -> Path:
    """``probes.json`` in the cache folder (``$BPE_CACHE_DIR``'s parent when set, so tests and
    users who move the cache move it too)."""
    return default_cache_dir().parent / "probes.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        log.warning("%s is unreadable; probing again", path)
        return {}
    return data if isinstance(data, dict) else {}


def choose(probe: str, variants: Mapping[str, Callable[[], Any]], *, repeats: int = PROBE_REPEATS,
           margin: float = 1.0) -> str:
    """The name of the fastest of ``variants`` (callables doing the same work) on this machine:
    measured on first use and kept per machine in :func:`probe_file`; ``BPE_PROBE_<PROBE>=NAME``
    (upper case, ``-`` as ``_``) forces one.  With ``margin`` > 1 the first variant (the
    incumbent) is kept unless another is faster by that factor, so a choice that changes cache
    keys does not flip on timing noise."""
    forced = os.environ.get("BPE_PROBE_" + probe.upper().replace("-", "_"))
    if forced:
        if forced not in variants:
            raise ValueError(f"BPE_PROBE_{probe.upper()}={forced}: choose one of {', '.join(variants)}")
        return forced
    key = f"{machine_key()}/{probe}"
    with _lock:
        if key in _chosen and _chosen[key] in variants:
            return _chosen[key]
        path = probe_file()
        with _file_lock(path):  # another process probing now: wait, then read its choice
            return _choose_locked(probe, key, path, variants, repeats, margin)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s ``.lock`` file beside it, across processes (POSIX; elsewhere,
    or where the folder cannot be written, no lock: at worst two processes both measure)."""
    if fcntl is None:  # not POSIX
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 - held across the yield
    except OSError:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _choose_locked(probe: str, key: str, path: Path, variants: Mapping[str, Callable[[], Any]], repeats: int,
                   margin: float = 1.0) -> str:
    """Under the file lock: the stored choice for ``key``, or measure each variant and store the fastest."""
    stored = _read(path).get(key)
    if isinstance(stored, Mapping) and stored.get("choice") in variants:
        _chosen[key] = stored["choice"]
        return _chosen[key]
    seconds: dict[str, float] = {}
    for name, run in variants.items():
        run()  # warm-up: one-off set-up, caches
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        seconds[name] = best
    choice = min(seconds, key=seconds.get)
    first = next(iter(seconds))
    if seconds[choice] * margin > seconds[first]:  # not faster than the incumbent by the margin
        choice = first
    _chosen[key] = choice
    data = _read(path)
    data[key] = {"probe": probe, "choice": choice, "seconds": seconds, "machine": machine_info(),
                 "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError as err:  # a read-only cache still gets the choice for this process
        log.warning("could not keep the %s probe's choice in %s (%s)", probe, path, err)
    log.info("probe %s: %s (%s) on %s", probe, choice,
             ", ".join(f"{n} {s * 1e3:.2f} ms" for n, s in seconds.items()), machine_info().get("cpu"))
    return choice
