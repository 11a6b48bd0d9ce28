"""Costs that travel: a ``bpe.json`` says what its estimator cost per arch on the machine that
measured it (``measured.machine``).  Reused on another machine (another CPU model, ISA flags,
core count, torch dispatch or GPU), its proxy training is re-estimated here from a few timed
training steps (:func:`bpe.training.time_training_steps`), both figures are reported, and a
warning is given when they differ by more than :data:`WARN_RATIO`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bpe.config import BPEConfig, read_mip_export
from bpe.machine import machine_info, machine_key

__all__ = ["recost_export", "WARN_RATIO"]

log = logging.getLogger(__name__)

#: Ratio between the recorded and the re-estimated seconds per arch above which reuse warns.
WARN_RATIO = 2.0


def recost_export(spec: str | Path, *, dataset: Any, archs: Sequence[str], space: str = "nb201",
                  device: str = "auto", n_archs: int = 2, steps: int = 5) -> dict[str, Any] | None:
    """When ``spec`` is a ``bpe.json`` whose proxy setting was measured on another machine: its
    recorded seconds per arch and the ones estimated here (median step of ``steps`` timed steps
    on each of the first ``n_archs`` of ``archs``, scaled to the setting's epochs and data, plus a
    validation pass), their ratio, both machines, and ``warning`` when they differ by more than
    :data:`WARN_RATIO`.  ``None`` for anything else (a preset, a scorer's export, an export
    measured on this machine, or one that records no machine)."""
    doc = read_mip_export(spec)
    if doc is None or not isinstance(doc.get("config"), dict) or not isinstance(doc.get("measured"), dict):
        return None
    measured = doc["measured"]
    theirs = measured.get("machine")
    if not isinstance(theirs, dict) or not theirs.get("cpu") or machine_key(theirs) == machine_key():
        return None  # no machine, or one recorded before CPU models were: nothing to compare with
    from bpe.training import estimate_run_seconds  # torch-heavy

    config = BPEConfig.from_dict(doc["config"], source=str(spec))
    here, assumed = estimate_run_seconds(archs[:n_archs], config, dataset, space=space, device=device, steps=steps)
    recorded = measured.get("cost_per_arch")
    ratio = here / recorded if recorded else None
    out: dict[str, Any] = {
        "recorded_seconds_per_arch": recorded, "estimated_here_seconds_per_arch": here, "ratio": ratio,
        "recorded_machine": theirs, "this_machine": machine_info(),
        "assumed": assumed,
    }
    if ratio is not None and not 1 / WARN_RATIO <= ratio <= WARN_RATIO:
        out["warning"] = (f"{spec} was measured at {recorded:.3g} s/arch on {theirs.get('cpu')} "
                          f"({' '.join(theirs.get('isa', [])) or 'ISA unknown'}); here it is estimated at {here:.3g} "
                          f"s/arch ({ratio:.1f}x) on {machine_info()['cpu']}: its cost does not travel, judge it by "
                          "this machine's figure")
        log.warning("%s", out["warning"])
    return out
