"""Estimators: everything that scores an architecture, behind one registry.

``register_estimator(name)`` is a class decorator; ``create_estimator(name, **kw)`` builds
one; ``available_estimators()`` lists the names.  A duplicate name is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bpe.config import PRESETS, BPEConfig, exported_estimator
from bpe.errors import EstimatorError
from bpe.estimators.base import Estimator
from bpe.estimators.context import EstimatorContext
from bpe.records import Cost, EvalRecord
from bpe.registry import Registry

log = logging.getLogger(__name__)

__all__ = [
    "Cost",
    "Estimator",
    "EvalRecord",
    "available_estimators",
    "create_estimator",
    "register_estimator",
    "split_specs",
]

def _load_builtin() -> None:
    # Importing the modules runs their @register_estimator decorators.  Local: an import cycle (each
    # imports register_estimator from here) and torch-heavy; loaded on the registry's first lookup.
    from bpe.estimators import (  # noqa: F401
        az_nas,
        learned,
        meco,
        oracle,
        proxy,
        renas,
        swap,
        vkdnw,
        vote,
        zero_cost,
        zico,
    )


_REGISTRY: Registry = Registry("estimator", EstimatorError, _load_builtin)
#: Class decorator adding an :class:`Estimator` subclass to the registry under a name.
register_estimator = _REGISTRY.register


def available_estimators() -> list[str]:
    """Names of every registered estimator."""
    return _REGISTRY.names()


def get_estimator_class(name: str) -> type[Estimator]:
    """The class registered under ``name``."""
    return _REGISTRY.get(name, extra_hint=", or a BPEConfig JSON file")


def create_estimator(name: str, **kwargs: Any) -> Estimator:
    """Build the estimator registered under ``name`` with keyword arguments."""
    return get_estimator_class(name)(**kwargs)


def estimator_from_spec(
    spec: str,
    *,
    dataset: Any = None,
    truth: Any = None,
    metric: str | None = None,
    space: str = "nb201",
    device: str = "auto",
    options: dict[str, Any] | None = None,
) -> Estimator:
    """Build an estimator from a CLI-style spec.

    The spec is parsed by :func:`parse_spec`; the estimator is built by its class's
    ``from_context`` from an :class:`~bpe.estimators.context.EstimatorContext` holding the
    arguments (``options``: batch size, repeats, seed, sizes; ``None`` values are left at the
    estimator's default).
    """
    name, extra = parse_spec(spec)
    pinned = dict(extra.pop("options", {}))  # an exported scorer's network; an option given here overrides it
    exported = extra.pop("pinned_in", None)
    given = {k: v for k, v in (options or {}).items() if v is not None}
    if "cells_per_stage" in given:  # NB201's shorthand for the layers: it replaces a pinned depth
        pinned.pop("layers", None)
    context = EstimatorContext(dataset=dataset, device=device, space=space, truth=truth, metric=metric,
                               options={**pinned, **given}, **extra)
    estimator = get_estimator_class(name).from_context(context)
    if exported is not None and not pinned and isinstance(getattr(estimator, "channels", None), int):
        log.warning("%s names the scorer %s without the network it scored (written before bpe pinned it): scoring "
                    "at C%d L%d, this version's default or the options given, which may differ from what it was "
                    "chosen on; export it again (bpe mip) to pin it", exported, name, estimator.channels,
                    estimator.layers)
    return estimator


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """(registered name, context fields) of a CLI-style estimator spec: ``PATH.pt`` or
    ``renas:PATH`` (a saved predictor), a BPEConfig JSON file or a ``bpe.json`` (proxy
    training), a preset name, ``vote:NAME,NAME,...`` (a rank-average; members may also be joined
    by ``+``), or a registered name."""
    if spec.startswith("vote:"):
        return "vote", {"members": tuple(m.strip() for m in spec[5:].replace("+", ",").split(",") if m.strip())}
    if spec.startswith("renas:") or spec.endswith(".pt"):
        return "renas", {"path": spec.split(":", 1)[1] if spec.startswith("renas:") else spec}
    if spec.endswith(".json") or Path(spec).is_file():
        exported = exported_estimator(spec)  # what `bpe mip` found: a setting, a scorer or a blend (a hybrid)
        if exported is not None and exported.get("family") == "scorer":  # with the network it scored, when pinned
            return str(exported["name"]), {"options": dict(exported.get("options") or {}),
                                           "pinned_in": spec}
        if exported is not None and exported.get("family") in ("blend", "learned"):
            return str(exported["family"]), {"path": spec}
        return "bpe", {"config": BPEConfig.from_json(spec)}
    if spec in PRESETS:
        return "bpe", {"config": PRESETS[spec]}
    return spec, {}


def split_specs(text: str) -> list[str]:
    """A comma-separated list of estimator specs; a ``vote:`` spec takes every name after it
    (``params,vote:naswot,synflow`` is ``params`` and a vote of two; put a vote last, or join its
    members with ``+``: ``vote:naswot+synflow,params``)."""
    parts = [p.strip() for p in text.split(",")]
    for i, part in enumerate(parts):
        if part.startswith("vote:") and "+" not in part:
            return [p for p in parts[:i] if p] + [",".join(p for p in parts[i:] if p)]
    return [p for p in parts if p]
