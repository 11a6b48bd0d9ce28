"""Cost model: predicted cost per architecture of an unseen setting, calibrated on the settings
already measured, so MIP can skip settings that would break the per-arch cap before paying.

``log cost = b0 + sum_k b_k * f_k(value_k)`` with ``f`` the knob's forest encoding (log2 for
log knobs, the value for linear ones, one-hot for categorical ones).  The exponents start at
a prior (training work grows like epochs x data x pixels x channels^2 x cells: on the safe
side, as small networks cost less than their FLOPs say) and are fitted by ridge regression
towards it, so one measurement fixes the scale and more measurements correct the exponents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bpe.mip.knobs import KnobSpace

__all__ = ["CostModel", "PRIOR_EXPONENTS"]

#: Prior log2-exponent of cost per unit of each knob's encoding (knobs not listed: 0).
PRIOR_EXPONENTS: dict[str, float] = {
    "epochs": 1.0, "data_fraction": 1.0, "image_size": 2.0, "channels": 2.0, "layers": 1.0,
    "cells_per_stage": 1.0,  # knob spaces written before `layers`
}


class CostModel:
    """Log-linear cost per architecture, ridge-shrunk towards :data:`PRIOR_EXPONENTS`.

    Args:
        knobs: the knob space (defines the features).
        ridge: strength of the pull towards the prior exponents.
    """

    def __init__(self, knobs: KnobSpace, *, ridge: float = 1.0) -> None:
        self.knobs = knobs
        self.ridge = ridge
        self.columns: list[tuple[str, Any]] = []
        prior = []
        for name, grid in knobs.grids.items():
            if knobs.derived(name):
                continue  # read off the same run: no effect on cost
            if grid.scale == "categorical":
                for value in grid.values[1:]:
                    self.columns.append((name, value))
                    prior.append(0.0)
            else:
                self.columns.append((name, None))
                exponent = PRIOR_EXPONENTS.get(name, 0.0)
                prior.append(exponent if grid.scale == "log" else exponent / max(1.0, np.mean(grid.values)))
        self.prior = np.array(prior, dtype=float)
        self.coef_ = self.prior.copy()
        self.intercept_: float | None = None
        self.n_ = 0

    def features(self, setting: Mapping[str, Any]) -> np.ndarray:
        """Feature row of a setting."""
        row = []
        for name, value in self.columns:
            grid = self.knobs[name]
            row.append(float(setting[name] == value) if value is not None else grid.encode(setting[name]))
        return np.array(row, dtype=float)

    def fit(self, settings: Sequence[Mapping[str, Any]], costs: Sequence[float]) -> CostModel:
        """Calibrate on measured (setting, cost per arch) pairs (costs > 0)."""
        pairs = [(s, c) for s, c in zip(settings, costs) if c is not None and math.isfinite(c) and c > 0]
        self.n_ = len(pairs)
        if not pairs:
            self.intercept_, self.coef_ = None, self.prior.copy()
            return self
        x = np.stack([self.features(s) for s, _ in pairs])
        y = np.log2([c for _, c in pairs])
        z = y - x @ self.prior
        xc, zc = x - x.mean(0), z - z.mean()
        delta = np.linalg.solve(xc.T @ xc + self.ridge * np.eye(x.shape[1]), xc.T @ zc) if x.shape[1] else np.zeros(0)
        self.coef_ = self.prior + delta
        self.intercept_ = float(np.mean(y - x @ self.coef_))
        return self

    def predict(self, setting: Mapping[str, Any]) -> float | None:
        """Predicted cost per arch (``None`` before any measurement)."""
        if self.intercept_ is None:
            return None
        return float(2.0 ** (self.intercept_ + self.features(setting) @ self.coef_))

    def holdout_error(self, settings: Sequence[Mapping[str, Any]], costs: Sequence[float]) -> dict[str, Any]:
        """Leave-one-out error on the measured settings: median and max of |pred/actual - 1|."""
        errors = []
        for i in range(len(settings)):
            rest = [j for j in range(len(settings)) if j != i]
            model = CostModel(self.knobs, ridge=self.ridge).fit([settings[j] for j in rest], [costs[j] for j in rest])
            pred = model.predict(settings[i])
            if pred is not None and costs[i] and costs[i] > 0:
                errors.append(abs(pred / costs[i] - 1.0))
        return {
            "n_settings": len(settings),
            "loo_median_relative_error": float(np.median(errors)) if errors else None,
            "loo_max_relative_error": float(np.max(errors)) if errors else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form: intercept and per-feature log2 exponents."""
        return {
            "form": "log2(cost) = intercept + sum(coef * feature)",
            "intercept": self.intercept_,
            "coef": {f"{n}={v}" if v is not None else n: float(c) for (n, v), c in zip(self.columns, self.coef_)},
            "n_settings": self.n_,
        }
