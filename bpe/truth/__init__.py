"""Ground-truth sources behind one interface (:class:`Benchmark`):

* :class:`TableBenchmark` — a CSV table such as ``nb201_groundtruth.csv``;
* :class:`NB201APIBenchmark` — the official NAS-Bench-201 file (``nas_201_api``, lazy);
* :class:`ReferenceBenchmark` — archs trained by this project under a larger budget, cached;
* :class:`BPEPaperBenchmark` — the BPE paper's 100 DARTS cells and their 37 recorded settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bpe.errors import TruthError
from bpe.truth.base import Benchmark
from bpe.truth.bpe_paper import BPEPaperBenchmark, is_records_folder
from bpe.truth.nb201_api import NB201APIBenchmark
from bpe.truth.reference import ReferenceBenchmark
from bpe.truth.table import TableBenchmark

__all__ = ["Benchmark", "BPEPaperBenchmark", "load_truth"]


def load_truth(spec: str, *, dataset: Any = None, space: str = "nb201", device: str = "auto",
               reference_config: Any = None) -> Benchmark:
    """Build a ground-truth source from a CLI-style spec.

    ``PATH.csv`` (a table), ``nb201:PATH.pth`` (the official file), ``bpe_paper:DIR`` or a
    record folder (the BPE paper's DARTS cells, ``--space darts``) or ``reference`` (trained
    here on ``dataset`` under ``reference_config``, default per dataset).
    """
    if spec == "reference":
        if dataset is None:
            raise TruthError("--truth reference needs a --dataset to train the reference archs on")
        return ReferenceBenchmark(dataset, reference_config, space=space, device=device)
    if spec.startswith("nb201:"):
        return NB201APIBenchmark(spec.split(":", 1)[1])
    if spec.startswith("bpe_paper:"):
        return BPEPaperBenchmark(spec.split(":", 1)[1], space=space)
    path = Path(spec)
    if path.is_dir():
        if not is_records_folder(path):
            raise TruthError(f"truth folder {path} is not a record folder: it needs settings.csv, accuracies.csv "
                             f"and ground_truth.csv (the BPE paper's layout)")
        return BPEPaperBenchmark(path, space=space)
    if path.suffix.lower() in (".csv", ".gz") or path.is_file():
        return TableBenchmark(path, space=space)
    raise TruthError(
        f"truth '{spec}' is not a CSV file, 'nb201:PATH.pth', 'bpe_paper:DIR' (or a record folder) or 'reference'; "
        "pass one of those to --truth"
    )
