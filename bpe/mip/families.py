"""After MIP's rounds: every estimator family is a candidate, and the export is confirmed on
archs the search never saw.

* **Families.**  MIP's rounds measure proxy-training settings (``proxy``; a setting's ``hybrid``
  variants are ``blend``).  Beside them, every listed training-free scorer is measured on the
  same search archs (``scorer``), and weighted rank-averages are fitted there (``blend``): the
  best proxy setting with the best scorer, and the two best scorers.  A blend's weight is chosen
  by K-fold cross-validation *inside* the search archs (ranks are taken within each fold, as a
  blend ranks the archs it is given), then its rho on all search archs is reported.
* **Confirmation.**  The labelled archs are split (seeded, disjoint, recorded) into search archs,
  on which rounds, importances and blend weights are fitted, and confirmation archs, which only
  this step reads.  The best candidate of each family within the cap (by search rho) is measured
  on the confirmation archs; going from the cheapest up, a dearer finalist replaces the one kept
  only when its paired-bootstrap rho difference has its 95% interval above zero.  So a noisy
  search rho (a winner's curse) cannot buy a dearer estimator, and when nothing beats the best
  training-free scorer, the scorer is exported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bpe.errors import ConfigError
from bpe.estimators.vote import rank_average
from bpe.metrics import paired_bootstrap_difference, spearman
from bpe.mip.evaluators import LiveEvaluator, SettingResult, _summary
from bpe.mip.search import choose

__all__ = ["FamilySettings", "DEFAULT_SCORERS", "FAMILIES", "split_archs", "fit_blend_weight", "blend_result",
           "family_candidates", "finalists", "remeasure", "confirm"]

#: The estimator families a MIP candidate belongs to.
FAMILIES = ("proxy", "scorer", "blend")

#: Training-free scorers measured as candidates by default: the best of the project's NB201
#: head-to-head that cost about a second per arch or less on a CPU (MeCo, NASWOT, synflow) and the
#: two counts; ZiCo, SWAP, SNIP and the others join with ``--scorers`` (ZiCo: about 5 s/arch).
DEFAULT_SCORERS = ("meco", "naswot", "synflow", "params", "flops")

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
    """

    scorers: tuple[str, ...] = DEFAULT_SCORERS
    confirm_fraction: float = 0.3
    blend_folds: int = 5
    n_boot: int = 1000
    seed: int = 0

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
    members = [{"family": m.family, "setting": m.setting, "config": m.config, "name": m.name} for m in (a, b)]
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
    ranked = sorted((r for r in scorers if math.isfinite(r.spearman)), key=lambda r: -r.spearman)
    best_proxy = choose([p for p in proxies if p.family == "proxy"], max_cost)
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
    return scorers + blends


def finalists(candidates: Sequence[SettingResult], max_cost: float | None) -> list[SettingResult]:
    """The best candidate (by search rho, within the cap) of each family, cheapest first."""
    best = [choose([c for c in candidates if c.family == family], max_cost) for family in FAMILIES]
    return sorted((b for b in best if b is not None), key=lambda r: r.cost_per_arch)


def remeasure(result: SettingResult, evaluator: LiveEvaluator) -> SettingResult:
    """``result``'s estimator measured again on ``evaluator``'s archs (the confirmation archs); a
    fitted blend keeps its weights."""
    if "members" in result.extra:  # a fitted blend: its members again, blended with the same weights
        a, b = (_measure(m["family"], m["setting"], evaluator) for m in result.extra["members"])
        return blend_result(a, b, result.extra["weights"][0], evaluator.truths(), seed=evaluator.seed)
    return _measure(result.family, result.setting, evaluator)


def _measure(family: str, setting: dict[str, Any], evaluator: LiveEvaluator) -> SettingResult:
    if family == "scorer":
        return evaluator.scorer_result(setting["scorer"])
    derived = {k: v for k, v in setting.items() if evaluator.knobs.derived(k)}  # report, hybrid
    return evaluator.evaluate(setting, variants=[derived] if derived else ())[0]


def confirm(finals: Sequence[SettingResult], evaluator: LiveEvaluator, settings: FamilySettings, *,
            say: Callable[[str], None]) -> dict[str, Any]:
    """Measure each finalist on the confirmation archs and keep the cheapest unless a dearer one is
    better with its paired 95% interval above zero.  Returns the chosen finalist's index, every
    finalist's confirmation result and the comparisons made."""
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
        diff = paired_bootstrap_difference(confirmed[i].scores, confirmed[kept].scores, truths, n_boot=settings.n_boot,
                                           seed=settings.seed)
        better = bool(math.isfinite(diff["ci95"][0]) and diff["ci95"][0] > 0)
        comparisons.append({"dearer": finals[i].name, "kept": finals[kept].name, "difference": diff["difference"],
                            "ci95": diff["ci95"], "n_archs": diff["n_archs"], "replaces": better})
        say(f"confirmation: {finals[i].name} - {finals[kept].name}: rho {diff['difference']:+.3f} "
            f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}] -> "
            + ("the dearer one is better: kept" if better else "not better beyond noise: the cheaper one stays"))
        if better:
            kept = i
    if kept is None:  # nothing usable on the confirmation archs: the cheapest, flagged by its NaN rho
        kept = 0
    return {"chosen": kept, "finalists": list(finals), "confirmed": confirmed, "comparisons": comparisons,
            "rule": "cheapest finalist kept unless a dearer one's paired-bootstrap rho difference on the confirmation "
                    "archs has its 95% interval above zero"}
