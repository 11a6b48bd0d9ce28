"""Estimators: everything that scores an architecture, behind one registry.

``register_estimator(name)`` is a class decorator; ``create_estimator(name, **kw)`` builds
one; ``available_estimators()`` lists the names.  A duplicate name is an error.
"""

from __future__ import annotations

from typing import Any

from bpe.errors import EstimatorError
from bpe.estimators.base import Estimator
from bpe.records import Cost, EvalRecord
from bpe.registry import Registry

__all__ = [
    "Cost",
    "Estimator",
    "EvalRecord",
    "available_estimators",
    "create_estimator",
    "register_estimator",
]

def _load_builtin() -> None:
    # Importing the modules runs their @register_estimator decorators.
    from bpe.estimators import oracle, proxy, renas, zero_cost  # noqa: F401


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

    ``spec`` is a BPEConfig JSON file (proxy training), a preset (``bpe-1``, ``bpe-2``),
    ``oracle`` (lookup in ``truth``), or the name of another registered estimator; a
    training-free scorer gets ``dataset``, ``device``, ``space`` and ``options`` (batch size,
    repeats, seed, ...; ``None`` values are left at the scorer's default).
    """
    from pathlib import Path

    from bpe.config import PRESETS, BPEConfig

    if spec.startswith("renas:") or spec.endswith(".pt"):
        return create_estimator("renas", path=spec.split(":", 1)[1] if spec.startswith("renas:") else spec)
    if spec.endswith(".json") or Path(spec).is_file():
        config = BPEConfig.from_json(spec)
        return create_estimator("bpe", config=config, dataset=dataset, space=space, device=device)
    if spec in PRESETS:
        return create_estimator("bpe", config=PRESETS[spec], dataset=dataset, space=space, device=device)
    cls = get_estimator_class(spec)
    if spec == "oracle":
        if truth is None:
            raise EstimatorError("estimator 'oracle' needs a ground-truth table (--truth)")
        return cls(benchmark=truth, metric=metric or truth.default_metric)
    if spec == "bpe":
        return cls(dataset=dataset, space=space, device=device)
    from bpe.estimators.zero_cost import TrainingFreeEstimator

    if issubclass(cls, TrainingFreeEstimator):
        kwargs = {k: v for k, v in (options or {}).items() if v is not None}
        return cls(dataset=dataset, device=device, space=space, **kwargs)
    return cls()
