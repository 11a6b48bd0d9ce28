"""On-disk evaluation cache: one JSON file per (estimator fingerprint, architecture).

Files are written atomically (temporary file + ``os.replace``), so a process killed at any
moment leaves either a complete record or none, and a rerun recomputes only what is missing.
Several processes (joblib workers, Dask workers on a shared file system) may write at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from bpe.estimators.base import EvalRecord

__all__ = ["EvalCache", "default_cache_dir", "atomic_write_text", "fingerprint_hash", "check_writable"]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$BPE_CACHE_DIR`` or ``~/.cache/bpe/evals``."""
    return Path(os.environ.get("BPE_CACHE_DIR", Path.home() / ".cache" / "bpe" / "evals"))


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable fingerprint."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:24]


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_writable(path: str | Path, *, flag: str = "--out") -> Path:
    """Check, before any work, that a file can be written at ``path`` (its folder is created).

    Raises :class:`~bpe.errors.BPEError` naming the problem.
    """
    from bpe.errors import BPEError

    path = Path(path)
    if path.is_dir():
        raise BPEError(f"{flag} {path} is a directory; give a file name such as {path / 'results.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise BPEError(f"{flag} {path} cannot be written ({err.strerror or err}); choose a writable place") from None
    return path


class EvalCache:
    """Evaluation records on disk under ``root/<fingerprint-hash>/<arch-hash>.json``.

    Each namespace folder also holds ``fingerprint.json`` (what the estimator was), so a
    cache can be inspected by hand.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, fingerprint: dict[str, Any]) -> Path:
        return self.root / fingerprint_hash(fingerprint)

    def _path(self, fingerprint: dict[str, Any], arch: str) -> Path:
        return self._dir(fingerprint) / (hashlib.sha256(arch.encode()).hexdigest()[:32] + ".json")

    def get(self, fingerprint: dict[str, Any], arch: str) -> EvalRecord | None:
        """The stored record of ``arch``, or ``None`` (also for an unreadable file)."""
        path = self._path(fingerprint, arch)
        if not path.is_file():
            return None
        try:
            record = EvalRecord.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable cache file %s (%s); it will be recomputed", path, err)
            return None
        return record if record.arch == arch else None

    def put(self, fingerprint: dict[str, Any], record: EvalRecord) -> Path:
        """Store ``record`` (atomically)."""
        folder = self._dir(fingerprint)
        meta = folder / "fingerprint.json"
        if not meta.is_file():
            atomic_write_text(meta, json.dumps(fingerprint, indent=2, sort_keys=True, default=str))
        path = self._path(fingerprint, record.arch)
        atomic_write_text(path, json.dumps(record.to_dict(), default=str))
        return path

    def contains(self, fingerprint: dict[str, Any], arch: str) -> bool:
        """True when a record file exists for ``arch``."""
        return self._path(fingerprint, arch).is_file()

    def count(self, fingerprint: dict[str, Any]) -> int:
        """Number of records stored for an estimator."""
        folder = self._dir(fingerprint)
        return sum(1 for p in folder.glob("*.json") if p.name != "fingerprint.json") if folder.is_dir() else 0
