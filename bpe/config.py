"""``BPEConfig``: the proxy-training knobs of a budgeted performance estimator.

A BPE is a reduced training setting.  Its knobs are those of the BPE paper (Zheng et al.,
CVPR 2020): epochs, batch size, learning rate, layers, float precision, initial channels,
cutout and image size, plus data fraction, the optimiser's weight decay and momentum, the
auxiliary-head loss weight and drop-path probability (DARTS-style training), and the seed.

Depth is the paper's ``layers``; each search space maps it to its own structure
(:meth:`bpe.spaces.base.SearchSpace.net_size`).  DARTS uses it as is; NAS-Bench-201 uses
``N = max(1, round((L - 2) / 3))`` cells per stage (:func:`bpe.spaces.nb201.layers_to_cells_per_stage`), so
BPE-1's 6 layers become 1 cell per stage and BPE-2's 16 become 5 (the benchmark's).  Config
files written before ``layers`` existed hold ``cells_per_stage``; they load as
``layers = 3 N + 2``, which maps back to the same ``N``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpe.errors import ConfigError
from bpe.registry import did_you_mean

__all__ = [
    "BPEConfig",
    "KNOBS",
    "Knob",
    "PRESETS",
    "REPORTS",
    "get_preset",
    "load_config",
    "exported_estimator",
    "hybrid_blend_spec",
    "legacy_hybrid",
    "read_mip_export",
]

PRECISIONS = ("fp32", "bf16", "fp16")

#: What a proxy training reports as the architecture's score (all read off the same run):
#: ``valid_accuracy`` (percent, higher is better), ``valid_loss`` (reported negated),
#: ``tse`` (training-speed estimate, Ru et al. 2021: the sum of the per-epoch mean training
#: losses over all epochs, negated) and ``tse_e1`` (the same over the last epoch only).
REPORTS = ("valid_accuracy", "valid_loss", "tse", "tse_e1")


@dataclass(frozen=True)
class Knob:
    """Range of one config field: numeric bounds (inclusive) or a set of choices."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    low_exclusive: bool = False
    high_exclusive: bool = False

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`ConfigError` naming ``name`` when ``value`` is out of range."""
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}"
                )
            return
        ok_type = isinstance(value, self.kind) and not isinstance(value, bool)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok_type = True
        if not ok_type:
            raise ConfigError(f"{name} must be a {self.kind.__name__}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number in {self.describe()}, got {value!r}")
        if self.low is not None and (value < self.low or (self.low_exclusive and value == self.low)):
            raise ConfigError(f"{name} must be in {self.describe()}, got {value!r}")
        if self.high is not None and (
            value > self.high or (self.high_exclusive and value == self.high)
        ):
            raise ConfigError(f"{name} must be in {self.describe()}, got {value!r}")

    def describe(self) -> str:
        """Human-readable range, e.g. ``1..1000`` or ``(0, 1]``."""
        if self.choices is not None:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        if self.kind is int:
            return f"{self.low:g}..{self.high:g}"
        left = "(" if self.low_exclusive else "["
        right = ")" if self.high_exclusive else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"


#: Allowed range of every field of :class:`BPEConfig` (also the search space MIP prunes).
KNOBS: dict[str, Knob] = {
    "epochs": Knob(int, 1, 1000),
    "batch_size": Knob(int, 1, 8192),
    "learning_rate": Knob(float, 0.0, 10.0, low_exclusive=True),
    "weight_decay": Knob(float, 0.0, 1.0),
    "momentum": Knob(float, 0.0, 1.0, high_exclusive=True),
    "layers": Knob(int, 1, 100),
    "channels": Knob(int, 1, 1024),
    "image_size": Knob(int, 4, 256),
    "cutout": Knob(int, 0, 256),
    "precision": Knob(str, choices=PRECISIONS),
    "data_fraction": Knob(float, 0.0, 1.0, low_exclusive=True),
    "report": Knob(str, choices=REPORTS),
    "auxiliary_weight": Knob(float, 0.0, 10.0),
    "drop_path": Knob(float, 0.0, 1.0, high_exclusive=True),
    "grad_clip": Knob(float, 0.0, 1000.0),
    "seed": Knob(int, 0, 2**32 - 1),
}

#: Fields added after evaluations were first cached, with the value that reproduces the training
#: of before: at that value they are left out of the training cache key, so old entries stay valid.
LATER_FIELDS: dict[str, Any] = {"auxiliary_weight": 0.0, "drop_path": 0.0, "grad_clip": 0.0}

#: Fields that choose what is read off a training run, not how it trains (left out of the
#: training cache key, so switching between them costs no training).
REPORT_FIELDS = ("report",)


@dataclass(frozen=True)
class BPEConfig:
    """One proxy-training setting (a budgeted performance estimator).

    Defaults are the NAS-Bench-201 training recipe at a small budget.  Every field is
    validated on construction; see :data:`KNOBS` for the ranges.

    Attributes:
        epochs: training epochs (cosine learning-rate schedule to 0 over them).
        batch_size: mini-batch size.
        learning_rate: initial SGD learning rate.
        weight_decay: L2 weight decay.
        momentum: SGD (Nesterov) momentum.
        layers: the paper's depth knob; each space maps it to its structure (DARTS: cells;
            NB201: ``max(1, round((layers - 2) / 3))`` cells per stage).
        channels: initial channels ``C`` (stages use C, 2C, 4C).
        image_size: side in pixels; images are resized to it after augmentation.
        cutout: cutout square side in pixels at ``image_size`` scale (0 = off).
        precision: ``fp32``, ``bf16`` (CPU or CUDA) or ``fp16`` (CUDA only).
        data_fraction: fraction of the train split used for training (class-balanced);
            the validation split is subsampled by the same fraction.
        report: what the run reports as the score, one of :data:`REPORTS`.
        auxiliary_weight: weight of the auxiliary head's loss (networks that have one: DARTS;
            0 = no auxiliary head).
        drop_path: final drop-path probability, reached linearly over the epochs (networks
            with drop-path: DARTS; 0 = off).
        grad_clip: largest global gradient norm per step (DARTS's protocol: 5; 0 = no clipping).
        seed: seed of weight init, batch order and augmentation.
    """

    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9
    layers: int = 5
    channels: int = 8
    image_size: int = 16
    cutout: int = 0
    precision: str = "fp32"
    data_fraction: float = 1.0
    report: str = "valid_accuracy"
    auxiliary_weight: float = 0.0
    drop_path: float = 0.0
    grad_clip: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            KNOBS[field.name].check(field.name, getattr(self, field.name))
        if self.cutout > self.image_size:
            raise ConfigError(
                f"cutout must be at most image_size ({self.image_size}), got {self.cutout}"
            )

    # -- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> BPEConfig:
        """Build from a mapping; unknown keys are an error that names the key.

        Missing keys take the defaults.  Integral floats (``10.0``) are accepted for
        integer knobs; anything else of the wrong type is rejected.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source} must be a JSON object of BPEConfig fields, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        if "hybrid" in data:  # a file written when a hybrid was a config field
            data, scorer = legacy_hybrid(data, source=source)
            if scorer is not None:
                raise ConfigError(
                    f"{source}: \"hybrid\": \"{scorer}\" is no longer a training setting's field: a hybrid is the "
                    f"rank blend of the setting and {scorer}, which --estimator reads this file as; drop \"hybrid\" to "
                    "use the setting alone"
                )
        if "cells_per_stage" in data:  # a file written before `layers`: N cells per stage = 3 N + 2 layers
            if "layers" in data:
                raise ConfigError(f"{source}: give either layers or the older cells_per_stage, not both")
            n = data["cells_per_stage"]
            if isinstance(n, bool) or not isinstance(n, (int, float)) or not float(n).is_integer() or n < 1:
                raise ConfigError(f"{source}: cells_per_stage must be an integer >= 1, got {n!r}")
            data = {**{k: v for k, v in data.items() if k != "cells_per_stage"}, "layers": 3 * int(n) + 2}
        unknown = [k for k in data if k not in names]
        if unknown:
            key = unknown[0]
            raise ConfigError(
                f"{source}: unknown key '{key}'{did_you_mean(key, names)} (allowed: {', '.join(names)})"
            )
        values = {}
        for key, value in data.items():
            if KNOBS[key].kind is int and isinstance(value, float) and value.is_integer():
                value = int(value)
            values[key] = value
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text of the config; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> BPEConfig:
        """Parse JSON text, or read a ``.json`` file when given a path; a ``bpe.json`` written
        by ``bpe mip`` gives its chosen ``config``."""
        path = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        source = "config"
        if path is not None:
            source = str(path)
            if not path.is_file():
                raise ConfigError(f"config file {path} does not exist; pass the path of a BPEConfig JSON file")
            text = path.read_text()
        else:
            text = str(text_or_path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{source} is not valid JSON ({err.msg} at line {err.lineno}); fix the file") from None
        if isinstance(data, Mapping) and data.get("kind") == "bpe-mip":  # a file written by `bpe mip`
            family = (data.get("estimator") or {}).get("family") if isinstance(data.get("estimator"), Mapping) else None
            if family in ("scorer", "blend", "learned"):
                raise ConfigError(f"{source} exports a {family}, not a training setting: use it as --estimator "
                                  f"{source}")
            if not isinstance(data.get("config"), Mapping):
                raise ConfigError(f"{source} holds no chosen setting (the MIP run measured none within its cap)")
            data = data["config"]
        return cls.from_dict(data, source=source)

    def merged(self, changes: Mapping[str, Any], *, source: str = "config") -> BPEConfig:
        """This config with ``changes`` (a mapping of fields, checked as :meth:`from_dict` checks
        them; the older ``cells_per_stage`` replaces ``layers``)."""
        base = self.to_dict()
        if "cells_per_stage" in changes:
            base.pop("layers")
        return BPEConfig.from_dict({**base, **changes}, source=source)

    def replace(self, **changes: Any) -> BPEConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the config's scores, like every other ``fingerprint()``:
        all fields, plus ``hash``, a short stable hash of them (for names and labels)."""
        fields = self.to_dict()
        blob = json.dumps(fields, sort_keys=True).encode()
        return {**fields, "hash": hashlib.sha256(blob).hexdigest()[:16]}

    def training_dict(self) -> dict[str, Any]:
        """The fields that determine the training run (all but :data:`REPORT_FIELDS`, and the
        :data:`LATER_FIELDS` at their old value)."""
        return {k: v for k, v in self.to_dict().items()
                if k not in REPORT_FIELDS and not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


#: The BPE paper's two released settings (see module docstring).
PRESETS: dict[str, BPEConfig] = {
    # bpe: the BPEConfig defaults (what `--estimator bpe` trains; `bpe config bpe` prints them).
    "bpe": BPEConfig(),
    # BPE-1: 10 epochs, batch 128, lr 0.03, 6 layers, fp32, 8 channels, no cutout, 16 px.
    "bpe-1": BPEConfig(
        epochs=10, batch_size=128, learning_rate=0.03, layers=6,
        channels=8, image_size=16, cutout=0, precision="fp32",
    ),
    # BPE-2: 30 epochs, 16 layers, 16 channels, otherwise as BPE-1.
    "bpe-2": BPEConfig(
        epochs=30, batch_size=128, learning_rate=0.03, layers=16,
        channels=16, image_size=16, cutout=0, precision="fp32",
    ),
}


def get_preset(name: str) -> BPEConfig:
    """Return a named preset (``bpe-1``, ``bpe-2``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}") from None


def read_mip_export(spec: str | Path) -> dict[str, Any] | None:
    """The document of a ``bpe.json`` written by ``bpe mip``, or ``None`` for any other file or
    text that cannot be read (the config parser then says what is wrong)."""
    path = Path(spec)
    try:
        data = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return dict(data) if isinstance(data, Mapping) and data.get("kind") == "bpe-mip" else None


#: The JSON files that carry an ``estimator`` entry: ``bpe mip``'s export and a saved feature predictor.
ESTIMATOR_FILE_KINDS = ("bpe-mip", "bpe-predictor")


def legacy_hybrid(fields: Mapping[str, Any], *, source: str = "config") -> tuple[dict[str, Any], str | None]:
    """``fields`` (BPEConfig fields) without the ``hybrid`` key of files written when a hybrid was a
    config field, and the training-free scorer it named (``None`` for ``"none"`` or no key).

    The one place that reads that key: :meth:`BPEConfig.from_dict` drops ``"none"`` and refuses a
    scorer; :func:`exported_estimator` reads a file with a scorer as the equivalent blend
    (:func:`hybrid_blend_spec`)."""
    fields = dict(fields)
    scorer = fields.pop("hybrid", "none")
    if not isinstance(scorer, str):
        raise ConfigError(f"{source}: hybrid must be a scorer's name or \"none\", got {scorer!r}")
    return fields, None if scorer == "none" else scorer


def hybrid_blend_spec(config: Mapping[str, Any], scorer: str) -> dict[str, Any]:
    """The ``estimator`` entry of a hybrid: the rank blend (:class:`~bpe.estimators.vote.RankBlend`)
    of the proxy training ``config`` and the training-free ``scorer`` at equal weights, anchored on
    the proxy (an arch whose training failed fails; the scorer is ranked among the trained archs)."""
    return {"family": "blend", "members": [{"family": "proxy", "config": dict(config)},
                                           {"family": "scorer", "name": scorer}],
            "weights": [1.0, 1.0], "anchored": True}


def _legacy_hybrid_export(fields: Any) -> dict[str, Any] | None:
    """The blend a config object with ``"hybrid": SCORER`` stands for, else ``None``."""
    if not isinstance(fields, Mapping) or fields.get("hybrid", "none") == "none":
        return None
    config, scorer = legacy_hybrid(fields)
    return hybrid_blend_spec(config, scorer) if scorer is not None else None


def exported_estimator(spec: str | Path) -> dict[str, Any] | None:
    """The ``estimator`` entry of a ``bpe.json`` written by ``bpe mip`` (``{"family": "proxy" |
    "scorer" | "blend" | "learned", ...}``) or of a feature predictor saved by ``bpe predictor
    fit --model graf``, or ``None`` for any other file (a BPEConfig JSON, an older ``bpe.json``
    whose export is its ``config``).  A setting written when a hybrid was a config field
    (``"hybrid": "meco"``, in a ``bpe.json`` or a BPEConfig JSON) is read as its blend
    (:func:`hybrid_blend_spec`)."""
    path = Path(spec)
    try:
        doc = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, Mapping):
        return None
    if doc.get("kind") not in ESTIMATOR_FILE_KINDS:
        return _legacy_hybrid_export(doc)  # a BPEConfig JSON
    entry = doc.get("estimator")
    if not isinstance(entry, Mapping):  # an older bpe.json: its export is its config
        return _legacy_hybrid_export(doc.get("config")) if doc.get("kind") == "bpe-mip" else None
    if entry.get("family") == "proxy":
        return _legacy_hybrid_export(entry.get("config")) or dict(entry)
    return dict(entry)


def load_config(spec: str | Path) -> BPEConfig:
    """A preset name or the path of a JSON file."""
    if str(spec) in PRESETS:
        return PRESETS[str(spec)]
    return BPEConfig.from_json(spec)
