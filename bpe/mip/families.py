"""After MIP's rounds: every estimator family is a candidate, and the export is confirmed on
archs the search never saw.

* **Families.**  MIP's rounds measure proxy-training settings (``proxy``; a setting's ``hybrid``
  variants, its proxy rank-blended with a scorer at equal weights, are ``blend``).  Beside them,
  every listed training-free scorer is measured on the same search archs (``scorer``), and
  weighted rank-averages are fitted there (``blend``): the best proxy setting with the best
  scorer, and the two best scorers.  An assembly of training-free measures (``az_nas``: ranks
  among the archs scored together) is a scorer candidate, never a member of a fitted blend.  A blend's weight is chosen
  by K-fold cross-validation *inside* the search archs (ranks are taken within each fold, as a
  blend ranks the archs it is given), then its rho on all search archs is reported.
* **Learned blends** (``learned``): a small model (:mod:`bpe.estimators.learned`) over the
  scorers' raw scores, optionally the best setting's four readouts and the cell's graph
  features (op counts, live paths, degrees).  Which features and which leaf size are chosen by
  K-fold cross-validation inside the search archs; the candidate's search rho is the *nested*
  out-of-fold rho (each arch scored by a blend whose whole selection and fit never saw it), never
  the in-sample fit nor the chosen entry's own cross-validated rho.
* **Confirmation.**  The labelled archs are split (seeded, disjoint, recorded) into search archs,
  on which rounds, importances and blend weights are fitted, and confirmation archs, which only
  this step reads.  The best candidate of each family within the cap (by search rho) is measured
  on the confirmation archs; going from the cheapest up, a dearer finalist replaces the one kept
  only when its paired-bootstrap rho difference has its 95% interval above zero.  The evidence
  is every labelled arch where neither finalist's score was tuned on: the confirmation archs,
  and the search archs too when both have honest search scores there (a scorer: nothing was
  fitted; a learned blend: nested out-of-fold scores).  A setting or a rank-blend was chosen on
  the search archs, so it is judged on the confirmation archs alone.  So a noisy search rho (a
  winner's curse) cannot buy a dearer estimator, and when nothing beats the best training-free
  scorer, the scorer is exported.  (The scorer finalist is the best of several on the search
  archs: pooled evidence favours it slightly, which errs toward the cheaper.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpe.errors import ConfigError
from bpe.estimators.learned import fit_rows, predict_rows
from bpe.estimators.vote import rank_average
from bpe.metrics import paired_bootstrap_difference, spearman
from bpe.mip.evaluators import LiveEvaluator, Proposal, SettingResult, _summary
from bpe.mip.export import member_entry
from bpe.mip.knobs import DERIVED_KNOBS
from bpe.mip.search import choose

__all__ = ["FamilySettings", "DEFAULT_SCORERS", "SEARCH_RHO", "FAMILIES", "split_archs", "fit_blend_weight", "blend_result",
           "family_candidates", "finalists", "remeasure", "confirm", "learned_candidate", "LEARNED_GRID",
           "refit_on_confirmation", "archs_to_decide"]

#: The estimator families a MIP candidate belongs to.
FAMILIES = ("proxy", "scorer", "blend", "learned")

#: A confirmation whose narrowest paired interval is wider than this cannot tell finalists apart
#: (on the BPE paper's cells, 15 confirmation archs gave intervals about 1.5 wide); MIP says so.
UNDERPOWERED_WIDTH = 0.5

#: Scorers below this many seconds per arch make the learned blend's cheap feature set.
CHEAP_SECONDS = 1.0

#: The learned blend's model grid: the model kind (:data:`bpe.estimators.learned.MODEL_KINDS`;
#: ``trees+ridge`` alone: in the development study it ranked better than extra-trees alone for
#: every feature set, by more than 70 labels can show by cross-validation, so the kind is not
#: left to a noisy comparison), trees per forest and the leaf sizes cross-validation chooses from.
LEARNED_GRID = {"kind": ("trees+ridge",), "n_estimators": 200, "min_samples_leaf": (1, 3)}

#: What the search rho of a chosen candidate is, by family (the forecast is its confirmation rho);
#: a setting's or a rank-blend's was tuned on the search archs.
SEARCH_RHO = {"learned": "nested out-of-fold: no arch scored by a blend fitted on it", "scorer": "nothing fitted"}

#: The nested cross-validation's inner selection: folds and trees per forest (see
#: :func:`_nested_out_of_fold`).
NESTED_INNER_FOLDS = 3
NESTED_INNER_TREES = 50

#: Training-free scorers measured as candidates by default: the best of the project's NB201
#: head-to-head that cost about a second per arch or less on a CPU (MeCo, NASWOT, synflow), the
#: two counts, AZ-NAS's three measures (one measurement, about 1.3 s/arch at C16 N5: with them
#: the learned blend cleared 0.93 on both held-out NB201 samples, docs/results-mip.md) and the
#: authors' assembly of them, ``az_nas`` (the same measurement: no extra cost; a candidate of its
#: own, not a member of fitted blends); ZiCo, SWAP, VKDNW and the others join with ``--scorers``.
DEFAULT_SCORERS = ("meco", "naswot", "synflow", "params", "flops", "az_expressivity", "az_progressivity",
                   "az_trainability", "az_nas")

#: Weight grid of a two-member blend (the first member's weight; the second has 1 - w).
BLEND_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(1, 10))


@dataclass(frozen=True)
class FamilySettings:
    """How the families are measured and the export confirmed.

    Attributes:
        scorers: training-free scorers measured as candidates (registered names).
        confirm_fraction: share of the labelled archs held out for confirmation (0: no
            confirmation, the export is the best search candidate, as before).
        blend_folds: folds of the cross-validation that chooses a blend's weight.
        n_boot: bootstrap resamples of the paired comparison.
        seed: seed of the split, the folds and the bootstrap.
        learned: fit a learned blend (:func:`learned_candidate`) as a candidate too.
    """

    scorers: tuple[str, ...] = DEFAULT_SCORERS
    confirm_fraction: float = 0.3
    blend_folds: int = 5
    n_boot: int = 1000
    seed: int = 0
    learned: bool = True

    @classmethod
    def from_flags(cls, scorers: str, confirm_fraction: float, seed: int) -> FamilySettings:
        """The settings of ``bpe mip``'s flags: ``--scorers`` comma-separated (``none``: no scorer)."""
        names = tuple(n.strip() for n in scorers.split(",") if n.strip() and n.strip() != "none")
        return cls(scorers=names, confirm_fraction=confirm_fraction, seed=seed)

    def __post_init__(self) -> None:
        if not 0.0 <= self.confirm_fraction < 1.0:
            raise ConfigError(f"the confirmation share must be in [0, 1), got {self.confirm_fraction!r}")
        if not isinstance(self.blend_folds, int) or self.blend_folds < 2:
            raise ConfigError(f"blend_folds must be an integer >= 2, got {self.blend_folds!r}")


def split_archs(archs: Sequence[str], confirm_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(search archs, confirmation archs): a seeded, disjoint split of ``archs``; the
    confirmation share rounded, at least 3 archs on each side when it is not 0."""
    archs = list(archs)
    n_confirm = int(round(confirm_fraction * len(archs)))
    if confirm_fraction == 0:
        return archs, []
    if n_confirm < 3 or len(archs) - n_confirm < 3:
        raise ConfigError(f"{len(archs)} archs cannot be split into search and confirmation archs with at least 3 "
                          f"each at a confirmation share of {confirm_fraction:g}; raise --archs or set --confirm 0")
    order = np.random.default_rng(seed).permutation(len(archs))
    confirm_idx = set(order[:n_confirm].tolist())
    return ([a for i, a in enumerate(archs) if i not in confirm_idx], [a for i, a in enumerate(archs) if i in confirm_idx])


def fit_blend_weight(a: Sequence[float | None], b: Sequence[float | None], truths: Sequence[float | None], *,
                     folds: int, seed: int) -> tuple[float, float]:
    """(weight of ``a``, its mean cross-validated rho): the weight of :data:`BLEND_WEIGHTS` whose
    blend ranks the held-out fold best, averaged over ``folds`` seeded folds of the archs (ties:
    the first, i.e. the lower weight)."""
    n = len(truths)
    order = np.random.default_rng(seed).permutation(n)
    parts = [order[i::folds] for i in range(folds)]
    best_w, best_rho = BLEND_WEIGHTS[0], -math.inf
    for w in BLEND_WEIGHTS:
        rhos = []
        for part in parts:
            idx = sorted(part.tolist())
            blended = rank_average([[a[i] for i in idx], [b[i] for i in idx]], [w, 1 - w])
            rho = spearman(blended, [truths[i] for i in idx])
            if math.isfinite(rho):
                rhos.append(rho)
        mean = float(np.mean(rhos)) if rhos else -math.inf
        if mean > best_rho + 1e-12:
            best_w, best_rho = w, mean
    return best_w, best_rho


def blend_result(a: SettingResult, b: SettingResult, weight: float, truths: Sequence[float | None], *,
                 seed: int, cv_spearman: float | None = None) -> SettingResult:
    """The blend ``weight`` x ``a`` + (1 - ``weight``) x ``b`` of two measured candidates on the
    same archs: its scores, rho and cost (the sum of the members')."""
    scores = rank_average([a.scores, b.scores], [weight, 1 - weight])
    members = [_member(m) for m in (a, b)]
    result = _summary({"blend": f"{weight:.1f} {a.name} + {1 - weight:.1f} {b.name}"}, scores, truths,
                      a.cost_per_arch + b.cost_per_arch, seed=seed,
                      name=f"blend({weight:.1f} {a.name}, {1 - weight:.1f} {b.name})", family="blend")
    result.extra.update(members=members, weights=[weight, 1 - weight], cv_spearman=cv_spearman)
    return result


def family_candidates(evaluator: LiveEvaluator, proxies: Sequence[SettingResult], settings: FamilySettings, *,
                      max_cost: float | None, say: Callable[[str], None]) -> list[SettingResult]:
    """The scorer and fitted-blend candidates on ``evaluator``'s (search) archs, beside the
    measured ``proxies``."""
    truths = evaluator.truths()
    scorers = []
    for name in settings.scorers:
        r = evaluator.scorer_result(name)
        say(f"candidate [scorer] {r.name}: rho {r.spearman:.3f} [{r.spearman_ci95[0]:.2f}, {r.spearman_ci95[1]:.2f}]"
            f"  cost/arch {r.cost_per_arch:.3g}")
        scorers.append(r)
    # an assembly's scores (az_nas) are ranks among the archs scored together: a candidate of its
    # own, never a member of a fitted blend, which scores an arch from its members' own scores
    ranked = sorted((r for r in scorers if math.isfinite(r.spearman) and not r.extra.get("population")),
                    key=lambda r: -r.spearman)
    # a setting successive halving left on part of the archs is not comparable here
    best_proxy = choose([p for p in proxies if p.family == "proxy" and len(p.scores) == len(evaluator.archs)],
                        max_cost)
    pairs = []
    if best_proxy is not None and ranked:
        pairs.append((best_proxy, ranked[0]))
    if len(ranked) >= 2:
        pairs.append((ranked[0], ranked[1]))
    blends = []
    for a, b in pairs:
        w, cv = fit_blend_weight(a.scores, b.scores, truths, folds=settings.blend_folds, seed=settings.seed)
        r = blend_result(a, b, w, truths, seed=evaluator.seed, cv_spearman=cv)
        say(f"candidate [blend] {r.name}: rho {r.spearman:.3f} [{r.spearman_ci95[0]:.2f}, {r.spearman_ci95[1]:.2f}]"
            f" (cross-validated {cv:.3f})  cost/arch {r.cost_per_arch:.3g}")
        blends.append(r)
    if settings.learned and ranked:
        readouts = [p for p in proxies if p.family == "proxy" and best_proxy is not None
                    and _training(p) == _training(best_proxy) and len(p.scores) == len(evaluator.archs)]
        r = learned_candidate(ranked, readouts, evaluator.archs, truths, space=evaluator.space,
                              folds=settings.blend_folds, seed=settings.seed, bootstrap_seed=evaluator.seed,
                              max_cost=max_cost)
        if r is not None:
            r.extra["spec"]["dataset"] = evaluator.dataset.name  # the members' raw scores are on this data
            say(f"candidate [learned] {r.name}: rho {r.spearman:.3f} [{r.spearman_ci95[0]:.2f}, "
                f"{r.spearman_ci95[1]:.2f}] (nested out-of-fold; the chosen entry's own cross-validation "
                f"{r.extra['cv_spearman']:.3f}, in-sample {r.extra['in_sample_spearman']:.3f})  cost/arch "
                f"{r.cost_per_arch:.3g}")
            blends.append(r)
    return scorers + blends


def _training(result: SettingResult) -> tuple:
    """What identifies a setting's training run (its knobs but the derived ones: the readout, the hybrid)."""
    return tuple(sorted((k, v) for k, v in result.setting.items() if k not in DERIVED_KNOBS))


def _folds(n: int, folds: int, seed: int) -> list[list[int]]:
    order = np.random.default_rng(seed).permutation(n)
    return [sorted(order[i::folds].tolist()) for i in range(folds)]


def learned_candidate(scorers: Sequence[SettingResult], readouts: Sequence[SettingResult], archs: Sequence[str],
                      truths: Sequence[float | None], *, space: str, folds: int, seed: int,
                      bootstrap_seed: int = 0, max_cost: float | None = None) -> SettingResult | None:
    """The learned blend of the measured ``scorers`` (and a setting's ``readouts``), its features and
    leaf size chosen by ``folds``-fold cross-validation on the labelled archs only (those with a
    truth; fewer folds when there are fewer than ``2 x folds`` of them, ``None`` below 6).

    Feature sets tried: the scorers; the scorers and the cell; the cheap scorers (below
    :data:`CHEAP_SECONDS` per arch) and the cell; with ``readouts``, the scorers and the readouts,
    with and without the cell.  Each is scored by the Spearman rho of its pooled out-of-fold
    predictions, with a standard error from the rho of each fold.  The *cheapest* within one
    standard error of the best is chosen (Breiman's one-standard-error rule, with the cost per
    arch as the complexity: a dearer feature set must beat it beyond its noise; at equal cost, the
    best rho among the model kinds and leaf sizes of :data:`LEARNED_GRID`), then refitted on every
    labelled arch.  The candidate's ``scores`` and search rho are *nested* out-of-fold
    (:func:`_nested_out_of_fold`: every arch scored by a blend whose whole selection and fit never
    saw it), so they carry no winner's curse from the choice; ``extra`` has the export spec, the
    cross-validation table (``cv_spearman``: the chosen entry's own out-of-fold rho, optimistic by
    the choice) and the in-sample rho.  Feature sets over ``max_cost`` per arch are not tried."""
    labelled = [i for i, t in enumerate(truths) if t is not None]
    folds = min(folds, len(labelled) // 2)
    if folds < 3:
        return None
    cheap = [m for m in scorers if m.cost_per_arch < CHEAP_SECONDS]
    sets = [("scorers", list(scorers), False), ("scorers + cell", list(scorers), True)]
    if cheap and len(cheap) < len(scorers):
        sets.append(("cheap scorers + cell", cheap, True))
    if readouts:
        sets += [("scorers + readouts", list(scorers) + list(readouts), False),
                 ("scorers + readouts + cell", list(scorers) + list(readouts), True)]
    sets = [s for s in sets if max_cost is None or _learned_cost(s[1]) <= max_cost]
    if not sets:
        return None
    best, table = _select_learned(sets, labelled, archs, truths, folds=folds, seed=seed, space=space)
    if best is None:
        return None
    nested = _nested_out_of_fold(sets, labelled, archs, truths, folds=folds, seed=seed, space=space)
    _, _, _, label, members, cell, model, _ = best
    rho = best[0]
    rows = [[m.scores[i] for i in labelled] for m in members]
    fitted = fit_rows(rows, [archs[i] for i in labelled], [truths[i] for i in labelled], model=model, cell=cell,
                      space=space)
    in_sample = spearman(predict_rows(fitted, rows, [archs[i] for i in labelled], cell=cell, space=space),
                         [truths[i] for i in labelled])
    scores: list[float | None] = [None] * len(archs)  # nested out-of-fold: the search rho is honest
    for i, v in zip(labelled, nested):
        scores[i] = v if math.isfinite(v) else None
    cost = _learned_cost(members)
    names = [m.name for m in members]
    entries = [_member(m) for m in members]
    spec = {"family": "learned", "members": [member_entry(m) for m in entries], "rows": rows,
            "archs": [archs[i] for i in labelled], "targets": [float(truths[i]) for i in labelled], "model": model,
            "cell": cell, "space": space}
    result = _summary({"learned": label}, scores, truths, cost, seed=bootstrap_seed,
                      name=f"learned({label}: {', '.join(names)}; {model['kind']}, leaf {model['min_samples_leaf']})",
                      family="learned")
    result.extra.update(spec=spec, cv_table=table, cv_spearman=rho, in_sample_spearman=in_sample, members=entries)
    return result


def _select_learned(sets: Sequence[tuple[str, list[SettingResult], bool]], labelled: Sequence[int],
                    archs: Sequence[str], truths: Sequence[float | None], *, folds: int, seed: int,
                    space: str, n_estimators: int | None = None) -> tuple[tuple | None, list[dict[str, Any]]]:
    """(the chosen run, the cross-validation table) of the feature ``sets`` x :data:`LEARNED_GRID`
    on the ``labelled`` archs (positions in ``archs``): :func:`learned_candidate`'s rule, with
    ``n_estimators`` trees (default the grid's).  A run is ``(rho, se, cost, label, members,
    cell, model, out-of-fold predictions)``; its model has the grid's trees."""
    folds = min(folds, len(labelled) // 2)
    if folds < 2:
        return None, []
    parts = _folds(len(labelled), folds, seed)
    target = [truths[i] for i in labelled]
    table: list[dict[str, Any]] = []
    runs = []
    grid = [(kind, leaf) for kind in LEARNED_GRID["kind"] for leaf in sorted(LEARNED_GRID["min_samples_leaf"],
                                                                             reverse=True)]
    for label, members, cell in sets:
        for kind, leaf in grid:
            model = {"kind": kind, "n_estimators": LEARNED_GRID["n_estimators"], "min_samples_leaf": leaf,
                     "seed": seed}
            trial = model if n_estimators is None else {**model, "n_estimators": n_estimators}
            oof = _out_of_fold(members, labelled, parts, archs, truths, model=trial, cell=cell, space=space)
            rho = spearman(oof, target)
            per_fold = [spearman([oof[j] for j in part], [target[j] for j in part]) for part in parts]
            per_fold = [r for r in per_fold if math.isfinite(r)]
            se = float(np.std(per_fold, ddof=1) / math.sqrt(len(per_fold))) if len(per_fold) >= 2 else math.inf
            cost = _learned_cost(members)
            table.append({"features": label, "kind": kind, "min_samples_leaf": leaf, "cv_spearman": rho, "cv_se": se,
                          "cost_per_arch": cost})
            if math.isfinite(rho):
                runs.append((rho, se, cost, label, members, cell, model, oof))
    if not runs:
        return None, table
    top = max(runs, key=lambda r: r[0])
    within = [r for r in runs if r[0] >= top[0] - (top[1] if math.isfinite(top[1]) else 0.0)]
    best = min(within, key=lambda r: (r[2], -r[0]))  # the cheapest; at equal cost, the best rho
    table.append({"chosen": {"features": best[3], "kind": best[6]["kind"],
                             "min_samples_leaf": best[6]["min_samples_leaf"]},
                  "rule": "the cheapest within one standard error of the best cross-validated rho; at equal cost, "
                          "the best"})
    return best, table


def _nested_out_of_fold(sets: Sequence[tuple[str, list[SettingResult], bool]], labelled: Sequence[int],
                        archs: Sequence[str], truths: Sequence[float | None], *, folds: int, seed: int,
                        space: str) -> list[float]:
    """Each labelled arch's prediction by the learned blend the *whole* selection
    (:func:`_select_learned`: feature set, model, leaf) chose and fitted without it: nested
    cross-validation, so these scores carry no winner's curse from the choice among the grid.
    The inner selection runs :data:`NESTED_INNER_FOLDS` folds with :data:`NESTED_INNER_TREES`
    trees (it only ranks the grid's entries; the outer fit has the grid's trees), so the nested
    step costs about as much as the selection itself."""
    parts = _folds(len(labelled), folds, seed)
    out = [math.nan] * len(labelled)
    for k, part in enumerate(parts):
        held = set(part)
        inner = [labelled[j] for j in range(len(labelled)) if j not in held]
        best, _ = _select_learned(sets, inner, archs, truths, folds=min(folds, NESTED_INNER_FOLDS), seed=seed + 1 + k,
                                  space=space, n_estimators=NESTED_INNER_TREES)
        if best is None:
            continue
        _, _, _, _, members, cell, model, _ = best
        fitted = fit_rows([[m.scores[i] for i in inner] for m in members], [archs[i] for i in inner],
                          [truths[i] for i in inner], model=model, cell=cell, space=space)
        test = [labelled[j] for j in part]
        predicted = predict_rows(fitted, [[m.scores[i] for i in test] for m in members], [archs[i] for i in test],
                                 cell=cell, space=space)
        for j, v in zip(part, predicted):
            out[j] = v
    return out


def refit_on_confirmation(chosen: SettingResult, confirmed: SettingResult, archs: Sequence[str],
                          truths: Sequence[float | None]) -> None:
    """Once a learned blend is chosen, its export is fitted on every labelled arch: its rows on the
    search archs and, measured for the confirmation, its members' scores on the confirmation archs
    (in ``chosen.extra["spec"]``; the model fitted on the search archs alone stays as ``spec_search``)."""
    spec = chosen.extra["spec"]
    keep = [i for i, t in enumerate(truths) if t is not None]
    columns = confirmed.extra["columns"]
    chosen.extra["spec_search"] = spec
    chosen.extra["spec"] = {**spec, "rows": [row + [col[i] for i in keep] for row, col in zip(spec["rows"], columns)],
                            "archs": spec["archs"] + [archs[i] for i in keep],
                            "targets": spec["targets"] + [float(truths[i]) for i in keep],
                            "fitted_on": {"search_archs": len(spec["archs"]), "confirmation_archs": len(keep)}}


def _learned_cost(members: Sequence[SettingResult]) -> float:
    """A learned blend's cost per arch: its scorers' (once per measurement: AZ-NAS's three measures
    share one) and one training of its readouts' setting."""
    measurements = {m.extra.get("measurement", m.name): m.cost_per_arch for m in members if m.family == "scorer"}
    return sum(measurements.values()) + max(
        [m.cost_per_arch for m in members if m.family != "scorer"], default=0.0)


def _out_of_fold(members: Sequence[SettingResult], labelled: Sequence[int], parts: Sequence[Sequence[int]],
                 archs: Sequence[str], truths: Sequence[float | None], *, model: dict[str, Any], cell: bool,
                 space: str) -> list[float]:
    """Each labelled arch's prediction by a model fitted on the other folds (positions in ``labelled``)."""
    out = [math.nan] * len(labelled)
    for part in parts:
        held = set(part)
        train = [labelled[j] for j in range(len(labelled)) if j not in held]
        test = [labelled[j] for j in part]
        fitted = fit_rows([[m.scores[i] for i in train] for m in members], [archs[i] for i in train],
                          [truths[i] for i in train], model=model, cell=cell, space=space)
        predicted = predict_rows(fitted, [[m.scores[i] for i in test] for m in members], [archs[i] for i in test],
                                 cell=cell, space=space)
        for j, v in zip(part, predicted):
            out[j] = v
    return out


def finalists(candidates: Sequence[SettingResult], max_cost: float | None) -> list[SettingResult]:
    """The best candidate (by search rho, within the cap) of each family, cheapest first; only
    candidates measured on every search arch (not a setting successive halving left on fewer)."""
    full = max((c.n_archs for c in candidates), default=0)
    candidates = [c for c in candidates if c.n_archs == full]
    best = [choose([c for c in candidates if c.family == family], max_cost) for family in FAMILIES]
    return sorted((b for b in best if b is not None), key=lambda r: r.cost_per_arch)


def _member(m: SettingResult) -> dict[str, Any]:
    """A fitted blend's member as the run records it (a scorer with its export spec)."""
    entry = {"family": m.family, "setting": m.setting, "config": m.config, "name": m.name}
    if m.family == "scorer" and "spec" in m.extra:
        entry["spec"] = m.extra["spec"]
    return entry


def remeasure(result: SettingResult, evaluator: LiveEvaluator) -> SettingResult:
    """``result``'s estimator measured again on ``evaluator``'s archs (the confirmation archs); a
    fitted blend keeps its weights."""
    if result.family == "learned":  # the same fitted model, its members measured on these archs
        spec = result.extra["spec"]
        measured = [_measure(m["family"], m["setting"], evaluator) for m in result.extra["members"]]
        columns = [m.scores for m in measured]
        fitted = fit_rows(spec["rows"], spec["archs"], spec["targets"], model=spec["model"], cell=spec["cell"],
                          space=spec["space"])
        scores = predict_rows(fitted, columns, evaluator.archs, cell=spec["cell"], space=spec["space"])
        scores = [None if all(c[i] is None for c in columns) else v for i, v in enumerate(scores)]
        out = _summary(result.setting, scores, evaluator.truths(), _learned_cost(measured), seed=evaluator.seed,
                       name=result.name, family="learned")
        out.extra.update(spec=spec, members=result.extra["members"], columns=columns)
        return out
    if "members" in result.extra:  # a fitted blend: its members again, blended with the same weights
        a, b = (_measure(m["family"], m["setting"], evaluator) for m in result.extra["members"])
        return blend_result(a, b, result.extra["weights"][0], evaluator.truths(), seed=evaluator.seed)
    return _measure(result.family, result.setting, evaluator)


def _measure(family: str, setting: dict[str, Any], evaluator: LiveEvaluator) -> SettingResult:
    if family == "scorer":
        return evaluator.scorer_result(setting["scorer"])
    derived = {k: v for k, v in setting.items() if evaluator.knobs.derived(k)}  # report, hybrid
    return evaluator.evaluate(Proposal(setting), variants=[derived] if derived else ())[0]


#: The families whose search scores were not tuned on the search archs' truths (a scorer's: nothing
#: is fitted; a learned blend's: nested out-of-fold), so they count as evidence in the confirmation.
HONEST_SEARCH_FAMILIES = ("scorer", "learned")


def _evidence(a: SettingResult, a_confirmed: SettingResult, b: SettingResult, b_confirmed: SettingResult,
              truths: Sequence[float | None], search_truths: Sequence[float | None] | None,
              joint: Callable[[SettingResult], Sequence[float | None]] | None = None) -> tuple[list, list, list, str]:
    """(scores of ``a``, scores of ``b``, truths, what they are) for the paired comparison: the
    confirmation archs, plus the search archs when both have honest search scores there.  An
    assembly ranks the archs it scores together, so its pooled scores are ``joint(result)``: the
    search and confirmation archs scored as one population (in that order; without ``joint`` an
    assembly is judged on the confirmation archs alone)."""
    pooled = (search_truths is not None and a.family in HONEST_SEARCH_FAMILIES and b.family in HONEST_SEARCH_FAMILIES
              and len(a.scores) == len(b.scores) == len(search_truths)
              and (joint is not None or not any(r.extra.get("population") for r in (a, b))))
    if not pooled:
        return list(a_confirmed.scores), list(b_confirmed.scores), list(truths), "confirmation archs"

    def both(r: SettingResult, confirmed: SettingResult) -> list:
        if not r.extra.get("population"):
            return list(r.scores) + list(confirmed.scores)
        assert joint is not None and search_truths is not None  # pooled only with them
        scores = list(joint(r))
        if len(scores) != len(search_truths) + len(truths):
            raise ValueError(f"{r.name}: {len(scores)} joint scores for {len(search_truths)} search and "
                             f"{len(truths)} confirmation archs")
        return scores

    return (both(a, a_confirmed), both(b, b_confirmed), list(search_truths) + list(truths),
            "search (untuned scores) + confirmation archs")


def archs_to_decide(diff: Mapping[str, Any]) -> int | None:
    """About how many archs of the same evidence would put a paired comparison's 95% interval
    above zero, were its measured difference the true one: its half-width shrinks as one over the
    root of the archs, so ``n * (half-width / difference) ** 2``.  ``None`` when the difference is
    not positive (no number of archs makes a dearer finalist that ranks lower better) or unknown.
    A planning figure, not a promise: the difference itself is measured with that interval."""
    d, (lo, hi), n = diff["difference"], diff["ci95"], diff["n_archs"]
    if not all(v is not None and math.isfinite(v) for v in (d, lo, hi)) or d <= 0 or not n:
        return None
    return max(int(n), math.ceil(n * ((hi - lo) / 2 / d) ** 2))


def confirm(finals: Sequence[SettingResult], evaluator: LiveEvaluator, settings: FamilySettings, *,
            say: Callable[[str], None], search_truths: Sequence[float | None] | None = None,
            joint: Callable[[SettingResult], Sequence[float | None]] | None = None) -> dict[str, Any]:
    """Measure each finalist on the confirmation archs and keep the cheapest unless a dearer one is
    better with its paired 95% interval above zero, on the evidence :func:`_evidence` pools
    (``search_truths``: the truths of the archs the finalists' ``scores`` are on; without them,
    the confirmation archs alone; ``joint``: an assembly finalist's scores on the search and
    confirmation archs scored together, needed to pool its evidence).  Returns the chosen
    finalist's index, every finalist's confirmation result and the comparisons made."""
    truths = evaluator.truths()
    confirmed = [remeasure(f, evaluator) for f in finals]
    for f, c in zip(finals, confirmed):
        say(f"confirmation [{f.family}] {f.name}: rho {c.spearman:.3f} [{c.spearman_ci95[0]:.2f}, "
            f"{c.spearman_ci95[1]:.2f}] on {c.n_ok} confirmation archs (search {f.spearman:.3f})")
    kept: int | None = None
    comparisons: list[dict[str, Any]] = []
    for i in range(len(finals)):
        if not math.isfinite(confirmed[i].spearman):  # too few archs scored there: never exported
            comparisons.append({"dearer": finals[i].name, "kept": None if kept is None else finals[kept].name,
                                "difference": None, "ci95": [None, None], "n_archs": confirmed[i].n_ok,
                                "replaces": False, "note": "unusable on the confirmation archs"})
            say(f"confirmation: {finals[i].name} is unusable there ({confirmed[i].n_ok} archs scored): not a choice")
            continue
        if kept is None:
            kept = i
            continue
        a, b, t, evidence = _evidence(finals[i], confirmed[i], finals[kept], confirmed[kept], truths, search_truths,
                                      joint)
        diff = paired_bootstrap_difference(a, b, t, n_boot=settings.n_boot, seed=settings.seed)
        better = bool(math.isfinite(diff["ci95"][0]) and diff["ci95"][0] > 0)
        comparisons.append({"dearer": finals[i].name, "kept": finals[kept].name, "difference": diff["difference"],
                            "ci95": diff["ci95"], "n_archs": diff["n_archs"], "evidence": evidence,
                            "replaces": better, "archs_to_decide": None if better else archs_to_decide(diff)})
        say(f"confirmation: {finals[i].name} - {finals[kept].name}: rho {diff['difference']:+.3f} "
            f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}] on {diff['n_archs']} {evidence} -> "
            + ("the dearer one is better: kept" if better else "not better beyond noise: the cheaper one stays"))
        if better:
            kept = i
    if kept is None:  # nothing usable on the confirmation archs: the cheapest, flagged by its NaN rho
        kept = 0
    widths = [c["ci95"][1] - c["ci95"][0] for c in comparisons
              if c.get("ci95") and all(v is not None and math.isfinite(v) for v in c["ci95"])]
    underpowered = bool(widths) and kept == 0 and min(widths) > UNDERPOWERED_WIDTH
    if underpowered:
        say(f"confirmation: {len(truths)} confirmation archs cannot tell these finalists apart (the narrowest paired "
            f"interval is {min(widths):.2f} wide): the cheapest was kept by the rule, not by evidence; label more archs "
            "(--archs) or confirm on a larger share (--confirm)")
        needed = [c for c in comparisons if c.get("archs_to_decide")]
        if needed:
            c = min(needed, key=lambda c: c["archs_to_decide"])
            say(f"confirmation: at its measured difference ({c['difference']:+.3f}), {c['dearer']} would be told apart "
                f"from {c['kept']} on about {c['archs_to_decide']} archs of the same evidence ({c['n_archs']} here)")
    if finals[kept].family == "learned" and math.isfinite(confirmed[kept].spearman):
        refit_on_confirmation(finals[kept], confirmed[kept], evaluator.archs, truths)
        say(f"confirmation: the learned blend is refitted on all {len(finals[kept].extra['spec']['archs'])} labelled "
            "archs (search and confirmation) for the export; its forecast is the confirmation rho of the model fitted "
            "on the search archs alone")
    return {"chosen": kept, "finalists": list(finals), "confirmed": confirmed, "comparisons": comparisons,
            "underpowered": underpowered,
            "rule": "cheapest finalist kept unless a dearer one's paired-bootstrap rho difference has its 95% interval "
                    "above zero, on the confirmation archs plus the search archs where both finalists' scores are "
                    "untuned (a scorer's; a learned blend's nested out-of-fold ones)"}
