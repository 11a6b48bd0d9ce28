"""Whether a ground truth can belong to a dataset: a CIFAR-10 table is no truth for digits, a
reference trained on one dataset none for another, and a scores file is no truth at all."""

from __future__ import annotations

from typing import Any

from bpe.errors import TruthError

__all__ = ["truth_dataset", "check_truth_dataset"]

#: Dataset named by a benchmark metric (first match wins: cifar100 before cifar10).
_METRIC_DATASETS = (("cifar100", "cifar100"), ("imagenet16", "imagenet16-120"), ("cifar10", "cifar10"))


def truth_dataset(truth: Any, metric: str) -> str | None:
    """The dataset ``truth``'s ``metric`` was measured on, or ``None`` when it does not say."""
    dataset = getattr(truth, "dataset", None)
    if dataset is not None and hasattr(dataset, "name"):
        return dataset.name
    lowered = metric.lower()
    return next((name for key, name in _METRIC_DATASETS if key in lowered), None)


def check_truth_dataset(truth: Any, metric: str, dataset: Any, *, allow_mismatch: bool = False,
                        needs_dataset: bool = True) -> str | None:
    """Refuse a truth that cannot belong to ``dataset`` (unless ``allow_mismatch``); returns the
    truth's dataset.  ``needs_dataset=False`` (an estimator that reads no data, e.g. the oracle)
    only refuses a truth that names no dataset at all."""
    own = truth_dataset(truth, metric)
    hint = "pass --allow-mismatch if you mean to compare them"
    if own is None:
        if f"{metric}_seconds" in getattr(truth, "metrics", ()) and not allow_mismatch:
            raise TruthError(f"the truth is a scores file from `bpe score` (column '{metric}' with "
                             f"'{metric}_seconds'), not a ground truth; give a benchmark table such as "
                             f"nb201_groundtruth.csv with --metric, or {hint}")
        return None  # a user's own table (e.g. for an array folder): its metric does not say
    if needs_dataset and dataset is not None and own != dataset.name and not allow_mismatch:
        reference = getattr(truth, "dataset", None)
        what = f"a reference trained on {own}" if reference is not None else f"metric '{metric}' is measured on {own}"
        raise TruthError(f"the truth cannot belong to --dataset {dataset.name}: {what}; "
                         f"pass --dataset {own} (with its --data-dir), another --truth, or {hint}")
    if needs_dataset and dataset is not None and own == dataset.name:
        ref = getattr(truth, "dataset", None)
        if ref is not None and getattr(ref, "data_dir", None) != getattr(dataset, "data_dir", None) and not allow_mismatch:
            raise TruthError(f"the reference truth was trained on {own} from {ref.data_dir}, the estimator reads "
                             f"{dataset.data_dir}; use one data folder, or {hint}")
    return own
