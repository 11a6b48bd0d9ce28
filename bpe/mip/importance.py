"""Knob importance from a random forest fitted on (setting -> rank correlation).

* ``fanova`` (default): functional ANOVA (Hutter et al. 2014) through Optuna's maintained
  ``FanovaImportanceEvaluator`` (scikit-learn forests): the fraction of the variance of the
  forest's prediction that each knob explains alone.
* ``mdi``: mean decrease in impurity of a scikit-learn random forest.
* ``permutation``: ``sklearn.inspection.permutation_importance`` of that forest.
* ``ped-anova``: Optuna's ``PedAnovaImportanceEvaluator`` (Watanabe et al. 2023: how much each
  knob's value distribution among the best settings differs from all), over the knob values as
  categories, exactly as ``optuna-dashboard`` computes the importance panel of the run's study;
  deterministic, so every seed agrees.

Every method is repeated over forest seeds and reported as mean and standard deviation; the
same forests give each knob's partial dependence (predicted rho per value, the other knobs
averaged over the measured settings), which the pruning rule uses.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpe.errors import ConfigError
from bpe.mip.knobs import KnobSpace

__all__ = ["IMPORTANCE_METHODS", "Importance", "knob_importance", "knob_categories", "partial_dependence"]

log = logging.getLogger(__name__)

IMPORTANCE_METHODS = ("fanova", "mdi", "permutation", "ped-anova")
N_TREES = 64


@dataclass
class Importance:
    """Importance of every knob over forest seeds.

    Attributes:
        mean, std: knob -> mean and standard deviation over seeds.
        per_seed: one knob -> importance mapping per forest seed.
        method: the method used.
    """

    mean: dict[str, float]
    std: dict[str, float]
    per_seed: list[dict[str, float]] = field(default_factory=list)
    method: str = "fanova"

    def least(self, among: Sequence[str]) -> str:
        """The knob of ``among`` with the lowest mean importance (ties: the first listed)."""
        return min(among, key=lambda k: (self.mean[k], list(among).index(k)))

    def agreement(self, among: Sequence[str]) -> float:
        """Fraction of forest seeds whose own least important knob of ``among`` is :meth:`least`."""
        chosen = self.least(among)
        votes = [min(among, key=lambda k: (seed[k], list(among).index(k))) == chosen for seed in self.per_seed]
        return float(np.mean(votes)) if votes else float("nan")


def _forest(seed: int):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=N_TREES, random_state=seed, min_samples_leaf=1, bootstrap=True)


def _fanova(space: KnobSpace, settings: Sequence[Mapping[str, Any]], y: np.ndarray, seed: int) -> dict[str, float]:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = {}
    for name, grid in space.grids.items():
        if grid.scale == "categorical":
            dists[name] = CategoricalDistribution(list(range(len(grid.values))))
        else:
            lo, hi = grid.bounds()
            dists[name] = FloatDistribution(lo, hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize")
        for setting, value in zip(settings, y):
            params = {}
            for name, grid in space.grids.items():
                code = grid.encode(setting[name])
                params[name] = int(code) if grid.scale == "categorical" else float(code)
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(value)))
        result = FanovaImportanceEvaluator(n_trees=N_TREES, seed=seed).evaluate(study)
    return {name: float(result.get(name, 0.0)) for name in space.names}


def knob_categories(space: KnobSpace) -> dict[str, Any]:
    """Each knob as an Optuna categorical distribution over its grid values: how the run's Optuna
    study (:mod:`bpe.mip.study`) records a setting, and what ``ped-anova`` ranks."""
    from optuna.distributions import CategoricalDistribution

    return {name: CategoricalDistribution(list(grid.values)) for name, grid in space.grids.items()}


def _ped_anova(space: KnobSpace, settings: Sequence[Mapping[str, Any]], y: np.ndarray) -> dict[str, float]:
    """PED-ANOVA on a study of the settings as the run's study records them
    (:func:`knob_categories`), normalised to sum 1."""
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = knob_categories(space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize")
        for setting, value in zip(settings, y):
            study.add_trial(optuna.trial.create_trial(params={n: setting[n] for n in space.names}, distributions=dists,
                                                      value=float(value)))
        result = get_param_importances(study, target=lambda t: -t.value, evaluator=PedAnovaImportanceEvaluator())
    return {name: float(result.get(name, 0.0)) for name in space.names}


def knob_importance(space: KnobSpace, settings: Sequence[Mapping[str, Any]], rho: Sequence[float], *,
                    method: str = "fanova", seeds: Sequence[int] = tuple(range(10))) -> Importance:
    """Importance of every knob of ``space`` for predicting ``rho`` from ``settings``.

    Settings with a non-finite rho are left out.  With fewer than 2 usable settings (or a
    constant rho) every importance is 0.
    """
    if method not in IMPORTANCE_METHODS:
        raise ConfigError(f"importance must be one of {', '.join(IMPORTANCE_METHODS)}, got '{method}'")
    keep = [i for i, r in enumerate(rho) if r is not None and np.isfinite(r)]
    settings = [settings[i] for i in keep]
    y = np.array([rho[i] for i in keep], dtype=float)
    per_seed: list[dict[str, float]] = []
    once: dict[str, float] | None = None  # ped-anova is deterministic: one evaluation stands for every seed
    for seed in seeds:
        if len(y) < 2 or np.ptp(y) == 0:
            per_seed.append({name: 0.0 for name in space.names})
            continue
        if method == "fanova":
            per_seed.append(_fanova(space, settings, y, int(seed)))
            continue
        if method == "ped-anova":
            once = once or _ped_anova(space, settings, y)
            per_seed.append(once)
            continue
        x = np.stack([space.encode(s) for s in settings])
        forest = _forest(int(seed)).fit(x, y)
        if method == "mdi":
            values = forest.feature_importances_
        else:
            from sklearn.inspection import permutation_importance

            values = permutation_importance(forest, x, y, n_repeats=10, random_state=int(seed)).importances_mean
        per_seed.append({name: float(v) for name, v in zip(space.names, values)})
    table = np.array([[s[n] for n in space.names] for s in per_seed])
    return Importance(
        mean={n: float(v) for n, v in zip(space.names, table.mean(0))},
        std={n: float(v) for n, v in zip(space.names, table.std(0))},
        per_seed=per_seed,
        method=method,
    )


def partial_dependence(space: KnobSpace, settings: Sequence[Mapping[str, Any]], rho: Sequence[float], knob: str,
                       values: Sequence[Any], *, seeds: Sequence[int] = tuple(range(10))) -> dict[Any, float]:
    """Predicted rho for each of ``values`` of ``knob`` (other knobs as in the measured settings),
    averaged over forests of ``seeds``; with fewer than 2 settings, the mean measured rho per value."""
    keep = [i for i, r in enumerate(rho) if r is not None and np.isfinite(r)]
    settings = [settings[i] for i in keep]
    y = np.array([rho[i] for i in keep], dtype=float)
    if len(y) < 2:
        return {v: float(np.mean([r for s, r in zip(settings, y) if s[knob] == v] or [np.nan])) for v in values}
    x = np.stack([space.encode(s) for s in settings])
    col = space.names.index(knob)
    out = {v: 0.0 for v in values}
    for seed in seeds:
        forest = _forest(int(seed)).fit(x, y)
        for v in values:
            xv = x.copy()
            xv[:, col] = space[knob].encode(v)
            out[v] += float(forest.predict(xv).mean()) / len(seeds)
    return out
