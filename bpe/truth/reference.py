"""A project-trained *reference* benchmark: the ground truth for spaces and datasets without a
published table.  Sampled archs are trained under a higher-budget :class:`BPEConfig` and the
results cached on disk (this is how the BPE paper built its own: 100 fully trained archs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bpe.config import BPEConfig
from bpe.data import DatasetSpec
from bpe.errors import ConfigError
from bpe.parallel import Runner
from bpe.truth.base import Benchmark

if TYPE_CHECKING:
    from bpe.training import TimingAssumptions

__all__ = ["ReferenceBenchmark", "TrainingPlan", "REFERENCE_CONFIGS", "reference_config"]

#: Default reference budgets per dataset (much larger than typical proxies).
REFERENCE_CONFIGS: dict[str, BPEConfig] = {
    # digits (8x8): the Quickstart's ground truth (all the data, 30 epochs, two cells per stage:
    # 8 layers = NB201 N=2; about 4 CPU-seconds per arch, so a live MIP run fits in the Quickstart's few minutes).
    "digits": BPEConfig(epochs=30, batch_size=64, learning_rate=0.05, layers=8, channels=8,
                        image_size=8, data_fraction=1.0, seed=0),
    # CIFAR-scale data: a reduced NB201 recipe (use the NB201 table where one exists).
    "default": BPEConfig(epochs=50, batch_size=256, learning_rate=0.1, layers=17, channels=16,
                         image_size=32, data_fraction=1.0, seed=0),
}


def reference_config(dataset: str) -> BPEConfig:
    """The default reference budget for ``dataset``."""
    return REFERENCE_CONFIGS.get(dataset, REFERENCE_CONFIGS["default"])


@dataclass(frozen=True)
class TrainingPlan:
    """What answering a sample of archs would train, before any training: ``n_to_train`` of
    ``n_archs`` (the rest are cached) under ``config``, estimated at ``seconds_per_arch`` each,
    ``seconds`` in all; ``assumed``: how the estimate was timed (``None`` when nothing is to train)."""

    n_archs: int
    n_to_train: int
    config: BPEConfig
    seconds_per_arch: float = 0.0
    seconds: float = 0.0
    assumed: TimingAssumptions | None = None


class ReferenceBenchmark(Benchmark):
    """Ground truth = validation accuracy after training under ``config`` (cached on disk).

    Args:
        dataset: the data to train on.
        config: the reference budget (default: :func:`reference_config`).
        space: search-space name.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    default_metric = "valid_accuracy"

    def __init__(self, dataset: DatasetSpec, config: BPEConfig | None = None, *, space: str = "nb201",
                 device: str = "auto") -> None:
        from bpe.estimators.proxy import ProxyTrainingEstimator  # torch-heavy

        self.dataset = dataset
        self.config = config if config is not None else reference_config(dataset.name)
        if self.config.report != "valid_accuracy":
            raise ConfigError(f"a reference truth is the validation accuracy; its config reports "
                              f"'{self.config.report}': drop 'report' from --reference-config")
        self.estimator = ProxyTrainingEstimator(self.config, dataset, space=space, device=device)
        self._records: dict[str, Any] = {}

    @property
    def metrics(self) -> list[str]:
        return ["valid_accuracy"]

    def query_many(self, archs: Sequence[Any], metric: str | None = None, *, runner: Any = None) -> list[float]:
        self.check_metric(metric)
        records = (runner or Runner(progress=False)).run(self.estimator, archs, desc="reference")
        for record in records:
            self._records[record.arch] = record
        return [record.score if record.ok else math.nan for record in records]

    def query(self, arch: Any, metric: str | None = None) -> float:
        return self.query_many([arch], metric)[0]

    def train_seconds(self, arch: Any, epochs: int) -> float | None:
        record = self._records.get(str(arch))
        if record is None or not record.cost.epochs:
            return None
        return record.cost.seconds * epochs / record.cost.epochs

    def measured_seconds(self, arch: Any) -> float | None:
        record = self._records.get(str(arch))
        return record.cost.seconds if record is not None else None

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "reference", **self.estimator.fingerprint()}

    def describe(self) -> str:
        """One line: the reference budget."""
        return "reference " + self.estimator.describe()

    def plan(self, archs: Sequence[Any], cache: Any = None, *, timing_archs: int = 3,
             timing_steps: int = 5) -> TrainingPlan:
        """What answering ``archs`` would train, before any training: the archs not yet in
        ``cache`` and an estimate of their total compute seconds.

        The estimate is timed the way the trainings will run (:func:`bpe.training.time_training_steps`:
        the same threads per job, layout, batches, optimiser and precision): the median of
        ``timing_steps`` steps of each of the first ``timing_archs`` archs to train, so one step
        slowed by other work on the machine does not move it; scaled to the config's steps and
        epochs plus a timed validation pass, averaged over the timed archs.  ``assumed`` says
        what it assumed.
        """
        from bpe.training import estimate_run_seconds  # torch-heavy

        fingerprint = self.estimator.fingerprint()
        todo = [str(a) for a in archs
                if cache is None or (r := cache.get(fingerprint, str(a))) is None or not self.estimator.reusable(r)]
        if not todo:
            return TrainingPlan(n_archs=len(archs), n_to_train=0, config=self.config)
        per_arch, assumed = estimate_run_seconds(todo[:timing_archs], self.config, self.dataset,
                                                 space=self.estimator.space, device=self.estimator.device,
                                                 steps=timing_steps)
        return TrainingPlan(n_archs=len(archs), n_to_train=len(todo), config=self.config, seconds_per_arch=per_arch,
                            seconds=per_arch * len(todo), assumed=assumed)
