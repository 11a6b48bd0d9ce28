"""The knob space MIP searches: per knob, its search choices and which value is cheapest.

The choices are separate from :data:`bpe.config.KNOBS` (which says what is *valid*); a live
knob space is checked against it.  A tabular knob space (recorded settings) uses the records'
own column names.  ``seed`` is never a knob.  Besides the config fields, a live space may have the
``hybrid`` knob (:data:`HYBRIDS`): the setting's proxy alone, or rank-blended with a training-free
scorer (a :class:`~bpe.estimators.vote.RankBlend` anchored on the proxy, equal weights).  Like
``report``, it is *derived*: every value is read off the same training.

JSON form (``--knobs FILE``)::

    {"epochs": {"values": [2, 4, 8, 16], "cost": "increasing", "scale": "log"},
     "channels": [4, 8, 16],                              # shorthand: choices only
     "data_fraction": {"log_range": [0.05, 0.4], "num": 4}}

A shorthand list or a missing ``cost``/``scale`` takes the preset's description of that knob
(or ``increasing``/``log`` for a numeric knob the preset lacks).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bpe.config import KNOBS, REPORT_FIELDS, REPORTS, BPEConfig, Knob
from bpe.errors import ConfigError
from bpe.machine import native_bf16
from bpe.registry import did_you_mean

__all__ = ["KnobGrid", "KnobSpace", "COSTS", "SCALES", "HYBRIDS", "BLEND_KNOBS", "DERIVED_KNOBS", "KNOB_PRESETS",
           "knob_preset", "load_knobs"]

#: How a knob's value moves the cost: ``increasing`` (larger costs more), ``decreasing``
#: (larger is cheaper), ``order`` (values are listed cheapest first), ``none`` (no effect;
#: the first listed value is the starting point).
COSTS = ("increasing", "decreasing", "order", "none")
#: How a knob is encoded for the forest: ``log`` (log2 of the value), ``linear``, ``categorical``.
SCALES = ("log", "linear", "categorical")

#: Values of the ``hybrid`` knob: ``none`` (the proxy's signal alone) or the training-free scorer
#: whose rank is averaged with the proxy's over the archs scored together.
HYBRIDS = ("none", "meco", "swap_reg", "zico", "naswot", "synflow", "epe_nas", "jacob_cov")
#: Live knobs that are not :class:`BPEConfig` fields (what the setting is blended with), with their ranges.
BLEND_KNOBS: dict[str, Knob] = {"hybrid": Knob(str, choices=HYBRIDS)}
#: Knobs read off the training run (every value from one training per setting).
DERIVED_KNOBS = (*REPORT_FIELDS, *BLEND_KNOBS)


@dataclass(frozen=True)
class KnobGrid:
    """The search choices of one knob.

    Attributes:
        name: the knob (a :class:`~bpe.config.BPEConfig` field, or a records' column).
        values: the choices, in the order given.
        cost: one of :data:`COSTS`.
        scale: one of :data:`SCALES`.
    """

    name: str
    values: tuple[Any, ...]
    cost: str = "increasing"
    scale: str = "log"

    def __post_init__(self) -> None:
        if not self.values:
            raise ConfigError(f"knob '{self.name}' has an empty grid; give at least one value")
        if len(set(self.values)) != len(self.values):
            raise ConfigError(f"knob '{self.name}' lists a value twice: {list(self.values)}")
        if self.cost not in COSTS:
            raise ConfigError(f"knob '{self.name}': cost must be one of {', '.join(COSTS)}, got '{self.cost}'")
        if self.scale not in SCALES:
            raise ConfigError(f"knob '{self.name}': scale must be one of {', '.join(SCALES)}, got '{self.scale}'")
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)
        if self.scale != "categorical" and not numeric:
            raise ConfigError(f"knob '{self.name}' has non-numeric values {list(self.values)}; use scale 'categorical'")
        if self.scale == "log" and min(self.values) <= 0:
            raise ConfigError(f"knob '{self.name}' has a value <= 0 on a log scale; use scale 'linear'")
        if self.cost in ("increasing", "decreasing") and not numeric:
            raise ConfigError(f"knob '{self.name}': cost '{self.cost}' needs numeric values; use 'order'")

    def cost_rank(self, value: Any) -> int:
        """0 for the cheapest value, larger for dearer ones (all 0 when cost is ``none``)."""
        if self.cost == "none":
            return 0
        if self.cost == "order":
            return self.values.index(value)
        ordered = sorted(self.values, reverse=self.cost == "decreasing")
        return ordered.index(value)

    def cheapest(self) -> Any:
        """The cheapest value (the first listed one when cost is ``none``)."""
        if self.cost == "none":
            return self.values[0]
        return min(self.values, key=self.cost_rank)

    def encode(self, value: Any) -> float:
        """The forest's feature for ``value``."""
        if self.scale == "categorical":
            return float(self.values.index(value))
        return math.log2(value) if self.scale == "log" else float(value)

    def bounds(self) -> tuple[float, float]:
        """Lowest and highest encoded value."""
        codes = [self.encode(v) for v in self.values]
        return min(codes), max(codes)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"values": list(self.values), "cost": self.cost, "scale": self.scale}


class KnobSpace:
    """An ordered set of :class:`KnobGrid`.

    Args:
        grids: the knobs.
        base: for a live space, the :class:`BPEConfig` that supplies every field that is not
            a knob (and checks every choice against :data:`KNOBS`); ``None`` for a tabular space.
    """

    def __init__(self, grids: Iterable[KnobGrid], base: BPEConfig | None = None) -> None:
        self.grids: dict[str, KnobGrid] = {}
        for grid in grids:
            if grid.name in self.grids:
                raise ConfigError(f"knob '{grid.name}' is given twice")
            self.grids[grid.name] = grid
        if not self.grids:
            raise ConfigError("the knob space is empty; give at least one knob")
        if "seed" in self.grids:
            raise ConfigError("seed is never a knob: a setting is judged on one fixed seed; remove 'seed'")
        self.base = base
        if base is not None:
            self._check_live()

    def _check_live(self) -> None:
        fields = [f.name for f in dataclasses.fields(BPEConfig) if f.name != "seed"] + list(BLEND_KNOBS)
        ranges = {**KNOBS, **BLEND_KNOBS}
        for name, grid in self.grids.items():
            if name not in fields:
                raise ConfigError(f"unknown knob '{name}'{did_you_mean(name, fields)} (knobs: {', '.join(fields)})")
            for value in grid.values:
                if ranges[name].kind is float and isinstance(value, int):
                    value = float(value)
                try:
                    ranges[name].check(name, value)
                except ConfigError as err:
                    raise ConfigError(f"knob '{name}' has a choice outside the valid range: {err}") from None

    # -- views -----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Knob names in order."""
        return list(self.grids)

    def __getitem__(self, name: str) -> KnobGrid:
        return self.grids[name]

    def __len__(self) -> int:
        return len(self.grids)

    def derived(self, name: str) -> bool:
        """True for a knob read off the training run (``report``, ``hybrid``): all its values cost one
        training."""
        return self.base is not None and name in DERIVED_KNOBS

    def cheapest(self) -> dict[str, Any]:
        """The cheapest corner: every knob at its cheapest value."""
        return {name: grid.cheapest() for name, grid in self.grids.items()}

    def encode(self, setting: Mapping[str, Any]) -> np.ndarray:
        """Feature vector of a setting (knob order)."""
        return np.array([grid.encode(setting[name]) for name, grid in self.grids.items()], dtype=float)

    def size(self) -> int:
        """Number of settings in the grid."""
        return int(np.prod([len(g.values) for g in self.grids.values()]))

    # -- live settings ---------------------------------------------------------------
    def to_config(self, setting: Mapping[str, Any]) -> BPEConfig:
        """The :class:`BPEConfig` of a live setting (raises :class:`ConfigError` when invalid); the
        knobs that are not config fields (``hybrid``) are left out."""
        if self.base is None:
            raise ConfigError("a tabular knob space has no BPEConfig")
        values = {k: (float(v) if k in KNOBS and KNOBS[k].kind is float else v) for k, v in setting.items()
                  if k not in BLEND_KNOBS}
        return self.base.merged(values, source="setting")

    def valid(self, setting: Mapping[str, Any]) -> bool:
        """True when a live setting makes a valid config (always for tabular spaces)."""
        if self.base is None:
            return True
        try:
            self.to_config(setting)
        except ConfigError:
            return False
        return True

    def sample(self, rng: np.random.Generator, fixed: Mapping[str, Any]) -> dict[str, Any]:
        """One setting: fixed knobs at their values, the others drawn uniformly from their choices."""
        setting = {}
        for name, grid in self.grids.items():
            setting[name] = fixed[name] if name in fixed else grid.values[int(rng.integers(len(grid.values)))]
        return setting

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON form (knob -> grid)."""
        return {name: grid.to_dict() for name, grid in self.grids.items()}


def upgrade_grid(name: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """A knob grid written before ``layers`` existed: ``cells_per_stage`` N becomes ``layers`` 3N+2
    (the same NB201 networks); any other grid is returned as it is."""
    if name == "cells_per_stage":
        return "layers", tuple(3 * int(v) + 2 for v in values)
    return name, tuple(values)


def _grid_from_json(name: str, spec: Any, preset: Mapping[str, KnobGrid], source: str) -> KnobGrid:
    if name == "cells_per_stage" and isinstance(spec, (list, Mapping)):
        values = spec if isinstance(spec, list) else spec.get("values")
        if isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            name, new = upgrade_grid(name, values)
            spec = list(new) if isinstance(spec, list) else {**spec, "values": list(new)}
    known = preset.get(name)
    if isinstance(spec, list):
        spec = {"values": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: knob '{name}' must be a list of values or an object with 'values', got {spec!r}")
    allowed = {"values", "cost", "scale", "log_range", "num"}
    unknown = [k for k in spec if k not in allowed]
    if unknown:
        raise ConfigError(f"{source}: knob '{name}' has an unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
    if "log_range" in spec:
        lo_hi, num = spec["log_range"], spec.get("num", 4)
        if (not isinstance(lo_hi, list) or len(lo_hi) != 2 or not all(isinstance(v, (int, float)) for v in lo_hi)
                or not 0 < lo_hi[0] < lo_hi[1] or not isinstance(num, int) or num < 2):
            raise ConfigError(f"{source}: knob '{name}': log_range takes [low, high] with 0 < low < high and num >= 2")
        raw = np.geomspace(lo_hi[0], lo_hi[1], num)
        integer = all(isinstance(v, int) for v in lo_hi)
        values = sorted({int(round(v)) for v in raw}) if integer else [float(f"{v:.4g}") for v in raw]
    elif "values" in spec:
        values = spec["values"]
        if not isinstance(values, list):
            raise ConfigError(f"{source}: knob '{name}': values must be a list, got {values!r}")
    else:
        raise ConfigError(f"{source}: knob '{name}' needs 'values' or 'log_range'")
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    cost = spec.get("cost", known.cost if known else ("increasing" if numeric else "order"))
    scale = spec.get("scale", known.scale if known else ("log" if numeric else "categorical"))
    return KnobGrid(name, tuple(values), cost=cost, scale=scale)


def _preset_cpu_nb201() -> tuple[list[KnobGrid], BPEConfig]:
    grids = [
        KnobGrid("epochs", (2, 4, 7, 10, 15, 20), "increasing", "log"),
        KnobGrid("batch_size", (64, 128, 256), "decreasing", "log"),
        KnobGrid("learning_rate", (0.1, 0.05, 0.2), "none", "log"),
        KnobGrid("layers", (5, 8), "increasing", "log"),  # NB201: 1 and 2 cells per stage
        KnobGrid("channels", (4, 8, 16), "increasing", "log"),
        KnobGrid("image_size", (8, 12, 16, 24), "increasing", "log"),
        KnobGrid("cutout", (0, 4), "order", "linear"),
        # bf16 only where this CPU runs it natively: emulated, it is 2-14x slower than fp32
        KnobGrid("precision", ("fp32", "bf16") if native_bf16("cpu") else ("fp32",), "order", "categorical"),
        KnobGrid("data_fraction", (0.05, 0.1, 0.2, 0.4), "increasing", "log"),
        KnobGrid("report", REPORTS, "none", "categorical"),
    ]
    return grids, BPEConfig()


def _preset_paper() -> tuple[list[KnobGrid], BPEConfig]:
    # The BPE authors' released sweep (references.md; layers as they recorded them).
    grids = [
        KnobGrid("epochs", (10, 15, 20, 25, 30, 50, 100, 300), "increasing", "log"),
        KnobGrid("batch_size", (96, 128, 256, 512, 1024), "decreasing", "log"),
        KnobGrid("learning_rate", (0.03, 0.025, 0.06, 0.1), "none", "log"),
        KnobGrid("layers", (6, 8, 10, 12, 14, 16, 20, 24), "increasing", "log"),
        KnobGrid("channels", (8, 10, 12, 14, 16, 24, 36, 64), "increasing", "log"),
        KnobGrid("image_size", (16, 32), "increasing", "log"),
        KnobGrid("cutout", (0, 16), "order", "linear"),
        KnobGrid("precision", ("fp16", "fp32"), "order", "categorical"),
        KnobGrid("data_fraction", (0.5, 1.0), "increasing", "log"),
        KnobGrid("report", REPORTS, "none", "categorical"),
    ]
    return grids, BPEConfig(learning_rate=0.03)


def _preset_digits() -> tuple[list[KnobGrid], BPEConfig]:
    # The embedded default (8x8 digits): small enough for the Quickstart's few minutes.
    grids = [
        KnobGrid("epochs", (2, 4, 8), "increasing", "log"),
        KnobGrid("batch_size", (32, 64), "decreasing", "log"),
        KnobGrid("channels", (4, 8), "increasing", "log"),
        KnobGrid("data_fraction", (0.5, 1.0), "increasing", "log"),
        KnobGrid("report", REPORTS, "none", "categorical"),
    ]
    return grids, BPEConfig(image_size=8, layers=5, learning_rate=0.05)


def _preset_cpu_hybrid() -> tuple[list[KnobGrid], BPEConfig]:
    # The cpu grids plus what the proxy may blend with (a MIP knob, not a config field): its own signal
    # alone, or rank-averaged with MeCo.
    grids, base = _preset_cpu_nb201()
    return [*grids, KnobGrid("hybrid", ("none", "meco"), "none", "categorical")], base


def _preset_darts_cpu() -> tuple[list[KnobGrid], BPEConfig]:
    # The DARTS space on a laptop CPU, around the BPE paper's BPE-1 (10 epochs, 6 layers, 8 channels,
    # 16 px, batch 128; 76 CPU-s per cell at 10% of the data here): its training recipe (auxiliary
    # head 0.4, drop-path 0.2, gradient clipping 5, lr 0.03, weight decay 3e-4) in the base config.
    grids = [
        KnobGrid("epochs", (2, 4, 7, 10), "increasing", "log"),
        KnobGrid("batch_size", (64, 128, 256), "decreasing", "log"),
        KnobGrid("layers", (5, 6, 8), "increasing", "log"),
        KnobGrid("channels", (4, 8, 12), "increasing", "log"),
        KnobGrid("image_size", (8, 12, 16), "increasing", "log"),
        KnobGrid("data_fraction", (0.05, 0.1, 0.2), "increasing", "log"),
        KnobGrid("report", REPORTS, "none", "categorical"),
    ]
    base = BPEConfig(epochs=10, batch_size=128, learning_rate=0.03, weight_decay=3e-4, layers=6, channels=8,
                     image_size=16, data_fraction=0.1, auxiliary_weight=0.4, drop_path=0.2, grad_clip=5.0)
    return grids, base


#: Named live knob spaces: ``cpu`` (NB201 on a laptop CPU, the default), ``cpu-hybrid`` (the same
#: plus the ``hybrid`` knob: the proxy alone or rank-averaged with MeCo), ``darts-cpu`` (the DARTS
#: space on a laptop CPU, the paper's recipe in the base config; the default with ``--space
#: darts``), ``paper`` (the BPE authors' grids, for GPU users), ``digits`` (the embedded default).
KNOB_PRESETS = {"cpu": _preset_cpu_nb201, "cpu-hybrid": _preset_cpu_hybrid, "darts-cpu": _preset_darts_cpu,
                "paper": _preset_paper, "digits": _preset_digits}

#: How the BPE paper's recorded knobs move the cost (tabular records' columns).
TABULAR_KNOBS: dict[str, KnobGrid] = {
    "epochs": KnobGrid("epochs", (1,), "increasing", "log"),
    "batch_size": KnobGrid("batch_size", (1,), "decreasing", "log"),
    "learning_rate": KnobGrid("learning_rate", (1,), "none", "log"),
    "layers": KnobGrid("layers", (1,), "increasing", "log"),
    "float_bits": KnobGrid("float_bits", (1,), "increasing", "log"),
    "channels": KnobGrid("channels", (1,), "increasing", "log"),
    "cutout_length": KnobGrid("cutout_length", (1,), "increasing", "linear"),
    "image_size": KnobGrid("image_size", (1,), "increasing", "log"),
    "data_fraction": KnobGrid("data_fraction", (1,), "increasing", "log"),
}


def knob_preset(name: str, base: BPEConfig | None = None) -> KnobSpace:
    """A named live knob space (see :data:`KNOB_PRESETS`); ``base`` replaces the preset's base config."""
    if name not in KNOB_PRESETS:
        raise ConfigError(f"unknown knob preset '{name}'; choose one of {', '.join(KNOB_PRESETS)} or pass a JSON file")
    grids, preset_base = KNOB_PRESETS[name]()
    return KnobSpace(grids, base=base or preset_base)


def load_knobs(spec: str | Path | Mapping[str, Any], *, preset: str = "cpu", base: BPEConfig | None = None) -> KnobSpace:
    """A live knob space from a preset name, a JSON file or a mapping (see module doc).

    Knobs given in JSON take the named ``preset``'s cost direction and scale when they omit them;
    only the knobs listed are searched (the rest stay at ``base``).
    """
    if isinstance(spec, (str, Path)) and str(spec) in KNOB_PRESETS:
        return knob_preset(str(spec), base)
    source = "knobs"
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"knob file {path} does not exist; pass a JSON file or one of {', '.join(KNOB_PRESETS)}")
        try:
            spec = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not a valid JSON knob file ({err}); fix the file") from None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source} must be a JSON object of knob -> choices")
    if "seed" in spec:
        raise ConfigError(f"{source}: seed is never a knob: a setting is judged on one fixed seed; remove 'seed'")
    preset_grids, preset_base = KNOB_PRESETS[preset]()
    known = {g.name: g for g in preset_grids}
    try:
        grids = [_grid_from_json(str(name), value, known, source) for name, value in spec.items()]
        return KnobSpace(grids, base=base or preset_base)
    except ConfigError as err:
        text = str(err)
        raise ConfigError(text if text.startswith(source) else f"{source}: {text}") from None
