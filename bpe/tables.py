"""The one reader of user tables keyed by architecture (truth tables, scores files), with one set
of rules for every command:

* the arch column is the first of the accepted names present; each arch is parsed and written in
  its canonical form (a malformed one is an error naming its line);
* a column is a value column when its cells are numbers (empty cells and pandas' missing-value
  markers -- NA, n/a, NaN, null -- are missing values); one
  cell that is not a number in such a column is an error naming its line and column, never a
  silently dropped column; a column of text only (a description, an op list) is left out;
* an arch listed twice with the same values counts once (a warning names its lines); with
  different values it is an error naming both lines and the column where they differ.

Lines are the file's own (the header is line 1).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bpe.errors import ArchStringError, BPEError
from bpe.spaces import get_space

__all__ = ["read_arch_table"]

log = logging.getLogger(__name__)


def _numeric_columns(frame: pd.DataFrame, path: Path, what: str, skip: Sequence[str]) -> dict[str, np.ndarray]:
    out = {}
    for column in frame.columns:
        if column in skip:
            continue
        raw = frame[column]
        if pd.api.types.is_numeric_dtype(raw):  # parsed as numbers by pandas' C reader: nothing to check
            out[str(column)] = raw.to_numpy(dtype=float)
            continue
        values = pd.to_numeric(raw, errors="coerce")
        present = raw.notna() & (raw.astype(str).str.strip() != "")
        bad = present & values.isna()
        if not bad.any():
            out[str(column)] = values.to_numpy(dtype=float)
        elif bad.sum() < present.sum():  # a number column with a cell that is not a number
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise BPEError(f"{what} {path}, line {row + 2}, column {column}: {raw.iloc[row]!r} is not a number; fix the cell "
                           "(leave it empty for a missing value)")
    return out


def read_arch_table(path: str | Path, *, what: str, arch_columns: Sequence[str], space: str = "nb201",
                    fix: str = "") -> tuple[list[str], dict[str, np.ndarray]]:
    """(canonical archs, value column -> values) of the CSV table at ``path`` under the module's
    rules; ``what`` names the table in errors ("truth table", "scores file"), ``fix`` is added to
    a missing-file error."""
    path = Path(path)
    if not path.is_file():
        raise BPEError(f"{what} {path} does not exist" + (f"; {fix}" if fix else ""))
    try:
        frame = pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's problem
        raise BPEError(f"cannot read {what} {path} ({err}); is it a CSV file?") from None
    column = next((c for c in arch_columns if c in frame.columns), None)
    if column is None:
        raise BPEError(f"{what} {path} has no arch column (looked for {', '.join(arch_columns)}); "
                       f"columns are {', '.join(map(str, frame.columns))}")
    parse = get_space(space).parse
    archs = []
    for i, text in enumerate(frame[column]):
        try:
            archs.append(str(parse(str(text).strip())))
        except ArchStringError as err:
            raise BPEError(f"{what} {path}, line {i + 2}: {err}") from None
    columns = _numeric_columns(frame, path, what, skip=[column])
    first: dict[str, int] = {}
    keep = []
    repeats = []
    for i, arch in enumerate(archs):
        j = first.setdefault(arch, i)
        if j == i:
            keep.append(i)
            continue
        for name, values in columns.items():
            a, b = values[j], values[i]
            if not (a == b or (math.isnan(a) and math.isnan(b))):
                raise BPEError(f"{what} {path}: lines {j + 2} and {i + 2} give the same arch different values in column "
                               f"{name} ({a:g} and {b:g}); keep one of them")
        repeats.append((j + 2, i + 2))
    if repeats:
        shown = ", ".join(f"lines {a} and {b}" for a, b in repeats[:5]) + (" ..." if len(repeats) > 5 else "")
        log.warning("%s lists %d arch(s) more than once with the same values (%s): each is counted once",
                    path, len(repeats), shown)
    return [archs[i] for i in keep], {name: values[keep] for name, values in columns.items()}
