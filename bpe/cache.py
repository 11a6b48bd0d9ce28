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
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from bpe.errors import BPEError
from bpe.outputs import atomic_write_text
from bpe.records import EvalRecord

__all__ = ["EvalCache", "default_cache_dir", "fingerprint_hash"]

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$BPE_CACHE_DIR``, else the platform's user cache folder + ``evals`` (on Linux
    ``$XDG_CACHE_HOME/bpe/evals``, by default ``~/.cache/bpe/evals``)."""
    if os.environ.get("BPE_CACHE_DIR"):
        return Path(os.environ["BPE_CACHE_DIR"])
    return Path(user_cache_dir("bpe", appauthor=False)) / "evals"


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable fingerprint."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:24]


class EvalCache:
    """Evaluation records on disk under ``root/<fingerprint-hash>/<arch-hash>.json``.

    Each namespace folder also holds ``fingerprint.json`` (what the estimator was), so a
    cache can be inspected by hand.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def check_usable(self, *, flag: str = "--cache-dir") -> None:
        """Check, before any work, that records can be stored under the root (created if absent)."""
        if self.root.exists() and not self.root.is_dir():
            raise BPEError(f"{flag} {self.root} is a file, not a folder; give a folder for the evaluation cache")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as err:
            raise BPEError(f"{flag} {self.root} cannot be written ({err.strerror or err}); "
                           "choose a writable folder or pass --no-cache") from None

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
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
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

    def count(self, fingerprint: dict[str, Any]) -> int:
        """Number of records stored for an estimator."""
        folder = self._dir(fingerprint)
        return sum(1 for p in folder.glob("*.json") if p.name != "fingerprint.json") if folder.is_dir() else 0
