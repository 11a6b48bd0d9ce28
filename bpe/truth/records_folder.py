"""A folder of recorded proxy settings: ``settings.csv`` (one row per setting: its knob values and
cost), ``accuracies.csv`` (each arch's accuracy under each setting) and ``ground_truth.csv``
(each arch's fully trained accuracy, and its genotype).  The BPE paper's released records
(37 settings x 100 DARTS cells) are such a folder; MIP looks settings up in it
(:class:`~bpe.mip.evaluators.TabularEvaluator`) and :class:`~bpe.truth.bpe_paper.BPEPaperBenchmark`
serves it as ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bpe.config import BPEConfig
from bpe.errors import DataError

__all__ = ["TabularRecords", "read_records_folder", "setting_config", "SETTINGS_FILE", "ACCURACIES_FILE", "TRUTH_FILE",
           "KNOWN_KNOBS"]

#: The BPE paper's knob columns.
KNOWN_KNOBS = ("epochs", "batch_size", "learning_rate", "layers", "float_bits", "channels", "cutout_length",
               "image_size", "data_fraction")


@dataclass
class TabularRecords:
    """Recorded settings: knob values and cost per setting, per-arch accuracies, the truth."""

    settings: Any  # pandas DataFrame, index = setting name
    accuracies: Any  # DataFrame, rows = archs (truth order), columns = setting names
    truth: np.ndarray
    knob_columns: list[str]
    cost_column: str
    path: str
    arch_ids: list[Any] | None = None
    genotypes: list[str] | None = None  # ground_truth.csv's ``genotype`` column, when it has one


SETTINGS_FILE, ACCURACIES_FILE, TRUTH_FILE = "settings.csv", "accuracies.csv", "ground_truth.csv"


def read_records_folder(folder: str | Path, *, knob_columns: Sequence[str] | None = None,
                        cost_column: str = "gpu_hours_per_net", known_knobs: Sequence[str] = KNOWN_KNOBS) -> TabularRecords:
    """Read and check a tabular record folder (``settings.csv``, ``accuracies.csv``,
    ``ground_truth.csv``); every problem is a :class:`~bpe.errors.DataError` naming the fix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"tabular folder {folder} does not exist; pass --tabular DIR with {SETTINGS_FILE}, "
                        f"{ACCURACIES_FILE} and {TRUTH_FILE}")
    frames = {}
    for name in (SETTINGS_FILE, ACCURACIES_FILE, TRUTH_FILE):
        path = folder / name
        if not path.is_file():
            raise DataError(f"{folder} lacks {name}; a tabular folder needs {SETTINGS_FILE}, {ACCURACIES_FILE} "
                            f"and {TRUTH_FILE}")
        try:
            frames[name] = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise DataError(f"cannot read {path} as CSV ({err}); fix or replace the file") from None
    settings, acc, gt = frames[SETTINGS_FILE], frames[ACCURACIES_FILE], frames[TRUTH_FILE]
    acc.columns = [str(c) for c in acc.columns]
    if "setting" in settings.columns:
        settings["setting"] = settings["setting"].astype(str)  # numeric names are names, not numbers
    for frame, name, cols in ((settings, SETTINGS_FILE, ["setting", cost_column]),
                              (acc, ACCURACIES_FILE, ["arch_id"]), (gt, TRUTH_FILE, ["arch_id", "accuracy"])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"{folder / name} lacks the column(s) {', '.join(missing)}")
    if knob_columns is None:
        knob_columns = [c for c in known_knobs if c in settings.columns]
    missing = [c for c in knob_columns if c not in settings.columns]
    if missing or not knob_columns:
        raise DataError(f"{folder / SETTINGS_FILE} lacks the knob column(s) {', '.join(missing) or '(none found)'}")
    if settings["setting"].duplicated().any():
        raise DataError(f"{folder / SETTINGS_FILE} names a setting twice: "
                        f"{settings['setting'][settings['setting'].duplicated()].iloc[0]}")
    bad = [c for c in [*knob_columns, cost_column] if not pd.api.types.is_numeric_dtype(settings[c])
           or settings[c].isna().any()]
    if bad:
        raise DataError(f"{folder / SETTINGS_FILE}: column {bad[0]} must hold a number in every row")
    for frame, name, cols in ((acc, ACCURACIES_FILE, [c for c in acc.columns if c != "arch_id"]),
                              (gt, TRUTH_FILE, ["accuracy"])):
        for col in cols:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                value = next(v for v in frame[col] if pd.isna(pd.to_numeric(v, errors="coerce")) and not pd.isna(v))
                raise DataError(f"{folder / name}: column {col} holds the non-number {value!r}; "
                                f"accuracies must be numbers (leave a cell empty for a missing one)")
    names = [str(s) for s in settings["setting"]]
    absent = [n for n in names if n not in acc.columns]
    if absent:
        raise DataError(f"{folder / ACCURACIES_FILE} has no column for setting(s) {', '.join(absent[:5])} "
                        f"listed in {SETTINGS_FILE}")
    acc_ids, gt_ids = set(acc["arch_id"]), set(gt["arch_id"])
    if acc_ids != gt_ids or acc["arch_id"].duplicated().any() or gt["arch_id"].duplicated().any():
        only_acc, only_gt = sorted(acc_ids - gt_ids)[:3], sorted(gt_ids - acc_ids)[:3]
        raise DataError(f"{ACCURACIES_FILE} and {TRUTH_FILE} in {folder} list different architectures "
                        f"(only in {ACCURACIES_FILE}: {only_acc}; only in {TRUTH_FILE}: {only_gt}; or a repeated "
                        f"arch_id); both need one row per arch_id")
    acc = acc.set_index("arch_id").loc[list(gt["arch_id"])]
    return TabularRecords(settings=settings.set_index("setting"), accuracies=acc[names],
                          truth=gt["accuracy"].to_numpy(dtype=float), knob_columns=list(knob_columns),
                          cost_column=cost_column, path=str(folder), arch_ids=list(gt["arch_id"]),
                          genotypes=gt["genotype"].astype(str).tolist() if "genotype" in gt.columns else None)




def setting_config(setting: Mapping[str, Any], *, source: str = "recorded setting") -> BPEConfig:
    """A recorded setting (knob -> value, the BPE paper's column names) as a :class:`BPEConfig`:
    ``float_bits`` -> precision (16 -> fp16), ``cutout_length`` -> cutout, the other knobs as
    they are; what the records do not hold takes the config default."""
    fields: dict[str, Any] = {}
    for key in ("epochs", "batch_size", "channels", "image_size", "layers"):
        if key in setting:
            fields[key] = int(setting[key])
    for key in ("learning_rate", "data_fraction"):
        if key in setting:
            fields[key] = float(setting[key])
    if "float_bits" in setting:
        fields["precision"] = "fp16" if int(setting["float_bits"]) == 16 else "fp32"
    if "cutout_length" in setting:
        fields["cutout"] = int(setting["cutout_length"])
    return BPEConfig.from_dict(fields, source=source)
