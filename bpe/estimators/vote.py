"""A vote: the rank-average of several registered scorers (Abdelfattah et al. 2021, Sec. 5.3;
Lopes et al. 2022), ``vote:swap_reg,naswot,synflow`` (or ``vote:swap_reg+naswot+synflow``).

A rank only exists within a population, so a vote scores the archs it is given together:
each member scores every arch (through the runner, so through the cache), each member's scores
are ranked among the archs it scored (average ranks for ties, divided by the number scored, so
a rank lies in (0, 1] and 1 is the best), and an arch's vote is the mean of its ranks over the
members that scored it.  An arch no member scored fails.  Its cost is the sum of its members'
costs.  Scored alone, an arch would rank first in every member: a vote cannot guide a search that
scores one arch at a time, so ``bpe search`` refuses it as the search estimator, and scoring a
single arch is an error.

A :class:`RankBlend` weights its members (a vote is one with equal weights).  One *anchored* on
its first member ranks every member among the archs the first one scored, and an arch the first
one failed fails (a failure is never turned into a score by the other members): a *hybrid*, a
proxy training blended with a training-free scorer at equal weights (``bpe mip``'s ``hybrid`` knob).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.stats import rankdata

from bpe.config import BPEConfig, exported_estimator
from bpe.errors import EstimatorError
from bpe.estimators import estimator_from_spec, get_estimator_class, register_estimator
from bpe.estimators.base import Estimator
from bpe.estimators.context import EstimatorContext
from bpe.records import Cost, EvalRecord

__all__ = ["RankBlend", "Vote", "log_rank_sum", "rank_average", "combined_records", "member_estimator", "member_spec",
           "scorer_estimator", "scorer_size"]

log = logging.getLogger(__name__)


def rank_average(columns: Sequence[Sequence[float | None]],
                 weights: Sequence[float] | None = None, *, log: bool = False) -> list[float | None]:
    """Per row, the (``weights``-weighted, default equal) mean over columns of its normalised rank
    within the column: average ranks for ties, rank / (scores in the column), so the best of a
    column has rank 1.  With ``log``, the mean of the ranks' logarithms (AZ-NAS's non-linear rank
    aggregation, Lee & Ham 2024: one bad rank pulls an arch down more than one good rank lifts
    it; the best arch of every column scores 0).  ``None`` scores are left out of their column's
    ranking and of the row's mean (the row's weights are renormalised over the columns that
    scored it); a row with no score is ``None``."""
    n = len(columns[0]) if columns else 0
    weights = [1.0] * len(columns) if weights is None else [float(w) for w in weights]
    if len(weights) != len(columns):
        raise EstimatorError(f"{len(columns)} score columns but {len(weights)} weights")
    sums, counts = np.zeros(n), np.zeros(n)
    for column, weight in zip(columns, weights):
        values = np.array([np.nan if v is None else float(v) for v in column])
        ok = np.isfinite(values)
        if not ok.any() or weight == 0:
            continue
        ranks = rankdata(values[ok]) / ok.sum()
        sums[ok] += weight * (np.log(ranks) if log else ranks)
        counts[ok] += weight
    return [float(s / c) if c else None for s, c in zip(sums, counts)]


def log_rank_sum(columns: Sequence[Sequence[float | None]], ok: Sequence[bool]) -> list[float | None]:
    """AZ-NAS's (and VKDNW's) assembly of one column per measure over a population: per row, the sum over
    columns of ``log(rank / n)`` (average ranks for ties, the highest value gets rank n, n the
    rows with ``ok``).  A ``None`` (undefined) value ranks last in its column, tied with the
    other undefined ones; a row without ``ok`` is ``None`` and is not ranked."""
    ranked = []
    for column in columns:
        defined = [i for i, (v, k) in enumerate(zip(column, ok)) if k and v is not None]
        ranks = rankdata([float(column[i]) for i in defined]) if defined else []
        order = dict(zip(defined, ranks))
        # ranks >= 1 for the defined values and 0 for the undefined: the same order, undefined last
        ranked.append([order.get(i, 0.0) if k else None for i, k in enumerate(ok)])
    means = rank_average(ranked, log=True)
    return [None if m is None else m * len(columns) for m in means]


def combined_records(archs: Sequence[str], per_member: Sequence[Sequence[EvalRecord]], scores: Sequence[float | None],
                     keys: Sequence[str], what: str, groups: Sequence[Any] | None = None) -> list[EvalRecord]:
    """The records of estimators made of members (a blend, a learned blend): per arch its
    ``scores`` entry (failed when ``None``: no member scored it), each member's score under its
    key in ``info``, and the members' costs summed (once per ``groups`` value: readouts of one
    training cost one training)."""
    groups = list(groups) if groups is not None else list(range(len(per_member)))
    out = []
    for i, arch in enumerate(archs):
        records = [records[i] for records in per_member]
        cost = Cost.total(list({g: r.cost for g, r in zip(groups, records)}.values()))
        info = {"members": {k: r.score for k, r in zip(keys, records)}}
        if scores[i] is None:
            errors = "; ".join(f"{r.error}" for r in records)
            out.append(EvalRecord(arch=arch, score=None, status="failed", cost=cost,
                                  error=f"no member of {what} scored it ({errors})", info=info))
        else:
            out.append(EvalRecord(arch=arch, score=scores[i], status="ok", cost=cost, info=info))
    return out


def scorer_size(estimator: Estimator) -> dict[str, int]:
    """The network a training-free scorer scores (``channels``, ``layers``), or nothing for an
    estimator that builds none: what a ``bpe.json`` pins, since a space's default may change."""
    size = {k: getattr(estimator, k, None) for k in ("channels", "layers")}
    return {k: int(v) for k, v in size.items() if isinstance(v, int)} if all(
        isinstance(v, int) for v in size.values()) else {}


def member_spec(estimator: Estimator) -> dict[str, Any]:
    """How a ``bpe.json`` names an estimator: ``{"family": "proxy", "config": {...}}`` for a
    proxy-training setting, ``{"family": "scorer", "name": NAME, "options": {"channels": C,
    "layers": L}}`` for a registered scorer (the network it scored pinned; its other options the
    defaults)."""
    config = getattr(estimator, "config", None)
    if estimator.name == "bpe" and config is not None:
        return {"family": "proxy", "config": config.to_dict()}
    size = scorer_size(estimator)
    return {"family": "scorer", "name": estimator.name, **({"options": size} if size else {})}


def scorer_estimator(name: str, *, dataset: Any = None, space: str = "nb201", device: str = "auto",
                     options: Mapping[str, Any] | None = None) -> Estimator:
    """The registered scorer ``name`` with ``options`` (default: its defaults), on ``dataset``,
    ``space`` and ``device`` (built through the registry: a name is never read as a file or a spec)."""
    context = EstimatorContext(dataset=dataset, device=device, space=space, options=dict(options or {}))
    return get_estimator_class(name).from_context(context)


def member_estimator(spec: Mapping[str, Any], context: Any) -> Estimator:
    """The estimator :func:`member_spec` describes, on ``context``'s data, space and device."""
    family = spec.get("family")
    if family == "proxy":
        config = BPEConfig.from_dict(spec["config"], source="a blend member")
        return get_estimator_class("bpe").from_context(dataclasses.replace(context, config=config, path=None))
    if family == "scorer":
        scorer = scorer_estimator(str(spec["name"]), dataset=context.dataset, space=context.space,
                                  device=context.device, options=spec.get("options"))
        if "options" not in spec and scorer_size(scorer):
            log.warning("the bpe.json names the scorer %s without the network it scored (written before bpe pinned "
                        "it): scoring at this version's default, C%d L%d, which may differ from what it was fitted "
                        "or chosen on; export it again (bpe mip) to pin it", scorer.name, scorer.channels, scorer.layers)
        return scorer
    raise EstimatorError(f"a blend member's family must be 'proxy' or 'scorer', got {family!r}; the bpe.json is "
                         "damaged: export it again with bpe mip")


@register_estimator("blend")
class RankBlend(Estimator):
    """Weighted rank-average of ``members`` over the archs scored together (see the module doc):
    the one place ranks are blended (a vote is a blend with equal weights; MIP exports blends
    whose weights it fitted on its search archs).

    Args:
        members: the estimators blended (at least two, distinct).
        weights: one non-negative weight per member, not all zero (default: equal).
        anchored: the first member anchors the blend: every member is ranked among the archs the
            first one scored, and an arch the first one failed fails (a hybrid: a proxy training and
            a training-free scorer, ``[proxy, scorer]`` at equal weights).
    """

    cheap = True  # nothing of its own to cache: its members are cached
    population: ClassVar[bool] = True

    def __init__(self, members: Sequence[Estimator], weights: Sequence[float] | None = None, *,
                 anchored: bool = False) -> None:
        if len(members) < 2:
            raise EstimatorError(f"a {self.name} needs at least two scorers, got {len(members)}; e.g. vote:naswot,synflow")
        names = [m.describe() for m in members]
        if len(set(names)) < len(names):
            raise EstimatorError(f"a {self.name} lists the same scorer twice ({', '.join(names)}); give each once")
        if any(getattr(m, "population", False) for m in members):
            raise EstimatorError(f"a {self.name} cannot contain another blend or vote; list the scorers in one")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members) or any(not w >= 0 for w in weights) or not sum(weights) > 0:
            raise EstimatorError(f"a blend takes one weight >= 0 per member, not all zero; got {weights} for "
                                 f"{len(members)} members")
        self.members = list(members)
        self.weights = weights
        self.anchored = bool(anchored)

    @classmethod
    def from_context(cls, context: Any) -> RankBlend:
        """The blend a ``bpe.json`` exported by ``bpe mip`` names (``context.path``)."""
        spec = exported_estimator(context.path) if context.path else None
        if spec is None or spec.get("family") != "blend":
            raise EstimatorError("a weighted blend is read from the bpe.json that `bpe mip` exported "
                                 "(--estimator bpe.json); for equal weights use vote:NAME,NAME,...")
        return cls([member_estimator(m, context) for m in spec["members"]], spec["weights"],
                   anchored=bool(spec.get("anchored", False)))

    @classmethod
    def tiny(cls, context: Any) -> RankBlend:
        return cls([get_estimator_class(name).tiny(context) for name in ("params", "naswot")], [0.25, 0.75])

    def to_spec(self) -> dict[str, Any]:
        """The ``estimator`` entry of a ``bpe.json`` that rebuilds this blend (see :func:`member_spec`)."""
        spec = {"family": "blend", "members": [member_spec(m) for m in self.members], "weights": self.weights}
        return {**spec, "anchored": True} if self.anchored else spec

    @property
    def reads_data(self) -> bool:
        return any(m.reads_data for m in self.members)

    def fingerprint(self) -> dict[str, Any]:
        fingerprint = {"estimator": self.name, "members": [m.fingerprint() for m in self.members],
                       "weights": self.weights}
        return {**fingerprint, "anchored": True} if self.anchored else fingerprint

    def describe(self) -> str:
        members = ", ".join(f"{w:.2g} {m.describe()}" for m, w in zip(self.members, self.weights))
        return f"blend({members}{', anchored' if self.anchored else ''})"

    def score_population(self, archs: Sequence[str], runner: Any) -> list[EvalRecord]:
        """The blend of each of ``archs`` among them: every member scores all, through ``runner``."""
        return self.blend(archs, [runner.run(m, archs, desc=m.name) for m in self.members])

    def blend(self, archs: Sequence[str], per_member: Sequence[Sequence[EvalRecord]]) -> list[EvalRecord]:
        """The blend's records of ``archs`` from each member's scored records of them (in member
        order): the one place ranks are blended."""
        columns = [[r.score if r.ok else None for r in records] for records in per_member]
        if self.anchored:  # only the archs the first member scored are ranked
            columns = [[v if first is not None else None for v, first in zip(column, columns[0])]
                       for column in columns]
        votes = rank_average(columns, self.weights)
        keys = [m.name for m in self.members]
        keys = keys if len(set(keys)) == len(keys) else [m.describe() for m in self.members]
        out = combined_records(archs, per_member, votes, keys, f"the {self.name}")
        if self.anchored:
            out = [r if r.ok else dataclasses.replace(r, error=f"its {keys[0]} failed: {first.error}")
                   for r, first in zip(out, per_member[0])]
        return out

    def _evaluate(self, arch: str) -> EvalRecord:
        raise EstimatorError(f"{self.describe()} ranks archs scored together; score a sample of them "
                             "(bpe score/evaluate, or a runner), not one arch")


@register_estimator("vote")
class Vote(RankBlend):
    """A :class:`RankBlend` with equal weights: ``vote:NAME,NAME,...``."""

    def __init__(self, members: Sequence[Estimator]) -> None:
        super().__init__(members)

    @classmethod
    def from_context(cls, context: Any) -> Vote:
        if not context.members:
            raise EstimatorError("a vote lists its scorers: vote:NAME,NAME,... (e.g. vote:swap_reg,naswot,synflow)")
        return cls([estimator_from_spec(spec, dataset=context.dataset, truth=context.truth, metric=context.metric,
                                        space=context.space, device=context.device, options=dict(context.options))
                    for spec in context.members])

    @classmethod
    def tiny(cls, context: Any) -> Vote:
        return cls([get_estimator_class(name).tiny(context) for name in ("params", "naswot")])

    def fingerprint(self) -> dict[str, Any]:
        return {"estimator": self.name, "members": [m.fingerprint() for m in self.members]}

    def describe(self) -> str:
        return f"vote({', '.join(m.describe() for m in self.members)})"
