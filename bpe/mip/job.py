"""The MIP jobs behind ``bpe mip``: check every input and the output before any work, run
MIP (live or tabular), write ``bpe.json`` and its plots."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bpe.cache import check_writable
from bpe.errors import BPEError
from bpe.mip.evaluators import LiveEvaluator, TabularEvaluator, read_tabular_records
from bpe.mip.export import mip_document, write_mip
from bpe.mip.knobs import KnobSpace
from bpe.mip.search import MIPSettings, run_mip

__all__ = ["parse_duration", "sample_truth_archs", "mip_live", "mip_tabular"]

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>h|m|min|s)?\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """``3h``, ``90m``, ``600s`` or ``600`` (seconds) -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise BPEError(f"cannot read the budget '{text}': use e.g. 3h, 90m or 600s")
    value = float(match.group("value"))
    unit = (match.group("unit") or "s").lower()
    seconds = value * {"h": 3600, "m": 60, "min": 60, "s": 1}[unit]
    if seconds <= 0:
        raise BPEError(f"the budget must be positive, got '{text}'")
    return seconds


def sample_truth_archs(truth: Any, metric: str, n: int, seed: int, *, space: str = "nb201",
                       exclude: Sequence[str] = ()) -> list[str]:
    """``n`` archs drawn without replacement (seeded) among those the truth has a value for
    (any arch of the space for a truth that trains its own), leaving out ``exclude``."""
    from bpe.spaces import get_space

    if not isinstance(n, int) or n < 3:
        raise BPEError(f"--archs must be at least 3 to compute a rank correlation with an interval, got {n}")
    if hasattr(truth, "archs"):
        pool = [a for a in truth.archs() if np.isfinite(truth.query(a, metric))]
        where = f"the truth ({metric})"
    else:
        pool = [str(a) for a in get_space(space).enumerate_archs()]
        where = f"the {space} space"
    excluded = set(exclude)
    pool = [a for a in pool if a not in excluded]
    if n > len(pool):
        raise BPEError(f"--archs {n} is more than the {len(pool)} archs {where} has a value for"
                       + (f" outside the {len(excluded)} excluded" if excluded else "") + "; lower --archs")
    order = np.random.default_rng(seed).permutation(len(pool))[:n]
    return [pool[i] for i in order]


def mip_live(*, knobs: KnobSpace, dataset: Any, truth_spec: str, metric: str | None, n_archs: int, arch_seed: int,
             settings: MIPSettings, runner: Any, out: str | Path, space: str = "nb201", device: str = "auto",
             reference_config: Any = None, plot: bool = True,
             on_event: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """Live MIP: train a fixed, seeded arch sample under each setting and correlate with the truth.

    Every input is checked (data files, truth and metric, sample size, output path) before any
    training.  Returns the ``bpe.json`` document and the paths written.
    """
    from bpe.benchmarks import load_truth
    from bpe.data import load_arrays

    from bpe.training import resolve_device

    out = check_writable(out)
    if "precision" in knobs.names and "fp16" in knobs["precision"].values and resolve_device(device).type != "cuda":
        raise BPEError("the precision knob lists fp16, which needs a CUDA device; drop it from the grid on CPU "
                       "(bf16 works on CPU)")
    dataset.fingerprint()
    load_arrays(dataset)  # a missing or corrupt data file is reported before any work
    truth = load_truth(truth_spec, dataset=dataset, space=space, device=device, reference_config=reference_config)
    metric = truth.check_metric(metric)
    archs = sample_truth_archs(truth, metric, n_archs, arch_seed, space=space)
    evaluator = LiveEvaluator(knobs, dataset, truth, metric, archs, runner=runner, space=space, device=device,
                              seed=arch_seed)
    result = run_mip(evaluator, settings, parallel=runner.jobs, progress=runner.progress, on_event=on_event)
    provenance = {"cost_unit": "seconds", "truth": truth_spec, "metric": metric, "dataset": dataset.fingerprint(),
                  "data_dir": dataset.data_dir, "space": space, "device": str(resolve_device(device)), "arch_seed": arch_seed, "archs": archs,
                  "jobs": runner.jobs}
    doc = mip_document(result, provenance=provenance)
    return doc, write_mip(doc, out, plot=plot)


def mip_tabular(*, folder: str | Path, settings: MIPSettings, out: str | Path, plot: bool = True,
                arch_subset: Sequence[int] | None = None,
                on_event: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """Tabular MIP on recorded settings (e.g. the BPE paper's 37 x 100 records).

    ``arch_subset`` restricts the records to those positions of the truth order (to test how
    decisions move between arch samples).
    """
    out = check_writable(out)
    records = read_tabular_records(folder)
    if arch_subset is not None:
        idx = list(arch_subset)
        records.accuracies = records.accuracies.iloc[idx]
        records.truth = records.truth[idx]
    evaluator = TabularEvaluator(records)
    result = run_mip(evaluator, settings, progress=False, on_event=on_event)
    provenance = {"cost_unit": evaluator.cost_unit, "truth": f"{records.path}/ground_truth.csv", "metric": "accuracy",
                  "records": records.path, "n_records": len(records.settings),
                  "lookups": len(result.trajectory),
                  "lookups_to_chosen": (result.trajectory.index(result.chosen) + 1) if result.chosen else None}
    doc = mip_document(result, provenance=provenance)
    return doc, write_mip(doc, out, plot=plot)

