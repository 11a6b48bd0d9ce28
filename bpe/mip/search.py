"""Minimum Importance Pruning (Zheng et al., CVPR 2020): find the cheapest proxy setting that
ranks architectures like full training.

Each round samples settings over the unpruned knobs (seeded), measures each on one fixed
architecture sample (Spearman rho with its bootstrap interval, Kendall tau), fits seeded random
forests from setting to rho on everything measured so far, and ranks the unpruned knobs by
importance (mean over forest seeds).  The least important knob is pruned: fixed to a value by
the pruning rule.  Rounds repeat until one knob is left (it is then swept with the others
fixed), the round limit is reached or the budget is spent.  The setting returned is the one
with the highest measured rho whose cost per architecture is within the cap.

Pruning rules:

* ``within-noise`` (default): the cheapest measured value whose partial-dependence rho (the
  forests' predicted rho at that value, other knobs as measured) is within the noise of the best
  value's.  The noise is the median bootstrap standard error of the measured rhos ((hi - lo) /
  3.92 of their 95% intervals): a practical-equivalence margin (two values closer than one
  setting's own measurement error are not told apart), not a significance test.  Only values
  measured at least once qualify (a forest extrapolates flat to unmeasured ones).  A knob
  without a cost effect (learning rate, what is reported) gets its best value.
* ``cheapest``: the paper's rule, the cheapest value (best value when the knob has no cost effect).

Successive halving over archs (``MIPSettings.halving``, live only): a setting is first
measured on the first rung, the start of the seeded arch sample; after each round, the better
half of the settings measured at each rung (by their best readout's rho there) is measured on the
next, twice as many archs (nested: the first ones come from the cache), up to the whole sample
(asynchronous, as in ASHA: a setting promoted earlier stays promoted).  Before choosing, the leader
is promoted until it has been measured on every arch, so the chosen setting's rho rests on the
whole sample and only settings measured there can be chosen.  The importance forests, the
pruning rule's partial dependence and its noise margin read every setting's rho *on the first
rung*, which every setting was measured on: the same archs for all, so a promoted setting's rho
on more (other) archs never enters a comparison with one that was not promoted.

Tabular records (only recorded settings can be measured): a round takes the unmeasured records
that match every pruned knob, in seeded random order; when fewer than ``per_round`` match, the
rest of the round is filled with the unmeasured records that break the fewest pruned knobs
(ties in seeded random order), and each result says how many pruned knobs it breaks.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from bpe.errors import ConfigError
from bpe.mip.cost import CostModel
from bpe.mip.evaluators import Proposal, SettingEvaluator, SettingResult
from bpe.mip.importance import IMPORTANCE_METHODS, knob_importance, partial_dependence

__all__ = ["MIPSettings", "MIPResult", "MIPObserver", "PruneDecision", "Round", "run_mip", "random_settings_search",
           "PRUNE_RULES", "choose", "frontier", "rungs", "base_spearman"]

log = logging.getLogger(__name__)

PRUNE_RULES = ("within-noise", "cheapest")


@dataclass(frozen=True)
class MIPSettings:
    """How a MIP run proceeds.

    Attributes:
        per_round: settings sampled per round (K).
        initial: settings in the first round (``None``: 2 K), so the first importances rest on
            more than a handful of settings.
        min_agreement: prune only when at least this share of the forests agree on the least
            important knob; otherwise measure another round first.
        rounds: most rounds (``None``: until one knob is left).
        importance: ``fanova``, ``mdi`` or ``permutation``.
        forest_seeds: forests per importance estimate (mean and std are reported).
        prune_rule: ``within-noise`` or ``cheapest``.
        max_cost: cap on the cost per arch of the returned setting (``None``: no cap).
        skip_over_cap: do not measure settings whose predicted cost exceeds ``max_cost``.
        budget: total spend allowed (live: wall seconds, estimated as cost per arch x archs /
            jobs; tabular: lookups); ``None``: no limit.
        seed: seed of the setting sampler.
        baseline: a training-free scorer measured on the same archs before round 1 (live
            only): a setting is worth its seconds only where its rho interval lies above the
            scorer's (``worth_its_cost`` in the result); ``None``: no baseline.
        halving: successive halving over archs (live only): every setting is first measured on
            this many archs (the start of the seeded sample), and the better half of the settings
            at each rung is measured on twice as many, up to the whole sample (``None``: every
            setting on the whole sample).  See :func:`rungs`.
    """

    per_round: int = 4
    initial: int | None = None
    min_agreement: float = 0.5
    rounds: int | None = None
    importance: str = "fanova"
    forest_seeds: int = 10
    prune_rule: str = "within-noise"
    max_cost: float | None = None
    skip_over_cap: bool = True
    budget: float | None = None
    seed: int = 0
    baseline: str | None = None
    halving: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.per_round, int) or self.per_round < 1:
            raise ConfigError(f"per_round must be a positive integer, got {self.per_round!r}")
        if self.initial is not None and (not isinstance(self.initial, int) or self.initial < 1):
            raise ConfigError(f"initial must be a positive integer, got {self.initial!r}")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(f"min_agreement must be in [0, 1], got {self.min_agreement!r}")
        if self.rounds is not None and (not isinstance(self.rounds, int) or self.rounds < 1):
            raise ConfigError(f"rounds must be a positive integer, got {self.rounds!r}")
        if self.importance not in IMPORTANCE_METHODS:
            raise ConfigError(f"importance must be one of {', '.join(IMPORTANCE_METHODS)}, got '{self.importance}'")
        if not isinstance(self.forest_seeds, int) or self.forest_seeds < 1:
            raise ConfigError(f"forest_seeds must be a positive integer, got {self.forest_seeds!r}")
        if self.prune_rule not in PRUNE_RULES:
            raise ConfigError(f"prune_rule must be one of {', '.join(PRUNE_RULES)}, got '{self.prune_rule}'")
        if self.max_cost is not None and not (math.isfinite(self.max_cost) and self.max_cost > 0):
            raise ConfigError(f"the per-arch cost cap must be a positive number, got {self.max_cost!r}")
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise ConfigError(f"the budget must be a positive number, got {self.budget!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"the setting sampler's seed must be an integer >= 0, got {self.seed!r}")
        if self.halving is not None and (not isinstance(self.halving, int) or self.halving < 5):
            raise ConfigError(f"the first rung of successive halving needs at least 5 archs, got {self.halving!r}")


class MIPObserver(Protocol):
    """What :func:`run_mip` tells of a run as it goes (each measured result, with the identity
    of its setting; each round), and asks back to resume one (the results and first-arch
    timings an earlier run of the same inputs recorded), e.g. a :class:`~bpe.mip.study.MIPStudy`."""

    def record(self, result: SettingResult, identity: tuple | None = None) -> bool: ...

    def record_round(self, entry: Round) -> None: ...

    def recall(self, identity: tuple, rung: int | None,
               variants: Sequence[Mapping[str, Any]]) -> list[SettingResult] | None: ...

    def remember(self, name: str, value: Any) -> None: ...

    def remembered(self, name: str) -> Any: ...


@dataclass(frozen=True)
class PruneDecision:
    """A round's decision: the knobs' importances (mean and std over forest seeds) and the knob
    pruned with the value it is fixed to, or ``pruned`` ``None`` with a ``note`` saying why
    nothing was (too few knobs varied; the forests disagree, with their ``agreement`` and the
    ``least`` important knob).  A pruning also keeps the evidence: every knob's importance, the
    forests' ``agreement``, the knobs ``not_yet_varied``, the partial dependence of each value,
    the noise margin and the rule that chose among the values."""

    importances: dict[str, float]
    importances_std: dict[str, float]
    importance_method: str
    pruned: str | None = None
    fixed_value: Any = None
    agreement: float | None = None
    least: str | None = None
    note: str | None = None
    importances_all: dict[str, float] | None = None
    forest_seeds: int | None = None
    not_yet_varied: list[str] | None = None
    partial_dependence: dict[str, float] | None = None
    noise: float | None = None
    prune_rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the keys each kind of decision has always written."""
        if self.pruned is None:
            out: dict[str, Any] = {"importances": self.importances, "importances_std": self.importances_std,
                                   "importance_method": self.importance_method, "pruned": None, "fixed_value": None}
            if self.least is not None:
                out.update(agreement=self.agreement, least=self.least)
            out["note"] = self.note
            return out
        return {"importances": self.importances, "importances_std": self.importances_std,
                "importances_all": self.importances_all, "importance_method": self.importance_method,
                "forest_seeds": self.forest_seeds, "pruned": self.pruned, "fixed_value": self.fixed_value,
                "agreement": self.agreement, "not_yet_varied": self.not_yet_varied,
                "partial_dependence": self.partial_dependence, "noise": self.noise, "prune_rule": self.prune_rule}


@dataclass(frozen=True)
class Round:
    """One MIP round: the knobs still free, the trajectory indices of the settings it measured
    (``n_new`` of them), those skipped over the cap, and its :class:`PruneDecision` (``None``
    for the last round, which sweeps the last knob, or a round that measured nothing)."""

    round: int
    free: list[str]
    measured: list[int]
    n_new: int
    skipped_over_cap: list[Any]
    decision: PruneDecision | None = None

    @property
    def pruned(self) -> str | None:
        """The knob this round pruned (``None``: none)."""
        return self.decision.pruned if self.decision is not None else None

    @property
    def fixed_value(self) -> Any:
        """The value the pruned knob was fixed to (``None``: nothing pruned)."""
        return self.decision.fixed_value if self.decision is not None else None

    @property
    def importances(self) -> dict[str, float]:
        """The free knobs' importances this round (empty: no decision)."""
        return self.decision.importances if self.decision is not None else {}

    @property
    def agreement(self) -> float | None:
        """The share of forests whose least important knob was the one pruned."""
        return self.decision.agreement if self.decision is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``bpe.json``'s ``rounds`` entries."""
        out: dict[str, Any] = {"round": self.round, "free": self.free, "measured": self.measured, "n_new": self.n_new,
                               "skipped_over_cap": self.skipped_over_cap}
        out.update(self.decision.to_dict() if self.decision is not None
                   else {"pruned": None, "fixed_value": None, "importances": {}})
        return out


@dataclass
class MIPResult:
    """Everything a MIP run measured and decided.

    Attributes:
        chosen: the returned setting's result (``None`` when nothing within the cap was measured).
        trajectory: every measured result in order (with ``round`` and ``predicted_cost`` in ``extra``).
        rounds: per round the settings measured, importances, the knob pruned and its value.
        fixed: knob -> value of every pruned knob.
        cost_model: the calibrated cost model's coefficients and held-out error.
        spent: budget spent (same unit as ``MIPSettings.budget``).
        stop_reason: why the loop ended.
        halving: with successive halving, the rungs (archs per rung) and every promotion in order.
    """

    chosen: SettingResult | None
    trajectory: list[SettingResult]
    rounds: list[Round]
    fixed: dict[str, Any]
    cost_model: dict[str, Any]
    spent: float
    stop_reason: str
    settings: MIPSettings
    knobs: dict[str, Any] = field(default_factory=dict)
    n_measured: int = 0
    baseline: SettingResult | None = None
    halving: dict[str, Any] | None = None

    def complete(self, result: SettingResult) -> bool:
        """Whether ``result`` was measured on every arch (always, without successive halving)."""
        if not self.halving or "rung" not in result.extra:
            return True
        return result.extra["rung"] == len(self.halving["rungs"]) - 1

    def worth_its_cost(self) -> dict[str, Any] | None:
        """Whether the chosen setting ranks better than the baseline scorer: its rho interval lies
        wholly above the scorer's (``worth`` is ``None`` when either interval is unknown or
        nothing was chosen; ``None`` without a baseline).  The chosen setting's interval is
        measured on the archs it was chosen on (an optimistic, in-sample figure): a held-out
        sample (``experiments/mip_heldout.py``) is the unbiased test."""
        if self.baseline is None:
            return None
        theirs = self.baseline.spearman_ci95
        ours = self.chosen.spearman_ci95 if self.chosen is not None else [None, None]

        def known(v: Any) -> bool:
            return v is not None and math.isfinite(v)

        within_cap = [r for r in self.trajectory if r.family == "proxy"  # settings, not the scorers or blends
                      and (self.settings.max_cost is None or r.cost_per_arch <= self.settings.max_cost)]
        above = [r for r in within_cap if known(r.spearman_ci95[0]) and known(theirs[1])
                 and r.spearman_ci95[0] > theirs[1]]
        worth = (bool(ours[0] > theirs[1]) if known(ours[0]) and known(theirs[1]) else None)
        reason = ("nothing was chosen" if self.chosen is None else
                  "the baseline's interval is unknown" if not known(theirs[1]) else
                  "the chosen setting's interval is unknown" if not known(ours[0]) else None)
        return {"worth": worth, "reason": reason, "baseline": self.baseline.name,
                "baseline_spearman": self.baseline.spearman, "baseline_spearman_ci95": theirs,
                "baseline_cost_per_arch": self.baseline.cost_per_arch, "chosen_spearman_ci95": ours,
                "n_settings_above_baseline": len(above),
                "rule": "the chosen setting's 95% interval of rho lies above the baseline's (in-sample: the chosen "
                        "setting is the best of many on these archs; a held-out sample is the unbiased test)"}


def rungs(first: int | None, n_archs: int) -> list[int]:
    """The archs each rung of successive halving measures a setting on: ``first``, then twice as
    many, ..., the whole sample of ``n_archs`` last (one rung of all when ``first`` is ``None`` or
    not below ``n_archs``)."""
    if first is None or first >= n_archs:
        return [n_archs]
    out = [first]
    while out[-1] * 2 < n_archs:
        out.append(out[-1] * 2)
    if len(out) > 1 and n_archs - out[-1] < out[-1] - out[-2]:  # a last step of a few archs: merged
        out.pop()
    return out + [n_archs]


def base_spearman(result: SettingResult) -> tuple[float, list[float]]:
    """A setting's rho and interval on the first rung's archs, which every setting was measured on:
    what the importance forests and the pruning rule compare (a setting promoted to more archs
    would otherwise be compared on other archs than the rest)."""
    base = result.extra.get("rungs")
    if base:
        return base[0]["spearman"], base[0]["spearman_ci95"]
    return result.spearman, result.spearman_ci95


def choose(results: Sequence[SettingResult], max_cost: float | None) -> SettingResult | None:
    """Highest measured rho with cost per arch within ``max_cost`` (ties: the cheaper)."""
    ok = [r for r in results if math.isfinite(r.spearman) and (max_cost is None or r.cost_per_arch <= max_cost)]
    return max(ok, key=lambda r: (r.spearman, -r.cost_per_arch)) if ok else None


def frontier(results: Sequence[SettingResult]) -> list[SettingResult]:
    """The cost/quality front: results that no cheaper-or-equal result beats in rho."""
    ok = sorted((r for r in results if math.isfinite(r.spearman)), key=lambda r: (r.cost_per_arch, -r.spearman))
    front, best = [], -math.inf
    for r in ok:
        if r.spearman > best:
            front.append(r)
            best = r.spearman
    return front


def _noise(results: Sequence[SettingResult]) -> float:
    intervals = [base_spearman(r)[1] for r in results]
    ses = [(ci[1] - ci[0]) / 3.92 for ci in intervals
           if ci and all(v is not None and math.isfinite(v) for v in ci)]
    return float(np.median(ses)) if ses else 0.0


class _Run:
    """State of one MIP (or random-search) run."""

    def __init__(self, evaluator: SettingEvaluator, settings: MIPSettings, *, parallel: int,
                 progress: bool, on_event: Callable[[str], None] | None, observer: MIPObserver | None = None) -> None:
        self.ev, self.cfg, self.parallel = evaluator, settings, max(1, parallel)
        self.observer = observer  # told of every result and round; asked back for what an earlier run measured
        # where a run resumes from (a live source: a lookup in recorded data costs nothing to repeat)
        self.memory = observer if evaluator.resumable else None
        self.knobs = evaluator.knobs
        self.rng = np.random.default_rng(settings.seed)
        self.cost = CostModel(self.knobs)
        self.results: list[SettingResult] = []
        self.measured: list[tuple[dict[str, Any], float]] = []  # (training setting, cost) for the cost model
        self.seen: set[tuple] = set()
        self.spent = 0.0
        # a knob with a single choice is fixed from the start (never a pruning round)
        self.fixed: dict[str, Any] = {n: g.values[0] for n, g in self.knobs.grids.items() if len(g.values) == 1}
        self.progress = progress
        self.say = on_event or (lambda text: log.info("%s", text))
        if settings.halving is not None and not evaluator.halves:
            raise ConfigError(f"successive halving over archs needs archs to measure a setting on; a "
                              f"{type(evaluator).__name__} measures each setting on all its archs at once")
        self.rungs: list[int | None] = rungs(settings.halving, evaluator.n_archs) if evaluator.halves else [None]
        self.level: dict[tuple, int] = {}  # training setting -> the highest rung it was measured on
        self.members: dict[tuple, list[int]] = {}  # training setting -> its results (one per readout)
        self.promotions: list[dict[str, Any]] = []

    # -- identity and cost ------------------------------------------------------------
    def key(self, proposal: Proposal) -> tuple:
        return self.ev.identity(proposal)

    # -- resuming from the study --------------------------------------------------------
    def recall(self, key: tuple, rung: int | None, variants: Sequence[Mapping[str, Any]]) -> list[SettingResult] | None:
        """The results the observer's storage holds of this measurement (a resumed live run: a
        lookup in recorded data is measured again, it costs nothing), else ``None``."""
        return self.memory.recall(key, rung, variants) if self.memory is not None else None

    def first_arch_seconds(self, values: Mapping[str, Any]) -> float | None:
        """A setting's first arch timed alone (the cost model's first point, the cap's probe), or
        what the observer's storage kept of it from an earlier run of the same inputs: a decision
        depends on it, so it is not timed again."""
        name = f"first arch of {json.dumps(list(self.key(Proposal(values))), default=str)}"
        if self.memory is not None:
            held = self.memory.remembered(name)
            if held is not None:
                return float(held)
        seconds = self.ev.first_arch_seconds(Proposal(values))
        if seconds is not None and self.memory is not None:
            self.memory.remember(name, seconds)
        return seconds

    def record_cost(self, setting: Mapping[str, Any], cost: float) -> None:
        """Add a measured (setting, cost per arch) and recalibrate the cost model."""
        self.measured.append((dict(setting), cost))
        self.cost.fit([s for s, _ in self.measured], [c for _, c in self.measured])

    def predicted(self, setting: Mapping[str, Any]) -> float | None:
        # The cost model's prediction, also for recorded settings: their cost is treated as
        # unknown until looked up, as it would be for settings never trained.
        return self.cost.predict(setting)

    def charge(self, cost_per_arch: float, n_archs: int | None = None) -> float:
        """Budget spent by measuring a setting on ``n_archs`` (default: the first rung's)."""
        return self.ev.charge(cost_per_arch, n_archs or self.rungs[0], self.parallel)

    def affordable(self, proposal: Proposal) -> bool:
        if self.cfg.budget is None:
            return True
        pred = self.predicted(proposal.values)
        return pred is None or self.spent + self.charge(pred) <= self.cfg.budget * (1 + 1e-9)

    def over_cap(self, proposal: Proposal) -> bool:
        if not (self.cfg.skip_over_cap and self.cfg.max_cost is not None):
            return False
        pred = self.predicted(proposal.values)
        return pred is not None and pred > self.cfg.max_cost

    # -- proposals --------------------------------------------------------------------
    def derived_variants(self) -> list[dict[str, Any]]:
        """Every combination of the derived knobs' values (a pruned one at its value): all read
        off one training of a setting."""
        names = [n for n in self.knobs.names if self.knobs.derived(n)]
        values = [[self.fixed[n]] if n in self.fixed else list(self.knobs[n].values) for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*values)] if names else []

    def propose(self, k: int, *, corner: bool, fixed: Mapping[str, Any]) -> list[Proposal]:
        return self.ev.propose(k, corner=corner, fixed=fixed, rng=self.rng,
                               skip=lambda s: self.key(s) in self.seen or self.over_cap(s))

    # -- measuring ----------------------------------------------------------------------
    def probe_over_cap(self, proposal: Proposal, desc: str) -> float | None:
        """Live runs with a cap: train the first arch alone first (cached, so not wasted when the
        setting is kept); the measured seconds when they break the cap, else ``None``."""
        if not (self.cfg.skip_over_cap and self.cfg.max_cost is not None):
            return None
        seconds = self.first_arch_seconds(proposal.values)
        if seconds is None:  # costs known without measuring
            return None
        ratios = [r.cost_per_arch / r.extra["first_arch_seconds"] for r in self.results
                  if r.extra.get("first_arch_seconds")]
        estimate = seconds * (float(np.median(ratios)) if ratios else 1.0)  # the sample mean from its first arch
        if estimate <= self.cfg.max_cost:
            return None
        self.spent += seconds  # trained alone: its wall time
        self.record_cost(proposal.values, estimate)
        self.seen.add(self.key(proposal))
        self.say(f"{desc}: skipped, its first arch took {seconds:.1f} s (about {estimate:.1f} s per arch of the "
                 f"sample), above the cap of {self.cfg.max_cost:g} s")
        return estimate

    def measure(self, proposals: list[Proposal], rnd: int, label: str) -> tuple[list[int], bool, list]:
        indices, exhausted, skipped = [], False, []
        bar = tqdm(total=len(proposals), desc=label, unit="setting", disable=not self.progress, dynamic_ncols=True)
        self.budget_blocked = False
        try:
            self._measure_all(proposals, rnd, label, bar, indices, skipped)
        finally:
            bar.close()
        exhausted = self.budget_blocked and not indices  # nothing left that the budget pays for
        return indices, exhausted, skipped

    def _measure_all(self, proposals: list[Proposal], rnd: int, label: str, bar: Any, indices: list,
                     skipped: list) -> None:
        for i, proposal in enumerate(proposals):
            bar.update(0 if i == 0 else 1)
            setting = _skipped_setting(proposal)
            if not self.affordable(proposal):
                left = self.cfg.budget - self.spent
                self.say(f"{label} setting {i + 1}/{len(proposals)}: skipped, "
                         + (f"the budget left ({left:.1f}) does not cover it" if left > 0 else
                            f"the budget is spent ({-left:.1f} over: a measurement is not cut short)"))
                skipped.append({"setting": setting, "reason": "budget", "predicted_cost": self.predicted(proposal.values)})
                self.budget_blocked = True
                continue
            pred = self.predicted(proposal.values)
            desc = f"{label} setting {i + 1}/{len(proposals)}"
            if self.over_cap(proposal):  # the model learnt more since the round was proposed
                skipped.append({"setting": setting, "reason": "predicted over cap", "predicted_cost": pred})
                self.say(f"{desc}: skipped, predicted {pred:.4g} per arch, above the cap of {self.cfg.max_cost:g}")
                continue
            key = self.key(proposal)
            variants = self.derived_variants()
            first_rung = 0 if len(self.rungs) > 1 else None
            results = self.recall(key, first_rung, variants)
            probe = self.probe_over_cap(proposal, desc) if results is None else None  # measured before: it passed
            if probe is not None:
                skipped.append({"setting": setting, "reason": "first arch over cap", "estimated_cost": probe,
                                "predicted_cost": pred})
                continue
            if results is None:
                results = self.ev.evaluate(proposal, variants=variants, desc=desc, n_archs=self.rungs[0])
            else:
                self.say(f"{desc}: read back from the study (measured by an earlier run of the same inputs)")
            self.seen.add(key)
            cost = results[0].cost_per_arch
            self.spent += self.charge(cost)
            self.record_cost(self.ev.knob_values(proposal), cost)
            self.level[key], self.members[key] = 0, []
            for r in results:
                r.extra.update(round=rnd, predicted_cost=pred,
                               breaks_pruned=sum(r.setting.get(n) != v for n, v in self.fixed.items()))
                if len(self.rungs) > 1:
                    r.extra.update(rungs=[_rung_entry(r)], rung=0)
                self.members[key].append(len(self.results))
                indices.append(len(self.results))
                self.results.append(r)
                if self.observer is not None:
                    self.observer.record(r, identity=key)
            best = max(results, key=lambda r: r.spearman if math.isfinite(r.spearman) else -math.inf)
            self.say(f"{desc}: [{best.family}] {best.name or best.setting}  rho {best.spearman:.3f} "
                     f"[{best.spearman_ci95[0]:.2f}, {best.spearman_ci95[1]:.2f}]  cost/arch {cost:.4g}"
                     + (f" (predicted {pred:.4g})" if pred is not None else ""))
        bar.update(1 if proposals else 0)

    # -- successive halving over archs ---------------------------------------------------
    def top(self, key: tuple) -> float:
        """A training setting's best rho (over its readouts) on the archs of its highest rung."""
        rhos = [self.results[i].spearman for i in self.members[key]]
        finite = [r for r in rhos if math.isfinite(r)]
        return max(finite) if finite else -math.inf

    def within_cap(self, key: tuple) -> bool:
        cost = self.results[self.members[key][0]].cost_per_arch
        return self.cfg.max_cost is None or cost <= self.cfg.max_cost

    def promote(self, key: tuple, why: str, rank: int | None = None) -> None:
        """Measure a training setting on the archs of its next rung (the earlier ones are cached)."""
        level = self.level[key] + 1
        n = self.rungs[level]
        first = self.results[self.members[key][0]]
        setting = {k: v for k, v in first.setting.items() if not self.knobs.derived(k)}
        variants = [{k: self.results[i].setting[k] for k in self.results[i].setting if self.knobs.derived(k)}
                    for i in self.members[key]]
        recalled = self.recall(key, level, variants if any(variants) else [])  # as recorded after this promotion
        fresh = recalled or self.ev.evaluate(Proposal(setting), variants=variants if any(variants) else (),
                                             desc=f"rung {level + 1}/{len(self.rungs)} ({n} archs)", n_archs=n)
        self.spent += self.charge(fresh[0].cost_per_arch, n - self.rungs[level - 1])
        for i, new in zip(self.members[key], fresh):
            old = self.results[i]
            for name in ("spearman", "kendall", "spearman_ci95", "kendall_ci95", "cost_per_arch", "n_archs", "n_ok",
                         "scores"):
                setattr(old, name, getattr(new, name))
            if recalled is not None:
                old.extra = dict(new.extra)
            else:
                old.extra.update({k: v for k, v in new.extra.items() if k != "first_arch_seconds"}, rung=level)
                old.extra["rungs"].append(_rung_entry(new))
            if self.observer is not None:
                self.observer.record(old, identity=key)
        self.level[key] = level
        self.promotions.append({"setting": setting, "to_rung": level, "n_archs": n, "why": why, "rank": rank,
                                "spearman": self.top(key)})
        best = max((self.results[i] for i in self.members[key]),
                   key=lambda r: r.spearman if math.isfinite(r.spearman) else -math.inf)
        self.say(f"promoted ({why}) to {n} archs: [{best.family}] {best.name}  rho {best.spearman:.3f} "
                 f"[{best.spearman_ci95[0]:.2f}, {best.spearman_ci95[1]:.2f}]")

    def halve(self) -> None:
        """Asynchronous successive halving: at every rung, the better half of the settings measured
        there (by their best readout's rho on that rung's archs; within the cap, usable) is
        promoted to the next rung, if not there already."""
        for level in range(len(self.rungs) - 1):
            there = [k for k, lv in self.level.items() if lv >= level]
            ranked = sorted(there, key=lambda k: -self._rung_rho(k, level))
            for rank, key in enumerate(ranked[: len(there) // 2], start=1):
                if self.level[key] != level or not math.isfinite(self._rung_rho(key, level)) or not self.within_cap(key):
                    continue
                extra = self.charge(self.results[self.members[key][0]].cost_per_arch,
                                    self.rungs[level + 1] - self.rungs[level])
                if self.cfg.budget is not None and self.spent + extra > self.cfg.budget:
                    continue  # the leader is still promoted at the end (finish)
                self.promote(key, f"top half of {len(there)} at rung {level + 1}", rank)

    def _rung_rho(self, key: tuple, level: int) -> float:
        rhos = [self.results[i].extra["rungs"][level]["spearman"] for i in self.members[key]]
        finite = [r for r in rhos if r is not None and math.isfinite(r)]
        return max(finite) if finite else -math.inf

    def finish(self) -> None:
        """Promote the leader — the best rho on the first rung, which every setting was measured on
        (a rho on few archs runs high by chance, so rhos of different rungs are not compared) —
        until it has been measured on every arch, so the setting that looked best can be chosen.
        At most one setting's remaining rungs, whatever the budget left (``spent`` says so)."""
        keys = [k for k in self.level if self.within_cap(k) and math.isfinite(self._rung_rho(k, 0))]
        if not keys:
            return
        leader = max(keys, key=lambda k: (self._rung_rho(k, 0), self.level[k]))
        while self.level[leader] < len(self.rungs) - 1:
            self.promote(leader, "the leader on the first rung, measured on every arch before choosing")

    def complete(self, result: SettingResult) -> bool:
        """Whether ``result`` was measured on the whole sample (the last rung)."""
        return result.extra.get("rung", len(self.rungs) - 1) == len(self.rungs) - 1


def _skipped_setting(proposal: Proposal) -> dict[str, Any]:
    """A skipped proposal as the trajectory records it: its knob values (and its record's name)."""
    return {**proposal.values, "record": proposal.record} if proposal.record is not None else dict(proposal.values)


def _rung_entry(result: SettingResult) -> dict[str, Any]:
    return {"n_archs": result.n_archs, "spearman": result.spearman, "spearman_ci95": list(result.spearman_ci95),
            "kendall": result.kendall, "cost_per_arch": result.cost_per_arch}


def _prune(run: _Run, free: list[str]) -> PruneDecision:
    cfg = run.cfg
    seeds = list(range(cfg.forest_seeds))
    settings = [r.setting for r in run.results]
    rho = [base_spearman(r)[0] for r in run.results]  # on the first rung's archs: the same archs for all
    imp = knob_importance(run.knobs, settings, rho, method=cfg.importance, seeds=seeds)
    # a knob measured at one value only has zero importance by construction, not by evidence
    usable = [s for s, r in zip(settings, rho) if r is not None and math.isfinite(r)]
    varied = [k for k in free if len({s[k] for s in usable}) >= 2]
    if len(varied) < 2:  # the least of one knob is no comparison
        return PruneDecision({k: imp.mean[k] for k in free}, {k: imp.std[k] for k in free}, imp.method,
                             note=f"only {len(varied)} unpruned knob(s) measured at two values or more; nothing pruned")
    knob = imp.least(varied)
    if imp.agreement(varied) < cfg.min_agreement:
        return PruneDecision({k: imp.mean[k] for k in free}, {k: imp.std[k] for k in free}, imp.method,
                             agreement=imp.agreement(varied), least=knob,
                             note=f"only {imp.agreement(varied):.0%} of the forests agree that {knob} is the least "
                                  f"important (below {cfg.min_agreement:.0%}); measuring another round before pruning")
    grid = run.knobs[knob]
    allowed = run.ev.allowed_values(knob, run.fixed)
    measured_values = {s[knob] for s in usable}
    # a forest extrapolates flat: a value never measured would look as good as its neighbour
    allowed = [v for v in allowed if v in measured_values] or allowed
    pd = partial_dependence(run.knobs, settings, rho, knob, allowed, seeds=seeds)
    noise = _noise(run.results)
    finite = {v: p for v, p in pd.items() if math.isfinite(p)}
    if cfg.prune_rule == "cheapest" or not finite:
        pool = allowed
    else:
        best = max(finite.values())
        pool = [v for v, p in finite.items() if p >= best - noise]
    value = min(pool, key=lambda v: (grid.cost_rank(v), -finite.get(v, -math.inf), v not in measured_values))
    return PruneDecision(
        importances={k: imp.mean[k] for k in free},
        importances_std={k: imp.std[k] for k in free},
        importance_method=imp.method,
        pruned=knob,
        fixed_value=value,
        agreement=imp.agreement(varied),
        importances_all=imp.mean,
        forest_seeds=len(seeds),
        not_yet_varied=[k for k in free if k not in varied],
        partial_dependence={str(v): p for v, p in pd.items()},
        noise=noise,
        prune_rule=cfg.prune_rule,
    )


def run_mip(evaluator: SettingEvaluator, settings: MIPSettings | None = None, *, parallel: int = 1,
            progress: bool = True, on_event: Callable[[str], None] | None = None,
            observer: MIPObserver | None = None) -> MIPResult:
    """Run Minimum Importance Pruning over ``evaluator``'s knob space.

    Args:
        evaluator: live or tabular setting evaluator.
        settings: the run's parameters (see :class:`MIPSettings`).
        parallel: concurrent evaluations (``--jobs``), for the wall-time budget estimate.
        progress: show the evaluator's progress bars.
        on_event: called with one line per measured setting and per round (default: logged).
        observer: a :class:`MIPObserver`, e.g. a :class:`~bpe.mip.study.MIPStudy`: told of each
            result as it is measured (again when successive halving measures it on more archs) and
            of each round; on a live source, asked first for what an earlier run of the same inputs
            measured (the run then resumes from it instead of training again).

    Raises:
        BPEError: the cap is below the cheapest setting, or the budget cannot pay one round.
    """
    cfg = settings or MIPSettings()
    run = _Run(evaluator, cfg, parallel=parallel, progress=progress, on_event=on_event, observer=observer)
    _preflight(run)
    baseline = None
    if cfg.baseline is not None:  # the training-free frontier a setting must beat
        baseline = evaluator.scorer_result(cfg.baseline)
        run.say(f"baseline {baseline.name}: rho {baseline.spearman:.3f} [{baseline.spearman_ci95[0]:.2f}, "
                f"{baseline.spearman_ci95[1]:.2f}] at {baseline.cost_per_arch:.3g} s/arch; a setting is worth its "
                "cost only where its interval lies above this one")
    rounds: list[Round] = []
    stop = "one knob left"
    rnd = 0
    while True:
        free = [n for n in run.knobs.names if n not in run.fixed]
        last = len(free) <= 1
        if cfg.rounds is not None and rnd >= cfg.rounds:
            stop = f"round limit ({cfg.rounds}) reached"
            break
        rnd += 1
        label = f"round {rnd}"
        want = (cfg.initial or 2 * cfg.per_round) if rnd == 1 else cfg.per_round
        if last and free:  # the final sweep: every value of the last knob
            want = max(want, len(run.knobs[free[0]].values))
        proposals = run.propose(want, corner=rnd == 1, fixed=run.fixed)
        if len(proposals) < want:
            run.say(f"{label}: {len(proposals)} new setting(s) available for {want} slots")
        indices, exhausted, skipped = run.measure(proposals, rnd, label)
        if len(run.rungs) > 1:
            run.halve()
        decision = None if last or not run.results else _prune(run, free)
        entry = Round(round=rnd, free=free, measured=indices, n_new=len(indices), skipped_over_cap=skipped,
                      decision=decision)
        rounds.append(entry)
        if observer is not None:
            observer.record_round(entry)
        if decision is None:
            if not run.results:
                stop = "nothing could be measured"
            break
        if decision.pruned is None:
            run.say(f"{label}: {decision.note}")
            if not indices or exhausted:
                stop = "budget spent" if exhausted else "no new setting to measure"
                break
            continue
        run.fixed[decision.pruned] = decision.fixed_value
        imp_text = ", ".join(f"{k} {v:.3f}" for k, v in sorted(decision.importances.items(), key=lambda kv: -kv[1]))
        run.say(f"{label}: importance ({cfg.importance}) {imp_text}; pruned {decision.pruned} = "
                f"{decision.fixed_value} (agreement {decision.agreement:.0%} of forests)")
        if exhausted:
            stop = "budget spent"
            break
    if len(run.rungs) > 1:
        run.finish()
    chosen = choose([r for r in run.results if run.complete(r)], cfg.max_cost)
    model = run.cost.to_dict()
    model.update(run.cost.holdout_error([s for s, _ in run.measured], [c for _, c in run.measured]))
    return MIPResult(chosen=chosen, trajectory=run.results, rounds=rounds, fixed=dict(run.fixed), cost_model=model,
                     spent=run.spent, stop_reason=stop, settings=cfg, knobs=run.knobs.to_dict(),
                     n_measured=len(run.measured), baseline=baseline,
                     halving={"rungs": run.rungs, "promotions": run.promotions} if len(run.rungs) > 1 else None)


def _preflight(run: _Run) -> None:
    """Refuse a cap below the cheapest setting or a budget that cannot pay one round (the source
    says how); calibrate the cost model on what the source measured for it."""
    cfg = run.cfg
    first = run.ev.preflight(max_cost=cfg.max_cost, budget=cfg.budget, first_round=cfg.initial or 2 * cfg.per_round,
                             charge=run.charge, first_arch=run.first_arch_seconds)
    if first is not None:
        run.cost.fit([first[0]], [first[1]])


def random_settings_search(evaluator: SettingEvaluator, n_settings: int, *, seed: int = 0,
                           max_cost: float | None = None, skip_over_cap: bool = True,
                           parallel: int = 1) -> list[SettingResult]:
    """Baseline: ``n_settings`` settings drawn uniformly from the knob space (or the records),
    without replacement, same cap rule as MIP; returns their results in order (use :func:`choose`)."""
    cfg = MIPSettings(per_round=max(1, n_settings), seed=seed, max_cost=max_cost, skip_over_cap=skip_over_cap)
    run = _Run(evaluator, cfg, parallel=parallel, progress=False, on_event=lambda _: None)
    _preflight(run)  # a live source calibrates the cost model on the cheapest corner's first arch
    run.measure(run.propose(n_settings, corner=False, fixed={}), 0, "random")
    return run.results
