"""What a whole ``bpe search`` experiment returns, typed: its runs, a summary per algorithm, and
the settings it ran under.  Callers (the CLI, the experiment scripts) read attributes; only
:meth:`to_dict` makes the dict that ``search.json`` is written from, with the keys in the order
that file has always had."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from search_algos.loop import SearchResult

__all__ = ["AlgorithmSummary", "SampleSummary", "OneShotSummary", "SearchRun", "OneShotRun", "SearchContext",
           "SearchExperiment", "OneShotExperiment"]


@dataclass(kw_only=True)
class AlgorithmSummary(ABC):
    """An algorithm's runs summarised: mean and std of each true accuracy (``{metric: {"mean",
    "std"}}``, empty without a truth), the published NAS-Bench-201 row beside it (``None``: none,
    or not comparable), the algorithm's options and its mean seconds per run.

    Attributes:
        published_not_comparable: why the published row is not shown (the run's protocol differs).
        published_note: what to keep in mind comparing with the published row (one-shot methods).
        mean_evaluations: evaluations per run (sample-based searches; ``None`` for one-shot).
        n_failed: runs that failed (one-shot methods; ``None`` for sample-based searches).
    """

    true_accuracy: dict[str, dict[str, float]]
    published: dict[str, tuple[float, float]] | None
    options: dict[str, Any]
    mean_seconds: float
    mean_evaluations: float | None = None
    n_failed: int | None = None
    published_not_comparable: list[str] | None = None
    published_note: str | None = None

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The summary as ``search.json`` writes it."""


@dataclass(kw_only=True)
class SampleSummary(AlgorithmSummary):
    """The summary of a sample-based algorithm's runs (with ``mean_evaluations``)."""

    mean_evaluations: float

    def to_dict(self) -> dict[str, Any]:
        out = {"true_accuracy": self.true_accuracy, "published": self.published, "options": self.options,
               "mean_evaluations": self.mean_evaluations, "mean_seconds": self.mean_seconds}
        if self.published_not_comparable is not None:
            out["published_not_comparable"] = self.published_not_comparable
        return out


@dataclass(kw_only=True)
class OneShotSummary(AlgorithmSummary):
    """The summary of a one-shot method's runs (with ``n_failed``)."""

    n_failed: int

    def to_dict(self) -> dict[str, Any]:
        out = {"true_accuracy": self.true_accuracy, "published": self.published, "mean_seconds": self.mean_seconds,
               "n_failed": self.n_failed, "options": self.options}
        if self.published_note is not None:
            out["published_note"] = self.published_note
        return out


@dataclass
class SearchRun:
    """One sample-based run: its result, the true accuracies of the arch it found (``None``
    without a truth or an arch), and, when kept, the archs it evaluated
    (:func:`~search_algos.orchestrate.evaluated_archs`)."""

    result: SearchResult
    true_accuracy: dict[str, float] | None
    evaluated: list[dict[str, Any]] | None = None

    @property
    def n_evaluations(self) -> int:
        """Archs the run evaluated (charged to its budget)."""
        return self.result.spent.evaluations

    def to_dict(self) -> dict[str, Any]:
        """The run as ``search.json`` writes it (the result without its history)."""
        out = {**self.result.to_dict(with_history=False), "true_accuracy": self.true_accuracy,
               "n_evaluations": self.n_evaluations}
        if self.evaluated is not None:
            out["evaluated"] = self.evaluated
        return out


@dataclass
class OneShotRun:
    """One one-shot run: the derived cell (``None`` when the run ``failed``, with its ``error``),
    its supernet validation accuracy (``score``), wall seconds, whether the cell is
    parameter-free, the final op probabilities, the per-epoch history and the cell's true
    accuracies."""

    algorithm: str
    seed: int
    status: str
    error: str | None
    arch: str | None
    score: float | None
    seconds: float
    parameter_free: bool | None
    probabilities: list[list[float]] | None
    history: list[dict[str, Any]]
    true_accuracy: dict[str, float] | None

    @property
    def cifar10_test(self) -> float | None:
        """The derived cell's CIFAR-10 test accuracy (NAS-Bench-201's), or ``None``."""
        return (self.true_accuracy or {}).get("cifar10_test")

    def to_dict(self) -> dict[str, Any]:
        """The run as ``search.json`` writes it."""
        return {"algorithm": self.algorithm, "seed": self.seed, "status": self.status, "error": self.error,
                "arch": self.arch, "score": self.score, "seconds": self.seconds,
                "parameter_free": self.parameter_free, "probabilities": self.probabilities, "history": self.history,
                "true_accuracy": self.true_accuracy}


@dataclass
class SearchContext:
    """What a ``bpe search`` ran against: the truth, the oracle's metric, the space, the dataset
    and the provenance of the run (software, machine)."""

    truth_source: str | None
    metric: str
    space: str
    dataset: str
    provenance: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"truth_source": self.truth_source, "metric": self.metric, "space": self.space,
                "dataset": self.dataset, "provenance": self.provenance}


@dataclass
class SearchExperiment:
    """R seeded sample-based runs of each algorithm: the runs in order, a summary per algorithm,
    the estimator and budget, and (set by :func:`~search_algos.jobs.search_job`) the context."""

    algorithms: list[str]
    estimator: str
    budget: str
    runs_per_algorithm: int
    seed: int
    summary: dict[str, SampleSummary]
    runs: list[SearchRun] = field(default_factory=list)
    context: SearchContext | None = None

    def to_dict(self) -> dict[str, Any]:
        """The results dict ``search.json`` is written from."""
        out = {"algorithms": list(self.algorithms), "estimator": self.estimator, "budget": self.budget,
               "runs_per_algorithm": self.runs_per_algorithm, "seed": self.seed,
               "summary": {algo: s.to_dict() for algo, s in self.summary.items()},
               "runs": [r.to_dict() for r in self.runs]}
        if self.context is not None:
            out.update(self.context.to_dict())
        return out


@dataclass
class OneShotExperiment:
    """R seeded runs of one one-shot method on ``space``'s supernet, trained under ``estimator``
    (the BPEConfig, as a dict); ``dataset`` set by :func:`~search_algos.jobs.search_job`."""

    algorithms: list[str]
    space: str
    estimator: dict[str, Any]
    runs_per_algorithm: int
    seed: int
    summary: dict[str, OneShotSummary]
    runs: list[OneShotRun] = field(default_factory=list)
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The results dict ``search.json`` is written from."""
        out = {"algorithms": list(self.algorithms), "space": self.space, "estimator": self.estimator,
               "runs_per_algorithm": self.runs_per_algorithm, "seed": self.seed,
               "summary": {algo: s.to_dict() for algo, s in self.summary.items()},
               "runs": [r.to_dict() for r in self.runs]}
        if self.dataset is not None:
            out["dataset"] = self.dataset
        return out
