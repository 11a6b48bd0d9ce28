"""What an estimator may be built from: one context for every registered estimator, so the
factory only parses a spec and each estimator says itself what it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EstimatorContext"]


@dataclass(frozen=True)
class EstimatorContext:
    """Everything an estimator can be built from (each takes what it needs).

    Attributes:
        dataset: the :class:`~bpe.data.DatasetSpec` to train or score on.
        device: ``auto``, ``cpu`` or ``cuda``.
        space: search-space name.
        truth, metric: a ground truth and its metric (the oracle looks scores up in them).
        config: a :class:`~bpe.config.BPEConfig` (proxy training).
        path: a file the estimator reads (a saved predictor).
        options: sizes and settings (batch size, repeats, seed, channels, ...; ``None`` values
            mean the estimator's default).
        workdir: where a tiny test instance may write files.
        members: the specs of the scorers of a vote.
    """

    dataset: Any = None
    device: str = "auto"
    space: str = "nb201"
    truth: Any = None
    metric: str | None = None
    config: Any = None
    path: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    workdir: Path | None = None
    members: tuple[str, ...] = ()

    def given_options(self) -> dict[str, Any]:
        """The options that were set (``None`` dropped)."""
        return {k: v for k, v in self.options.items() if v is not None}
