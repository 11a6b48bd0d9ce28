"""Costs that travel: a ``bpe.json`` says what its estimator cost per arch on the machine that
measured it (``measured.machine``).  Reused on another machine (another CPU model, ISA flags,
core count, torch dispatch or GPU), its proxy training is re-estimated here from a few timed
training steps (:func:`bpe.training.time_training_steps`), both figures are reported, and a
warning is given when they differ by more than :data:`WARN_RATIO`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bpe.config import BPEConfig, exported_estimator, read_mip_export
from bpe.machine import machine_info, machine_key

if TYPE_CHECKING:
    from bpe.training import TimingAssumptions

__all__ = ["Recost", "recost_export", "WARN_RATIO"]

log = logging.getLogger(__name__)

#: Ratio between the recorded and the re-estimated seconds per arch above which reuse warns.
WARN_RATIO = 2.0


@dataclass(frozen=True)
class Recost:
    """A ``bpe.json``'s proxy cost, as recorded and as estimated on this machine."""

    recorded_seconds_per_arch: float | None
    estimated_here_seconds_per_arch: float
    ratio: float | None
    recorded_machine: dict[str, Any]
    this_machine: dict[str, Any]
    assumed: TimingAssumptions
    warning: str | None = field(default=None)

    @property
    def recorded_cpu(self) -> str | None:
        """The CPU model the figure was recorded on."""
        return self.recorded_machine.get("cpu")

    @property
    def this_cpu(self) -> str | None:
        """This machine's CPU model."""
        return self.this_machine.get("cpu")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``warning`` only when there is one)."""
        out = {"recorded_seconds_per_arch": self.recorded_seconds_per_arch,
               "estimated_here_seconds_per_arch": self.estimated_here_seconds_per_arch, "ratio": self.ratio,
               "recorded_machine": self.recorded_machine, "this_machine": self.this_machine,
               "assumed": self.assumed.to_dict()}
        if self.warning is not None:
            out["warning"] = self.warning
        return out


def recost_export(spec: str | Path, *, dataset: Any, archs: Sequence[str], space: str = "nb201",
                  device: str = "auto", n_archs: int = 2, steps: int = 5) -> Recost | None:
    """When ``spec`` is a ``bpe.json`` whose proxy setting was measured on another machine: its
    recorded seconds per arch and the ones estimated here (median step of ``steps`` timed steps
    on each of the first ``n_archs`` of ``archs``, scaled to the setting's epochs and data, plus a
    validation pass), their ratio, both machines, and ``warning`` when they differ by more than
    :data:`WARN_RATIO`.  ``None`` for anything else (a preset, a scorer's export, an export
    measured on this machine, or one that records no machine)."""
    doc = read_mip_export(spec)
    if doc is None or not isinstance(doc.get("config"), dict) or not isinstance(doc.get("measured"), dict):
        return None
    if (exported_estimator(spec) or {"family": "proxy"}).get("family") != "proxy":
        return None  # a scorer, a blend (an old hybrid included) or a learned model: nothing trained to re-cost
    measured = doc["measured"]
    theirs = measured.get("machine")
    if not isinstance(theirs, dict) or not theirs.get("cpu") or machine_key(theirs) == machine_key():
        return None  # no machine, or one recorded before CPU models were: nothing to compare with
    from bpe.training import estimate_run_seconds  # torch-heavy

    config = BPEConfig.from_dict(doc["config"], source=str(spec))
    here, assumed = estimate_run_seconds(archs[:n_archs], config, dataset, space=space, device=device, steps=steps)
    recorded = measured.get("cost_per_arch")
    ratio = here / recorded if recorded else None
    warning = None
    if ratio is not None and not 1 / WARN_RATIO <= ratio <= WARN_RATIO:
        warning = (f"{spec} was measured at {recorded:.3g} s/arch on {theirs.get('cpu')} "
                   f"({' '.join(theirs.get('isa', [])) or 'ISA unknown'}); here it is estimated at {here:.3g} "
                   f"s/arch ({ratio:.1f}x) on {machine_info()['cpu']}: its cost does not travel, judge it by "
                   "this machine's figure")
        log.warning("%s", warning)
    return Recost(recorded_seconds_per_arch=recorded, estimated_here_seconds_per_arch=here, ratio=ratio,
                  recorded_machine=theirs, this_machine=machine_info(), assumed=assumed, warning=warning)
