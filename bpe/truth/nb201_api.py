"""Ground truth from the official NAS-Bench-201 file through ``nas_201_api`` (lazy import).

The official ``.pth`` is several GB and slow to load: use :meth:`NB201APIBenchmark.to_table`
once to write a compact CSV and read that with :class:`~bpe.truth.table.TableBenchmark`
in search loops.  All calls into the third-party API live in this module (one adapter).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bpe.errors import TruthError
from bpe.spaces import nb201
from bpe.truth.base import Benchmark

__all__ = ["NB201APIBenchmark", "METRIC_MAP"]

#: Our metric names (the table's column names) -> (NB201 dataset, info key).
METRIC_MAP: dict[str, tuple[str, str]] = {
    "v11_cifar10_test": ("cifar10", "test-accuracy"),
    "v11_cifar10valid_train": ("cifar10-valid", "train-accuracy"),
    "v11_cifar10valid_valid": ("cifar10-valid", "valid-accuracy"),
    "v11_cifar10valid_test": ("cifar10-valid", "test-accuracy"),
    "v11_cifar100_train": ("cifar100", "train-accuracy"),
    "v11_cifar100_valid": ("cifar100", "valid-accuracy"),
    "v11_cifar100_test": ("cifar100", "test-accuracy"),
    "v11_imagenet16_train": ("ImageNet16-120", "train-accuracy"),
    "v11_imagenet16_valid": ("ImageNet16-120", "valid-accuracy"),
    "v11_imagenet16_test": ("ImageNet16-120", "test-accuracy"),
}


class NB201APIBenchmark(Benchmark):
    """NB201 metrics from the official file (200-epoch, seed-averaged).

    Args:
        path: the official ``NAS-Bench-201-v1_*.pth`` file.
        hp: training schedule to read (``"200"`` or ``"12"``), where the API version supports it.
    """

    default_metric = "v11_cifar10valid_valid"

    def __init__(self, path: str | Path, *, hp: str = "200") -> None:
        self.path = Path(path)
        self.hp = hp
        if not self.path.is_file():
            raise TruthError(
                f"NAS-Bench-201 file {self.path} does not exist; download NAS-Bench-201-v1_1-096897.pth "
                f"from the NAS-Bench-201 authors and pass --truth nb201:PATH, or use a CSV table"
            )
        try:
            from nas_201_api import NASBench201API
        except ImportError:
            raise TruthError("reading the official NB201 file needs the API: pip install 'bpe-nas[nb201]' "
                             "(or '.[nb201]' from a checkout)") from None
        self._api = NASBench201API(str(self.path), verbose=False)
        self._cache: dict[tuple[int, str], dict] = {}

    @property
    def metrics(self) -> list[str]:
        return list(METRIC_MAP)

    def _info(self, arch: Any, dataset: str) -> dict:
        index = self._api.query_index_by_arch(str(nb201.to_arch(arch)))
        if index < 0:
            raise TruthError(f"arch {arch} is not in {self.path}")
        key = (index, dataset)
        if key not in self._cache:
            try:  # newer API versions take hp=; older ones do not
                self._cache[key] = self._api.get_more_info(index, dataset, iepoch=None, hp=self.hp, is_random=False)
            except TypeError:
                self._cache[key] = self._api.get_more_info(
                    index, dataset, iepoch=None, use_12epochs_result=self.hp == "12", is_random=False)
        return self._cache[key]

    def query(self, arch: Any, metric: str | None = None) -> float:
        metric = self.check_metric(metric)
        dataset, key = METRIC_MAP[metric]
        value = self._info(arch, dataset).get(key)
        return float(value) if value is not None else math.nan

    def train_seconds(self, arch: Any, epochs: int) -> float | None:
        info = self._info(arch, "cifar10-valid")
        per_epoch = info.get("train-per-time")
        return epochs * float(per_epoch) if per_epoch is not None else None

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "nb201-api", "file": self.path.name, "size": self.path.stat().st_size, "hp": self.hp}

    def to_table(self, out: str | Path) -> Path:
        """Write every arch's metrics to a compact CSV readable by ``TableBenchmark``."""
        import pandas as pd  # heavy (~0.3 s): only the CSV export needs it

        rows = []
        for arch in nb201.enumerate_archs():
            row = {"arch_str": str(arch)}
            for metric in METRIC_MAP:
                row[metric] = self.query(arch, metric)
            row["nats_cifar10valid_train_sec_per_epoch"] = self.train_seconds(arch, 1)
            rows.append(row)
        out = Path(out)
        pd.DataFrame(rows).to_csv(out, index=False)
        return out
