"""The BPE paper's released records as ground truth: 100 random DARTS cells, their fully trained
CIFAR-10 accuracy, and their accuracy under each of 37 recorded proxy settings.

``--truth bpe_paper:DIR`` (or a folder holding ``settings.csv``, ``accuracies.csv`` and
``ground_truth.csv`` with a ``genotype`` column) serves:

* ``accuracy`` (the default metric): the cell's accuracy after full DARTS-protocol training;
* one metric per recorded setting (``test5`` is BPE-1, ``test32`` BPE-2): the accuracy the
  authors recorded for the cell under that setting, so a recorded setting can itself be
  scored (``--estimator oracle --metric test5``) or compared with our live training of it.

Cells are keyed by canonical genotype (:mod:`bpe.spaces.darts.genotype`), never by row order.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from bpe.config import BPEConfig
from bpe.errors import ArchStringError, DataError, TruthError
from bpe.spaces import get_space
from bpe.truth.base import Benchmark, arch_row
from bpe.truth.records_folder import (
    ACCURACIES_FILE,
    SETTINGS_FILE,
    TRUTH_FILE,
    TabularRecords,
    read_records_folder,
    setting_config,
)

__all__ = ["BPEPaperBenchmark", "TRUTH_METRIC", "is_records_folder", "recorded_config"]

#: The metric of the fully trained accuracy.
TRUTH_METRIC = "accuracy"


def is_records_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding the three record files."""
    path = Path(path)
    return path.is_dir() and all((path / f).is_file() for f in (SETTINGS_FILE, ACCURACIES_FILE, TRUTH_FILE))


def recorded_config(records: TabularRecords, setting: str) -> BPEConfig:
    """A recorded setting of ``records`` as a :class:`BPEConfig` (:func:`~bpe.truth.records_folder.setting_config`)."""
    row = records.settings.loc[setting]
    knobs = {k: row[k] for k in records.knob_columns}
    return setting_config(knobs, source=f"recorded setting {setting}")


class BPEPaperBenchmark(Benchmark):
    """The BPE paper's 100 DARTS cells (see the module doc).

    Args:
        folder: the record folder.
        space: the search space of the cells (``darts``).
    """

    default_metric = TRUTH_METRIC
    #: The space of the recorded cells.
    space = "darts"
    #: The paper's training recipe beyond the recorded knobs (its ``AugmentConfig``): auxiliary
    #: head weight 0.4, drop-path 0.2, weight decay 3e-4 (and gradient clipping at 5, which our
    #: one training loop does not do).
    RECIPE = {"auxiliary_weight": 0.4, "drop_path": 0.2, "weight_decay": 3e-4}

    def __init__(self, folder: str | Path, *, space: str = "darts") -> None:
        self.folder = Path(folder)
        if space != self.space:
            raise TruthError(f"the BPE paper's records are {self.space} cells: pass --space {self.space} "
                             f"(got --space {space})")
        try:
            self.records = read_records_folder(self.folder)
        except DataError as err:  # names the file and the fix
            raise TruthError(str(err)) from None
        if self.records.genotypes is None:
            raise TruthError(f"{self.folder / TRUTH_FILE} has no 'genotype' column; it is needed to know each "
                             f"arch_id's cell")
        mod = get_space(self.space)
        keys = []
        for arch_id, text in zip(self.records.arch_ids, self.records.genotypes):
            try:
                keys.append(str(mod.parse(text)))
            except ArchStringError as err:
                raise TruthError(f"{self.folder / TRUTH_FILE}, arch_id {arch_id}: {err}") from None
        if len(set(keys)) != len(keys):
            raise TruthError(f"{self.folder / TRUTH_FILE} lists one cell twice; each arch_id needs its own cell")
        self._row = {k: i for i, k in enumerate(keys)}
        self._columns = {TRUTH_METRIC: self.records.truth}
        for name in self.records.accuracies.columns:
            self._columns[str(name)] = self.records.accuracies[name].to_numpy(dtype=float)
        digest = hashlib.sha256()
        for name in (SETTINGS_FILE, ACCURACIES_FILE, TRUTH_FILE):
            digest.update((self.folder / name).read_bytes())
        self._digest = digest.hexdigest()[:16]

    @property
    def metrics(self) -> list[str]:
        return list(self._columns)

    def archs(self) -> list[str]:
        """The cells' canonical genotype strings, in ``arch_id`` order."""
        return list(self._row)

    def arch_id(self, arch: Any) -> Any:
        """The records' ``arch_id`` of ``arch``."""
        return self.records.arch_ids[self._index(arch)]

    def settings(self) -> list[str]:
        """The recorded settings' names (each also a metric)."""
        return [str(s) for s in self.records.settings.index]

    def setting_config(self, setting: str) -> BPEConfig:
        """A recorded setting as a :class:`BPEConfig` (:func:`recorded_config`) under the paper's
        training recipe (:data:`RECIPE`)."""
        if setting not in self.settings():
            raise TruthError(f"no recorded setting '{setting}' in {self.folder / SETTINGS_FILE}; "
                             f"choose one of {', '.join(self.settings())}")
        return recorded_config(self.records, setting).replace(**self.RECIPE)

    def setting_info(self, setting: str) -> dict[str, Any]:
        """A recorded setting's row (knobs, reported Spearman, GPU-hours per net, GPU)."""
        row = self.records.settings.loc[setting]
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}

    def _index(self, arch: Any) -> int:
        return arch_row(self._row, self.space, arch, what="cell",
                        where=f"among the {len(self._row)} cells of {self.folder}")

    def query(self, arch: Any, metric: str | None = None) -> float:
        metric = self.check_metric(metric)
        value = float(self._columns[metric][self._index(arch)])
        return value if math.isfinite(value) else math.nan

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "bpe-paper", "folder": self.folder.name, "sha256": self._digest}
