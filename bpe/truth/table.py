"""Ground truth from a plain table (CSV): one row per architecture, one column per metric.

``../shared/data/nb201/nb201_groundtruth.csv`` is such a table (column ``arch_str``, metrics
like ``v11_cifar10valid_valid``, and ``nats_cifar10valid_train_sec_per_epoch`` for simulated
training time).  Rows are mapped by canonical arch string, never by index order.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from bpe.archlists import ARCH_COLUMNS as ARCH_LIST_COLUMNS
from bpe.errors import BPEError, TruthError
from bpe.truth.base import Benchmark, arch_row

__all__ = ["TableBenchmark"]

#: Columns a table may hold its arch strings in (the arch-list columns but the index).
ARCH_COLUMNS = tuple(c for c in ARCH_LIST_COLUMNS if c != "index")
SECONDS_PER_EPOCH_COLUMN = "nats_cifar10valid_train_sec_per_epoch"


class TableBenchmark(Benchmark):
    """A CSV table of metrics keyed by arch string.

    Args:
        path: the CSV file.
        space: search-space name (archs are canonicalised through it).
        arch_column: column with the arch strings (auto-detected from ``arch_str``, ``arch``...).
        default_metric: metric used when ``query`` is given none.
        seconds_per_epoch_column: column of recorded training seconds per epoch, if any.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        space: str = "nb201",
        arch_column: str | None = None,
        default_metric: str = "v11_cifar10valid_valid",
        seconds_per_epoch_column: str = SECONDS_PER_EPOCH_COLUMN,
    ) -> None:
        from bpe.tables import read_arch_table  # pandas (~0.3 s): only a table truth needs it

        self.path = Path(path)
        self.space = space
        try:
            keys, columns = read_arch_table(self.path, what="truth table", space=space,
                                            arch_columns=[arch_column] if arch_column else ARCH_COLUMNS,
                                            fix="pass --truth with the path of a CSV table")
        except TruthError:
            raise
        except BPEError as err:
            raise TruthError(str(err)) from None
        self._row = {k: i for i, k in enumerate(keys)}
        self._columns = {c: v for c, v in columns.items() if c != "index"}
        self.default_metric = default_metric if default_metric in self._columns else next(iter(self._columns), "")
        self.seconds_per_epoch_column = seconds_per_epoch_column if seconds_per_epoch_column in self._columns else None
        self._digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    @property
    def metrics(self) -> list[str]:
        return list(self._columns)

    def archs(self) -> list[str]:
        """Every arch string in the table."""
        return list(self._row)

    def check_metric(self, metric: str | None) -> str:
        if metric in self._columns:  # a known column (every query of a search): no list to build
            return metric
        return super().check_metric(metric)

    def _index(self, arch: Any) -> int:
        return arch_row(self._row, self.space, arch, what="arch", where=f"in truth table {self.path}")

    def query(self, arch: Any, metric: str | None = None) -> float:
        metric = self.check_metric(metric)
        return float(self._columns[metric][self._index(arch)])

    def train_seconds(self, arch: Any, epochs: int) -> float | None:
        if self.seconds_per_epoch_column is None:
            return None
        value = float(self._columns[self.seconds_per_epoch_column][self._index(arch)])
        return epochs * value if math.isfinite(value) else None

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "table", "file": self.path.name, "sha256": self._digest}
