"""What a MIP job hands its caller: the exported ``bpe.json`` document and, typed, what a
person reads first (the pruning order, why it stopped, the chosen estimator with its search and
confirmation ρ, the cost model's error, the training-free baseline's verdict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ChosenEstimator", "BaselineVerdict", "CostModelError", "MIPReport"]


def _interval(values: Any) -> tuple[float | None, float | None]:
    lo, hi = (list(values) + [None, None])[:2] if values is not None else (None, None)
    return lo, hi


@dataclass(frozen=True)
class ChosenEstimator:
    """The exported estimator as MIP measured it: its family (``proxy``, ``scorer``, ``blend``,
    ``learned``), name, ρ and τ on the search archs, cost per arch, and the forecast ρ on the
    confirmation archs it was not chosen on (``None`` without confirmation archs)."""

    family: str
    name: str
    spearman: float | None
    spearman_ci95: tuple[float | None, float | None]
    kendall: float | None
    n_archs: int
    cost_per_arch: float | None
    cost_unit: str
    confirmation_spearman: float | None = None
    confirmation_spearman_ci95: tuple[float | None, float | None] = (None, None)
    confirmation_n_archs: int | None = None
    study_storage: str | None = None

    @classmethod
    def from_measured(cls, m: Mapping[str, Any]) -> ChosenEstimator:
        study = m.get("study") or {}
        return cls(family=m.get("family", "proxy"), name=str(m["name"]), spearman=m["spearman"],
                   spearman_ci95=_interval(m.get("spearman_ci95")), kendall=m["kendall"], n_archs=int(m["n_archs"]),
                   cost_per_arch=m["cost_per_arch"], cost_unit=m["cost_unit"],
                   confirmation_spearman=m.get("confirmation_spearman"),
                   confirmation_spearman_ci95=_interval(m.get("confirmation_spearman_ci95")),
                   confirmation_n_archs=m.get("confirmation_n_archs"), study_storage=study.get("storage"))


@dataclass(frozen=True)
class BaselineVerdict:
    """Whether the chosen setting is worth its cost against a training-free baseline: ``worth``
    True (its interval lies above the baseline's), False (``n_above`` settings within the cap lie
    above), or ``None`` (not judged, ``reason`` says why)."""

    name: str
    spearman: float | None
    spearman_ci95: tuple[float | None, float | None]
    cost_per_arch: float
    worth: bool | None
    n_above: int | None
    reason: str | None

    @classmethod
    def from_document(cls, b: Mapping[str, Any]) -> BaselineVerdict:
        return cls(name=str(b["baseline"]), spearman=b["baseline_spearman"],
                   spearman_ci95=_interval(b.get("baseline_spearman_ci95")), cost_per_arch=b["baseline_cost_per_arch"],
                   worth=b.get("worth"), n_above=b.get("n_settings_above_baseline"), reason=b.get("reason"))


@dataclass(frozen=True)
class CostModelError:
    """The cost model's leave-one-out relative error over ``n_settings`` measured settings."""

    median: float
    max: float
    n_settings: int


@dataclass(frozen=True)
class MIPReport:
    """A finished MIP run: ``document`` is the ``bpe.json`` written (the exported contract);
    the other fields are read from it once, here, for whoever reports the run."""

    document: dict[str, Any]
    pruning_order: tuple[str, ...]
    stop_reason: str
    n_settings_measured: int
    chosen: ChosenEstimator | None
    cost_model_error: CostModelError | None
    baseline: BaselineVerdict | None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> MIPReport:
        """The report of the ``bpe.json`` document ``doc``."""
        model = doc.get("cost_model") or {}
        error = (CostModelError(model["loo_median_relative_error"], model["loo_max_relative_error"],
                                int(model["n_settings"]))
                 if model.get("loo_median_relative_error") is not None else None)
        measured = doc.get("measured")
        return cls(document=dict(doc),
                   pruning_order=tuple(r["pruned"] for r in doc.get("rounds", []) if r.get("pruned")),
                   stop_reason=str(doc["mip"]["stop_reason"]), n_settings_measured=int(doc["mip"]["n_settings_measured"]),
                   chosen=ChosenEstimator.from_measured(measured) if measured else None, cost_model_error=error,
                   baseline=BaselineVerdict.from_document(doc["baseline"]) if doc.get("baseline") else None)
