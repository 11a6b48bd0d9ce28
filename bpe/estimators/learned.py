"""A learned blend: a small scikit-learn model over member estimators' scores and cell features,
fitted by ``bpe mip`` on its labelled search archs (GRAF-style: Kadlecová et al., ICML 2024,
pair zero-cost scores and cell features with a forest).

What the model sees of an arch: the raw score of every member (training-free scorers, a proxy
setting's readouts), and, when chosen, the features of its cell's graph (op counts, live paths,
degrees: :meth:`~bpe.spaces.base.SearchSpace.graph_features`).  A missing member score is imputed with the median
of that member over the rows the model was fitted on.  What it predicts: the arch's normalised
rank of the truth among those rows, so one arch's score does not depend on the others scored
with it, and a learned blend can guide a search that scores archs one by one.

The model is an extra-trees regressor (``extra-trees``, seeded, deterministic) or the mean of
one and a ridge regression (``trees+ridge``): the ridge sees each member's score as its empirical
CDF among the fitted rows (the share of fitted archs it beats, so a per-arch, scale-free rank)
and the cell's features standardised, its penalty chosen by leave-one-out among
:data:`RIDGE_ALPHAS`.  The two err differently (the trees in steps, the ridge smoothly and
monotonically), so their mean ranks better than either at the 50-100 labels MIP has: in a
development study on NASLib's zero-cost scores of NB201 cells not used by any reported figure,
70 labels, 20 seeded draws, the mean gained 0.01-0.03 rho over extra-trees alone for every
feature set tried (``experiments/learned_model_dev.py``).  A ``bpe.json`` stores what it
was fitted on (the member scores and the targets of the search archs) and its parameters, not a
pickle: the model is refitted when the file is read, identically on any machine with the same
scikit-learn.  Its cost is the sum of its members' costs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from bpe.config import exported_estimator
from bpe.errors import EstimatorError
from bpe.estimators import get_estimator_class, register_estimator
from bpe.estimators.base import Estimator
from bpe.estimators.vote import combined_records, member_estimator, member_spec
from bpe.records import EvalRecord
from bpe.spaces import get_space

__all__ = ["LearnedBlend", "MODEL_KINDS", "TreesAndRidge", "empirical_cdf", "fit_model", "feature_matrix",
           "rank_targets", "fit_rows", "predict_rows"]

#: The model kinds a learned blend may use.
MODEL_KINDS = ("extra-trees", "trees+ridge")

#: The ridge penalties ``trees+ridge`` chooses among (by leave-one-out on the fitted rows).
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))


def rank_targets(truths: Sequence[float]) -> np.ndarray:
    """The normalised ranks of ``truths`` (average ranks for ties, divided by their number: the best is 1)."""
    from scipy.stats import rankdata

    values = np.asarray(truths, dtype=float)
    return rankdata(values) / len(values)


def feature_matrix(columns: Sequence[Sequence[float | None]], archs: Sequence[str], *, space: str,
                   cell: bool, medians: Sequence[float] | None = None) -> tuple[np.ndarray, list[float]]:
    """(features, medians): one row per arch, the member scores (``None`` or non-finite imputed
    with ``medians``, by default each column's median over these rows) then, with ``cell``, the
    space's graph features of the arch."""
    raw = np.array([[np.nan if v is None or not math.isfinite(float(v)) else float(v) for v in col]
                    for col in columns], dtype=float).reshape(len(columns), len(archs)).T
    if medians is None:
        medians = [float(np.nanmedian(raw[:, j])) if np.isfinite(raw[:, j]).any() else 0.0 for j in range(raw.shape[1])]
    filled = np.where(np.isfinite(raw), raw, np.asarray(medians, dtype=float)[None, :]) if raw.size else raw
    if cell:
        filled = np.hstack([filled, get_space(space).graph_features(list(archs))[1].reshape(len(archs), -1)])
    return filled, list(medians)


def empirical_cdf(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per column, the share of ``reference``'s rows at or below each of ``values``' entries."""
    out = np.empty(values.shape, dtype=float)
    for j in range(values.shape[1]):
        column = np.sort(reference[:, j])
        out[:, j] = np.searchsorted(column, values[:, j], side="right") / max(len(column), 1)
    return out


class TreesAndRidge:
    """The mean of an extra-trees regressor on the features and a ridge regression on the member
    scores' empirical CDFs (among the fitted rows) and the remaining (cell) features, standardised."""

    def __init__(self, n_scores: int, *, n_estimators: int, min_samples_leaf: int, seed: int) -> None:
        from sklearn.ensemble import ExtraTreesRegressor

        self.n_scores = n_scores
        self.trees = ExtraTreesRegressor(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                                         random_state=seed, n_jobs=1)

    def _ridge_features(self, features: np.ndarray) -> np.ndarray:
        scores = empirical_cdf(self.reference_, features[:, :self.n_scores])
        return np.hstack([scores, features[:, self.n_scores:]])

    def fit(self, features: np.ndarray, targets: np.ndarray) -> TreesAndRidge:
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.reference_ = features[:, :self.n_scores].copy()
        self.trees.fit(features, targets)
        self.ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS)).fit(
            self._ridge_features(features), targets)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return (self.trees.predict(features) + self.ridge.predict(self._ridge_features(features))) / 2.0


def fit_model(features: np.ndarray, targets: Sequence[float], params: Mapping[str, Any], *,
              n_scores: int | None = None) -> Any:
    """The fitted model ``params`` describe (``kind``, ``n_estimators``, ``min_samples_leaf``,
    ``seed``); ``n_scores``: how many leading columns are member scores (the rest: cell features;
    default all)."""
    kind = params.get("kind", "extra-trees")
    if kind not in MODEL_KINDS:
        raise EstimatorError(f"a learned blend's model must be one of {', '.join(MODEL_KINDS)}, got {kind!r}; the "
                             "bpe.json is damaged: export it again with bpe mip")
    from sklearn.ensemble import ExtraTreesRegressor

    trees = {"n_estimators": int(params.get("n_estimators", 200)),
             "min_samples_leaf": int(params.get("min_samples_leaf", 1)), "seed": int(params.get("seed", 0))}
    y = np.asarray(targets, dtype=float)
    if kind == "trees+ridge":
        return TreesAndRidge(features.shape[1] if n_scores is None else n_scores, **trees).fit(features, y)
    model = ExtraTreesRegressor(n_estimators=trees["n_estimators"], min_samples_leaf=trees["min_samples_leaf"],
                                random_state=trees["seed"], n_jobs=1)
    return model.fit(features, y)


def fit_rows(rows: Sequence[Sequence[float | None]], archs: Sequence[str], targets: Sequence[float], *,
             model: Mapping[str, Any], cell: bool, space: str) -> tuple[Any, list[float]]:
    """(fitted model, imputation medians) of the labelled ``rows`` (one per member) of ``archs``."""
    features, medians = feature_matrix(rows, archs, space=space, cell=cell)
    return fit_model(features, rank_targets(targets), model, n_scores=len(rows)), medians


def predict_rows(fitted: tuple[Any, list[float]], columns: Sequence[Sequence[float | None]], archs: Sequence[str], *,
                 cell: bool, space: str) -> list[float]:
    """The scores a :func:`fit_rows` model gives ``archs`` from their member scores (one column per member)."""
    model, medians = fitted
    features, _ = feature_matrix(columns, archs, space=space, cell=cell, medians=medians)
    return [float(v) for v in model.predict(features)]


@register_estimator("learned")
class LearnedBlend(Estimator):
    """A model over ``members``' scores (and cell features) fitted on labelled rows (module doc).

    Args:
        members: the estimators whose scores are features (at least one, distinct).
        rows: per member, its scores on the ``archs`` the model is fitted on (``None`` where it failed).
        archs: the archs of the rows.
        targets: their truths (any monotone scale: they are turned into ranks).
        model: the model's parameters (``kind``, ``n_estimators``, ``min_samples_leaf``, ``seed``).
        cell: whether the cell's graph features are features.
        space: the search space (for the encoding).
    """

    population: ClassVar[bool] = False
    #: members are scored through the runner (so through the cache), one arch's score on its own
    composite: ClassVar[bool] = True

    def __init__(self, members: Sequence[Estimator], rows: Sequence[Sequence[float | None]], archs: Sequence[str],
                 targets: Sequence[float], *, model: Mapping[str, Any], cell: bool = False,
                 space: str = "nb201") -> None:
        if not members and not cell:
            raise EstimatorError("a learned blend needs a member estimator or the cell's graph features")
        names = [m.describe() for m in members]
        if len(set(names)) < len(names):
            raise EstimatorError(f"a learned blend lists the same member twice ({', '.join(names)})")
        if any(getattr(m, "population", False) for m in members):
            raise EstimatorError("a learned blend's members score archs one by one (no vote or blend)")
        if len(rows) != len(members) or any(len(r) != len(archs) for r in rows) or len(targets) != len(archs):
            raise EstimatorError(f"a learned blend needs one row of {len(archs)} scores per member and one target per "
                                 f"arch; got {len(rows)} rows for {len(members)} members and {len(targets)} targets")
        if len(archs) < 3:
            raise EstimatorError(f"a learned blend is fitted on at least 3 labelled archs, got {len(archs)}")
        self.members, self.rows, self.archs = list(members), [list(r) for r in rows], [str(a) for a in archs]
        self.targets, self.model_params = [float(t) for t in targets], dict(model)
        self.cell, self.space = bool(cell), space
        self._groups = [repr(m.fingerprint()) for m in self.members]  # a proxy's readouts: one training, one cost
        self.fitted_ = fit_rows(self.rows, self.archs, self.targets, model=self.model_params, cell=self.cell, space=space)

    # -- building ---------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], context: Any) -> LearnedBlend:
        """The blend of a ``bpe.json``'s ``estimator`` entry (see :meth:`to_spec`), on ``context``'s data and device."""
        fitted_on = spec.get("dataset")
        given = getattr(context.dataset, "name", None)
        if fitted_on and spec.get("members") and given and given != fitted_on:
            raise EstimatorError(f"this learned blend was fitted on its members' scores on {fitted_on}; scores on "
                                 f"{given} are on another scale: pass --dataset {fitted_on}, or run bpe mip on {given}")
        try:
            members = [member_estimator(m, context) for m in spec["members"]]
            return cls(members, spec["rows"], spec["archs"], spec["targets"], model=spec["model"],
                       cell=bool(spec.get("cell", False)), space=spec.get("space", context.space))
        except KeyError as err:
            raise EstimatorError(f"the learned blend in the bpe.json lacks {err}; export it again with bpe mip") from None

    @classmethod
    def from_context(cls, context: Any) -> LearnedBlend:
        spec = exported_estimator(context.path) if context.path else None
        if spec is None or spec.get("family") != "learned":
            raise EstimatorError("a learned blend is read from the bpe.json that `bpe mip` exported (--estimator bpe.json)")
        return cls.from_spec(spec, context)

    @classmethod
    def tiny(cls, context: Any) -> LearnedBlend:
        members = [get_estimator_class(name).tiny(context) for name in ("params", "naswot")]
        archs = [str(a) for a in get_space(context.space).sample(6, 0)]
        rows = [[float(i) for i in range(6)], [float(-i) for i in range(6)]]
        return cls(members, rows, archs, [float(i) for i in range(6)], model={"n_estimators": 10, "seed": 0},
                   cell=True, space=context.space)

    def to_spec(self) -> dict[str, Any]:
        """The ``estimator`` entry of a ``bpe.json`` that rebuilds this blend."""
        return {"family": "learned", "members": [member_spec(m) for m in self.members], "rows": self.rows,
                "archs": self.archs, "targets": self.targets, "model": self.model_params, "cell": self.cell,
                "space": self.space}

    # -- scoring ----------------------------------------------------------------------
    @property
    def reads_data(self) -> bool:
        return any(m.reads_data for m in self.members)

    @property
    def cheap(self) -> bool:  # type: ignore[override]
        """Graph features alone: a model lookup, nothing worth caching."""
        return not self.members

    def fingerprint(self) -> dict[str, Any]:
        return {"estimator": self.name, "members": [m.fingerprint() for m in self.members],
                "rows": self.rows, "archs": self.archs, "targets": self.targets, "model": self.model_params,
                "cell": self.cell, "space": self.space}

    def describe(self) -> str:
        parts = [m.describe() for m in self.members] + (["cell graph"] if self.cell else [])
        return f"learned({', '.join(parts)}; {len(self.archs)} labels)"

    def predict(self, columns: Sequence[Sequence[float | None]], archs: Sequence[str]) -> list[float]:
        """The model's scores of ``archs`` given each member's scores of them (one column per member)."""
        return predict_rows(self.fitted_, columns, archs, cell=self.cell, space=self.space)

    def _records(self, archs: Sequence[str], per_member: Sequence[Sequence[EvalRecord]]) -> list[EvalRecord]:
        columns = [[r.score if r.ok else None for r in records] for records in per_member]
        predictions = self.predict(columns, archs)
        scored = [p if not columns or any(c[i] is not None for c in columns) else None
                  for i, p in enumerate(predictions)]
        return combined_records(archs, per_member, scored, [m.describe() for m in self.members], "the learned blend",
                                self._groups)

    def score_population(self, archs: Sequence[str], runner: Any) -> list[EvalRecord]:
        """Each of ``archs`` scored on its own, its members through ``runner`` (so through the cache)."""
        return self._records(list(archs), [runner.run(m, archs, desc=m.name) for m in self.members])

    def _evaluate(self, arch: str) -> EvalRecord:
        measured: dict[str, EvalRecord] = {}  # a proxy's readouts share one training
        per_member = []
        for m, key in zip(self.members, self._groups):
            if key not in measured:
                measured[key] = m.measure(arch)
            per_member.append([m.finalize(measured[key])])
        return self._records([arch], per_member)[0]
