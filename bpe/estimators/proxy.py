"""``ProxyTrainingEstimator``: a budgeted performance estimator (BPE) — short proxy training
under a :class:`~bpe.config.BPEConfig`, scored by validation accuracy."""

from __future__ import annotations

from typing import Any

import torch

from bpe.config import BPEConfig
from bpe.data import DatasetSpec, prepare_split
from bpe.estimators import register_estimator
from bpe.estimators.base import Cost, Estimator, EvalRecord

__all__ = ["ProxyTrainingEstimator"]


@register_estimator("bpe")
class ProxyTrainingEstimator(Estimator):
    """Score = validation accuracy (percent) after training under ``config``.

    Args:
        config: the proxy-training setting.
        dataset: which data to train and validate on.
        space: search-space name.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(
        self,
        config: BPEConfig | None = None,
        dataset: DatasetSpec | None = None,
        *,
        space: str = "nb201",
        device: str = "auto",
    ) -> None:
        self.config = config if config is not None else BPEConfig()
        self.dataset = dataset if dataset is not None else DatasetSpec("digits")
        self.space = space
        self.device = device

    def fingerprint(self) -> dict[str, Any]:
        return {
            "estimator": self.name,
            "space": self.space,
            "config": self.config.to_dict(),
            "data": self.dataset.fingerprint(),
        }

    def _evaluate(self, arch: str) -> EvalRecord:
        from bpe.training import train_and_evaluate

        data = prepare_split(self.dataset, self.config.data_fraction)
        result = train_and_evaluate(arch, self.config, data, space=self.space, device=self.device)
        steps = result.epochs_run * max(1, len(data.train_y) // min(self.config.batch_size, len(data.train_y)))
        info = {
            "valid_loss": result.valid_loss,
            "train_loss": result.train_loss,
            "data_seconds": result.data_seconds,
            "eval_seconds": result.eval_seconds,
            "device": result.device,
            "threads": torch.get_num_threads(),
            "num_params": result.num_params,
            "n_train": len(data.train_y),
            "n_valid": len(data.valid_y),
        }
        return EvalRecord(
            arch=arch,
            score=result.valid_accuracy,
            status=result.status,
            cost=Cost(seconds=result.seconds, epochs=result.epochs_run, forward_passes=steps),
            error=result.error,
            info=info,
        )

    def describe(self) -> str:
        c = self.config
        return (
            f"bpe(epochs={c.epochs}, C={c.channels}, N={c.cells_per_stage}, {c.image_size}px, "
            f"batch={c.batch_size}, lr={c.learning_rate}, data={c.data_fraction:g}, {c.precision})"
        )
