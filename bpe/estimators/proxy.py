"""``ProxyTrainingEstimator``: a budgeted performance estimator (BPE) — short proxy training
under a :class:`~bpe.config.BPEConfig`, scored by what the config reports (validation accuracy,
validation loss or the training-speed estimate), all read off one cached training run."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch

from bpe.config import BPEConfig
from bpe.data import DatasetSpec
from bpe.estimators import register_estimator
from bpe.estimators.base import Estimator
from bpe.records import Cost, EvalRecord
from bpe.runtime import layout_key, ran_in_planned_layout
from bpe.spaces import get_space
from bpe.training import steps_per_epoch, train_and_evaluate

__all__ = ["ProxyTrainingEstimator", "reported_score", "training_key"]


def reported_score(report: str, valid_accuracy: float | None, valid_loss: float | None,
                   train_losses: Sequence[float] | None) -> float | None:
    """The score a run reports under ``report`` (higher is better; ``None`` when unavailable).

    ``valid_accuracy`` as is; ``valid_loss`` negated; ``tse`` the negated sum of the per-epoch
    mean training losses (Ru et al. 2021, TSE); ``tse_e1`` the negated last one (TSE-E, E=1).
    """
    if report == "valid_accuracy":
        return valid_accuracy
    if report == "valid_loss":
        return None if valid_loss is None else -float(valid_loss)
    if not train_losses:
        return None
    if report == "tse":
        return -float(sum(train_losses))
    if report == "tse_e1":
        return -float(train_losses[-1])
    raise ValueError(f"unknown report '{report}'")


def training_key(config: BPEConfig, space: str) -> dict[str, Any]:
    """What determines a proxy training run of ``config`` in ``space``: the config's training
    fields with ``layers`` as the space builds it (NB201: ``cells_per_stage``, so layers that give
    the same network share one run)."""
    key = config.training_dict()
    key.pop("layers")
    return {**key, **get_space(space).size_key(channels=config.channels, layers=config.layers)}


@register_estimator("bpe")
class ProxyTrainingEstimator(Estimator):
    """Score = what ``config.report`` names, after training under ``config``.

    The cache holds the training run (keyed by the config without ``report``), so the same
    run serves every report.

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
        get_space(space).check_config(self.config)  # a training feature the space lacks: before any work

    def fingerprint(self) -> dict[str, Any]:
        return {
            "estimator": self.name,
            "space": self.space,
            "config": training_key(self.config, self.space),
            "data": self.dataset.fingerprint(),
            **layout_key(self.device),
        }

    def _evaluate(self, arch: str) -> EvalRecord:
        result = train_and_evaluate(arch, self.config, self.dataset, space=self.space, device=self.device)
        steps = result.epochs_run * steps_per_epoch(result.n_train, self.config.batch_size)
        info = {
            "valid_loss": result.valid_loss,
            "train_loss": result.train_loss,
            "data_seconds": result.data_seconds,
            "eval_seconds": result.eval_seconds,
            "device": result.device,
            "threads": torch.get_num_threads(),
            "layout": result.layout,
            "num_params": result.num_params,
            "n_train": result.n_train,
            "n_valid": result.n_valid,
            "valid_accuracy": result.valid_accuracy,
            "train_losses": [h["train_loss"] for h in result.history],
        }
        return EvalRecord(
            arch=arch,
            score=result.valid_accuracy,
            status=result.status,
            cost=Cost(seconds=result.seconds, epochs=result.epochs_run, forward_passes=steps),
            error=result.error,
            info=info,
        )

    def reusable(self, record: EvalRecord) -> bool:
        # records written before the report knob lack the per-epoch training losses; a record
        # trained in another layout than its key says (a worker whose device differs from the
        # coordinating process's) is trained again
        if record.ok and "train_losses" not in record.info:
            return False
        return ran_in_planned_layout(record.info, self.device)

    def finalize(self, record: EvalRecord) -> EvalRecord:
        if not record.ok or self.config.report == "valid_accuracy":
            return record
        info = record.info
        score = reported_score(self.config.report, info.get("valid_accuracy", record.score),
                               info.get("valid_loss"), info.get("train_losses"))
        if score is None or not math.isfinite(score):
            return dataclasses.replace(record, score=None, status="failed",
                                       error=f"the run recorded no usable {self.config.report} ({score})")
        return dataclasses.replace(record, score=score)

    @classmethod
    def from_context(cls, context: Any) -> ProxyTrainingEstimator:
        return cls(context.config, context.dataset, space=context.space, device=context.device)

    @classmethod
    def tiny(cls, context: Any) -> ProxyTrainingEstimator:
        config = BPEConfig(epochs=1, batch_size=64, learning_rate=0.05, layers=5, channels=4, image_size=8,
                           data_fraction=0.3)
        return cls(config, DatasetSpec("digits"), space=context.space, device="cpu")

    def with_report(self, report: str) -> ProxyTrainingEstimator:
        """The same estimator reporting ``report``: it shares the cached training runs."""
        return ProxyTrainingEstimator(self.config.replace(report=report), self.dataset, space=self.space,
                                      device=self.device)

    def with_seed(self, seed: int) -> ProxyTrainingEstimator:
        """The same setting trained with another seed (to measure its seed-to-seed noise)."""
        return ProxyTrainingEstimator(self.config.replace(seed=seed), self.dataset, space=self.space,
                                      device=self.device)

    def describe(self) -> str:
        c = self.config
        reported = "" if c.report == "valid_accuracy" else f", report={c.report}"
        return (
            f"bpe(epochs={c.epochs}, {get_space(self.space).describe_size(channels=c.channels, layers=c.layers)}, "
            f"{c.image_size}px, "
            f"batch={c.batch_size}, lr={c.learning_rate}, data={c.data_fraction:g}, {c.precision}, "
            f"cutout={c.cutout}{reported})"
        )
