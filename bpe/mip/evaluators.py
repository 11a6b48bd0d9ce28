"""What MIP asks of a setting: its rank correlation with the ground truth and its cost per
architecture, from one of two evaluators behind one interface.

* :class:`LiveEvaluator` trains the architectures under the setting (through the cache and a
  :class:`~bpe.parallel.Runner`, so ``--jobs``, Dask and Ray work unchanged).  Every value of a
  derived knob (``report``; ``hybrid``: the proxy rank-blended with a training-free scorer) is read
  off the same training runs.
* :class:`TabularEvaluator` looks a setting's per-arch accuracies and cost up in recorded data
  (the BPE paper's 37 settings x 100 DARTS cells: ``settings.csv``, ``accuracies.csv``,
  ``ground_truth.csv``).
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bpe.errors import BPEError, DataError
from bpe.metrics import rank_summary
from bpe.mip.knobs import TABULAR_KNOBS, KnobGrid, KnobSpace
from bpe.truth.records_folder import TabularRecords, read_records_folder

__all__ = ["Proposal", "SettingResult", "SettingEvaluator", "LiveEvaluator", "TabularEvaluator", "TabularRecords",
           "read_tabular_records"]


@dataclass(frozen=True)
class Proposal:
    """A setting MIP may measure: its knob values and, for a recorded setting, the name of its
    record (recorded settings may share knob values: the BPE paper's differ in schedules that are
    not recorded knobs).  What makes two proposals the same measurement is the source's
    :meth:`SettingEvaluator.identity`."""

    values: Mapping[str, Any]
    record: str | None = None


@dataclass
class SettingResult:
    """How one setting ranks the architectures, and what it cost.

    Attributes:
        setting: knob -> value.
        spearman, kendall: rank correlations with the truth (``nan`` when undefined).
        spearman_ci95, kendall_ci95: bootstrap 95% intervals.
        cost_per_arch: mean cost of one architecture (seconds live; the records' unit tabular).
        n_archs, n_ok: archs scored, and those with a usable score and truth.
        name: the recorded setting's name (tabular) or a short description (live).
        config: the full :class:`BPEConfig` fields (live only).
        extra: other summary figures (top-10% precision, regret, ...).
        family: what kind of estimator it is: ``proxy`` (a training setting), ``scorer`` (a
            training-free scorer) or ``blend`` (a weighted rank-average fitted on the search archs,
            or a setting's ``hybrid``: its proxy and a scorer at equal weights; its ``extra["spec"]``
            is the blend's export, :meth:`~bpe.estimators.vote.RankBlend.to_spec`).
        scores: the score of each arch of the sample, in its order (``None`` where it failed):
            what a blend is fitted on and a paired comparison resamples.
    """

    setting: dict[str, Any]
    spearman: float
    kendall: float
    spearman_ci95: list[float]
    kendall_ci95: list[float]
    cost_per_arch: float
    n_archs: int
    n_ok: int
    name: str = ""
    config: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    family: str = "proxy"
    scores: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


#: Share of the archs (with a truth) that must have a usable score for a setting's rho to count.
MIN_USABLE = 0.9


def _summary(setting: Mapping[str, Any], scores: Sequence[float | None], truths: Sequence[float | None], cost: float,
             *, seed: int, name: str = "", config: dict | None = None, family: str = "proxy") -> SettingResult:
    """Rank summary of a setting; rho and tau are ``nan`` (never chosen, never fed to the forests)
    when fewer than :data:`MIN_USABLE` of the archs with a truth (and at least 3) have a score."""
    s = rank_summary(scores, truths, seed=seed)
    with_truth = sum(t is not None for t in truths)
    extra = {"top10pct_precision": s["top10pct_precision"], "regret": s["regret"]}
    rho, tau = s["spearman"], s["kendall"]
    if s["n_archs"] < max(3, math.ceil(MIN_USABLE * with_truth)):
        extra["unusable"] = (f"only {s['n_archs']} of {with_truth} archs have a usable score "
                             f"(rho {rho:.3f} on them is not counted)")
        rho = tau = math.nan
    return SettingResult(
        setting=dict(setting), spearman=rho, kendall=tau, spearman_ci95=s["spearman_ci95"],
        kendall_ci95=s["kendall_ci95"], cost_per_arch=cost, n_archs=len(scores), n_ok=s["n_archs"], name=name,
        config=config, extra=extra, family=family,
        scores=[None if v is None or not math.isfinite(v) else float(v) for v in scores],
    )


class SettingEvaluator(ABC):
    """A source of settings for MIP: what can be proposed, what a measurement costs, and how a
    setting ranks the architectures against a ground truth.  :func:`bpe.mip.search.run_mip` runs
    the same algorithm over any source; live training and recorded data are two of them."""

    #: Unit of ``cost_per_arch`` (for reports).
    cost_unit: str = ""
    #: Whether a setting can be measured on the first archs only (successive halving).
    halves: bool = False
    #: Whether a run resumes from what its study recorded (a measurement that trains: live).
    resumable: bool = False
    knobs: KnobSpace

    def candidates(self) -> list[Proposal] | None:
        """The settings that can be measured, or ``None`` for any setting of the grid."""
        return None

    @property
    def n_archs(self) -> int:
        """How many archs a setting is measured on (at most)."""
        return 0

    @abstractmethod
    def identity(self, proposal: Proposal) -> tuple:
        """What makes two proposals the same measurement."""

    def knob_values(self, proposal: Proposal) -> dict[str, Any]:
        """The proposal's knob values (what the cost model and the forests read)."""
        return {k: proposal.values[k] for k in self.knobs.names if k in proposal.values}

    @abstractmethod
    def charge(self, cost_per_arch: float, n_archs: int | None, parallel: int) -> float:
        """Budget spent by measuring one setting on ``n_archs`` archs (``None``: all)."""

    @abstractmethod
    def propose(self, k: int, *, corner: bool, fixed: Mapping[str, Any], rng: np.random.Generator,
                skip: Callable[[Proposal], bool]) -> list[Proposal]:
        """Up to ``k`` new settings honouring the pruned knobs ``fixed`` (``corner``: the cheapest
        first), none for which ``skip`` is true."""

    def allowed_values(self, knob: str, fixed: Mapping[str, Any]) -> list[Any]:
        """The values a pruned knob may be fixed to, the other pruned knobs at ``fixed``."""
        return list(self.knobs[knob].values)

    def first_arch_seconds(self, proposal: Proposal) -> float | None:
        """The seconds of the setting on the sample's first arch, measured alone (``None`` when a
        source knows its costs without measuring)."""
        return None

    @abstractmethod
    def preflight(self, *, max_cost: float | None, budget: float | None, first_round: int,
                  charge: Callable[[float], float],
                  first_arch: Callable[[Mapping[str, Any]], float | None] | None = None,
                  ) -> tuple[dict[str, Any], float] | None:
        """Refuse a cap below the cheapest setting or a budget that cannot pay the first round
        (``charge``: the budget one setting at a cost per arch spends); returns a first (setting,
        cost per arch) for the cost model, or ``None``.  ``first_arch`` times a setting's first
        arch (default: :meth:`first_arch_seconds`; a resumed run reads it back)."""

    @abstractmethod
    def evaluate(self, proposal: Proposal, *, variants: Sequence[Mapping[str, Any]] = (),
                 desc: str = "", n_archs: int | None = None) -> list[SettingResult]:
        """Measure one setting; for a live space one result per entry of ``variants`` (values of
        the derived knobs, ``report`` and ``hybrid``: all read off the same training), else one
        result.  ``n_archs``: only the first so many archs of the sample (successive halving;
        live only)."""

    def recorded_cost(self, proposal: Proposal) -> float | None:
        """The cost of a setting known without measuring it (recorded data), else ``None``."""
        return None

    def scorer_result(self, name: str) -> SettingResult:
        """How a training-free scorer ranks the same archs (the baseline a setting must beat)."""
        raise DataError(f"a {type(self).__name__} has no archs to score with {name}: a baseline needs live MIP")

    def describe(self) -> dict[str, Any]:
        """Provenance of the measurements (truth, archs, data)."""
        return {}


class LiveEvaluator(SettingEvaluator):
    """Trains ``archs`` under each setting and correlates with ``truth``.

    Args:
        knobs: a live knob space (with a base config).
        dataset: the :class:`~bpe.data.DatasetSpec` to train on.
        truth: a :class:`~bpe.truth.Benchmark`.
        metric: the truth's metric.
        archs: the fixed architecture sample.
        runner: parallelism, cache and progress.
        space: search-space name.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: bootstrap seed of the intervals.
    """

    cost_unit = "seconds"
    halves = True
    resumable = True

    def __init__(self, knobs: KnobSpace, dataset: Any, truth: Any, metric: str, archs: Sequence[str], *,
                 runner: Any, space: str = "nb201", device: str = "auto", seed: int = 0) -> None:
        self.knobs, self.dataset, self.truth, self.metric = knobs, dataset, truth, metric
        self.archs, self.runner, self.space, self.device, self.seed = list(archs), runner, space, device, seed
        self._truths: list[float | None] | None = None

    @property
    def n_archs(self) -> int:
        return len(self.archs)

    # -- the setting source --------------------------------------------------------------
    def identity(self, proposal: Proposal) -> tuple:
        return tuple((k, proposal.values[k]) for k in self.knobs.names if not self.knobs.derived(k))

    def charge(self, cost_per_arch: float, n_archs: int | None, parallel: int) -> float:
        """Wall seconds: the cost per arch times the archs, over the parallel jobs."""
        return cost_per_arch * (n_archs or len(self.archs)) / max(1, parallel)

    def canonical(self, setting: dict[str, Any], fixed: Mapping[str, Any]) -> dict[str, Any]:
        """``setting`` with every derived knob (read off the same training: ``report``, ``hybrid``)
        at its pruned value or its first: one training per setting."""
        for name in self.knobs.names:
            if self.knobs.derived(name):
                setting[name] = fixed.get(name, self.knobs[name].values[0])
        return setting

    def propose(self, k: int, *, corner: bool, fixed: Mapping[str, Any], rng: np.random.Generator,
                skip: Callable[[Proposal], bool]) -> list[Proposal]:
        """Seeded draws over the unpruned knobs (the cheapest corner first with ``corner``)."""
        out: list[Proposal] = []
        keys: set[tuple] = set()
        if corner:
            c = Proposal(self.canonical({**self.knobs.cheapest(), **fixed}, fixed))
            if self.knobs.valid(c.values) and not skip(c):
                out.append(c)
                keys.add(self.identity(c))
        free = [n for n in self.knobs.names if n not in fixed and not self.knobs.derived(n)]
        space = int(np.prod([len(self.knobs[n].values) for n in free])) if free else 1
        attempts = 0
        while len(out) < k and attempts < 200 * k:
            attempts += 1
            s = Proposal(self.canonical(self.knobs.sample(rng, fixed), fixed))
            key = self.identity(s)
            if key in keys or not self.knobs.valid(s.values) or skip(s):
                continue
            out.append(s)
            keys.add(key)
            if len(keys) >= space:
                break
        return out

    def first_arch_seconds(self, proposal: Proposal) -> float | None:
        return self.measure_arch(proposal.values, self.archs[0])

    def preflight(self, *, max_cost: float | None, budget: float | None, first_round: int,
                  charge: Callable[[float], float],
                  first_arch: Callable[[Mapping[str, Any]], float | None] | None = None,
                  ) -> tuple[dict[str, Any], float] | None:
        """Times the cheapest corner on the first arch (cached): the cost model's first point."""
        corner = self.canonical(dict(self.knobs.cheapest()), {})
        if not self.knobs.valid(corner):
            raise BPEError(f"the cheapest corner {corner} is not a valid BPEConfig; fix the knob grids")
        seconds = (first_arch or (lambda s: self.first_arch_seconds(Proposal(s))))(corner)
        if max_cost is not None and seconds > max_cost:
            raise BPEError(f"the per-arch cap {max_cost:g} s is below the cheapest setting, which took {seconds:.2f} s "
                           f"per arch here; raise --max-seconds-per-arch or make the knob grids cheaper")
        one_round = charge(seconds) * first_round  # a lower bound: the corner is the cheapest setting
        if budget is not None and one_round > budget:
            raise BPEError(f"the budget ({budget:.0f} s) is too small for one round: {first_round} settings at the "
                           f"cheapest setting's cost need about {one_round:.0f} s; raise --budget, or lower --archs "
                           f"or --per-round")
        return corner, seconds

    def truths(self) -> list[float | None]:
        """The truth of every arch of the sample (``None`` where unknown)."""
        if self._truths is None:
            values = self.truth.query_many(self.archs, self.metric, runner=self.runner)
            self._truths = [v if v is not None and math.isfinite(v) else None for v in values]
        return self._truths

    def estimator(self, setting: Mapping[str, Any]):
        """The proxy-training estimator of a setting (its ``hybrid`` aside: see :meth:`hybrid`)."""
        from bpe.estimators.proxy import ProxyTrainingEstimator  # torch-heavy

        return ProxyTrainingEstimator(self.knobs.to_config(setting), self.dataset, space=self.space, device=self.device)

    def scorer(self, name: str):
        """The registered training-free scorer ``name`` at its default options, on the same data."""
        from bpe.estimators.vote import scorer_estimator  # torch-heavy

        return scorer_estimator(name, dataset=self.dataset, space=self.space, device=self.device)

    def hybrid(self, proxy: Any, scorer: str):
        """The hybrid of a setting's ``proxy`` with ``scorer``: their rank blend at equal weights,
        anchored on the proxy (:class:`~bpe.estimators.vote.RankBlend`)."""
        from bpe.estimators.vote import RankBlend  # torch-heavy

        return RankBlend([proxy, self.scorer(scorer)], [1.0, 1.0], anchored=True)

    def measure_arch(self, setting: Mapping[str, Any], arch: str) -> float:
        """Train one arch under ``setting`` (through the cache) and return its seconds."""
        record = self.runner.measure(self.estimator(setting), [arch], desc="probe")[0]
        return record.cost.seconds

    def evaluate(self, proposal: Proposal, *, variants: Sequence[Mapping[str, Any]] = (),
                 desc: str = "", n_archs: int | None = None) -> list[SettingResult]:
        setting = proposal.values
        estimator = self.estimator(setting)
        archs = self.archs[:n_archs] if n_archs else self.archs
        truths = self.truths()[: len(archs)]
        raw = self.runner.measure(estimator, archs, desc=desc or estimator.describe())
        ok_seconds = [r.cost.seconds for r in raw if r.ok]  # a transient failure costs ~0 s: not a cost figure
        cost = float(np.mean(ok_seconds or [r.cost.seconds for r in raw]))
        results = []
        for variant in list(variants) or [{}]:
            proxy = estimator.with_report(variant.get("report", estimator.config.report))
            scored = [proxy.finalize(r) for r in raw]
            est, seconds, spec = proxy, cost, {}
            hybrid = variant.get("hybrid", setting.get("hybrid", "none"))
            if hybrid != "none":  # the proxy's rank averaged with a training-free score's
                est = self.hybrid(proxy, hybrid)
                scorer = self.runner.run(est.members[1], archs, desc=hybrid)
                scored = est.blend(archs, [scored, scorer])
                seconds = cost + float(np.mean([r.cost.seconds for r in scorer]))
                spec = {"spec": est.to_spec()}
            named = {**setting, **{k: v for k, v in variant.items() if k in self.knobs.names}}
            results.append(_summary(named, [r.score if r.ok else None for r in scored], truths, seconds,
                                    seed=self.seed, name=est.describe(), config=proxy.config.to_dict(),
                                    family="blend" if spec else "proxy"))
            results[-1].extra.update(n_failed=sum(not r.ok for r in scored), first_arch_seconds=raw[0].cost.seconds,
                                     **spec)
        return results

    def scorer_result(self, name: str) -> SettingResult:
        scorer = self.scorer(name)
        records = self.runner.run(scorer, self.archs, desc=name)
        seconds = float(np.mean([r.cost.seconds for r in records]))
        from bpe.estimators.vote import member_spec  # torch-heavy

        result = _summary({"scorer": name}, [r.score if r.ok else None for r in records], self.truths(), seconds,
                          seed=self.seed, name=scorer.describe(), family="scorer")
        result.extra["measurement"] = repr(scorer.fingerprint())  # scorers reading one measurement pay it once
        result.extra["spec"] = member_spec(scorer)  # its export: the network it scored pinned
        if scorer.population:  # an assembly (az_nas): its scores are ranks among these archs
            result.extra["population"] = True
        return result

    def describe(self) -> dict[str, Any]:
        return {"kind": "live", "metric": self.metric, "truth": self.truth.fingerprint(),
                "dataset": self.dataset.fingerprint(), "space": self.space, "n_archs": len(self.archs),
                "archs": list(self.archs)}


def read_tabular_records(folder: str | Path, *, knob_columns: Sequence[str] | None = None,
                         cost_column: str = "gpu_hours_per_net") -> TabularRecords:
    """A record folder (:func:`~bpe.truth.records_folder.read_records_folder`) with MIP's
    known knob columns (:data:`~bpe.mip.knobs.TABULAR_KNOBS`) as the default knobs."""
    return read_records_folder(folder, knob_columns=knob_columns, cost_column=cost_column,
                               known_knobs=tuple(TABULAR_KNOBS))


class TabularEvaluator(SettingEvaluator):
    """Looks settings up in :class:`TabularRecords`; only recorded settings can be measured.

    Recorded settings whose knob values coincide (the BPE paper's ``test1``, ``linear_lr`` and
    ``test1_halfdata`` differ in schedule and data, which are not recorded knobs) are kept as
    separate candidates.
    """

    def __init__(self, records: TabularRecords, *, seed: int = 0, cost_unit: str = "GPU-hours per net") -> None:
        self.records, self.seed, self.cost_unit = records, seed, cost_unit
        grids = []
        for col in records.knob_columns:
            values = sorted(set(records.settings[col].tolist()))
            values = tuple(int(v) if float(v).is_integer() else float(v) for v in values)
            known = TABULAR_KNOBS.get(col, KnobGrid(col, (1,), "increasing", "log"))
            scale = known.scale if (known.scale != "log" or min(values) > 0) else "linear"
            grids.append(KnobGrid(col, values, known.cost, scale))
        self.knobs = KnobSpace(grids)
        self._memo: dict[str, SettingResult] = {}

    def _setting(self, name: str) -> dict[str, Any]:
        row = self.records.settings.loc[name]
        out = {}
        for col in self.records.knob_columns:
            v = row[col]
            out[col] = int(v) if float(v).is_integer() else float(v)
        return out

    def candidates(self) -> list[Proposal]:
        return [Proposal(self._setting(n), record=n) for n in self.records.settings.index]

    @property
    def n_archs(self) -> int:
        return len(self.records.truth)

    # -- the setting source --------------------------------------------------------------
    def identity(self, proposal: Proposal) -> tuple:
        return (proposal.record,)  # recorded settings may share knob values (different schedules)

    def charge(self, cost_per_arch: float, n_archs: int | None, parallel: int) -> float:
        """One lookup."""
        return 1.0

    def propose(self, k: int, *, corner: bool, fixed: Mapping[str, Any], rng: np.random.Generator,
                skip: Callable[[Proposal], bool]) -> list[Proposal]:
        """The unmeasured records that match every pruned knob, in seeded random order; when too
        few match, those that break the fewest (see :mod:`bpe.mip.search`)."""
        pool = [c for c in self.candidates() if not skip(c)]
        pool = [pool[i] for i in rng.permutation(len(pool))]

        def breaks(c: Proposal) -> int:
            return sum(c.values[n] != v for n, v in fixed.items())

        out: list[Proposal] = []
        if corner and pool:
            sizes = {n: max(1, len(self.knobs[n].values) - 1) for n in self.knobs.names}
            out.append(min(pool, key=lambda c: sum(self.knobs[n].cost_rank(c.values[n]) / sizes[n]
                                                   for n in self.knobs.names)))
        for c in sorted((c for c in pool if c not in out), key=breaks):  # stable: seeded order within ties
            if len(out) >= k:
                break
            out.append(c)
        return out

    def allowed_values(self, knob: str, fixed: Mapping[str, Any]) -> list[Any]:
        """Only values some recorded setting matching the other pruned knobs has."""
        present = {c.values[knob] for c in self.candidates() if all(c.values[n] == v for n, v in fixed.items())}
        return [v for v in self.knobs[knob].values if v in present] or list(self.knobs[knob].values)

    def preflight(self, *, max_cost: float | None, budget: float | None, first_round: int,
                  charge: Callable[[float], float],
                  first_arch: Callable[[Mapping[str, Any]], float | None] | None = None,
                  ) -> tuple[dict[str, Any], float] | None:
        costs = [self.recorded_cost(c) for c in self.candidates()]
        cheapest = min(costs)
        if max_cost is not None and cheapest > max_cost:
            raise BPEError(f"the cost cap {max_cost:g} is below the cheapest recorded setting ({cheapest:g} "
                           f"{self.cost_unit}); raise --max-cost")
        if budget is not None and budget < min(first_round, len(costs)):
            raise BPEError(f"a budget of {budget:g} lookups cannot pay the first round of {first_round}; raise --budget "
                           "or lower --per-round")
        return None

    def recorded_cost(self, proposal: Proposal) -> float | None:
        name = proposal.record
        return None if name is None else float(self.records.settings.loc[name, self.records.cost_column])

    def evaluate(self, proposal: Proposal, *, variants: Sequence[Mapping[str, Any]] = (),
                 desc: str = "", n_archs: int | None = None) -> list[SettingResult]:
        name = proposal.record
        if name not in self._memo:  # a lookup is a pure function of the records
            self._memo[name] = self._lookup(proposal)
        return [copy.deepcopy(self._memo[name])]

    def _lookup(self, proposal: Proposal) -> SettingResult:
        name = proposal.record
        scores = self.records.accuracies[name].to_numpy(dtype=float)
        scores = [float(s) if math.isfinite(s) else None for s in scores]
        truths = [float(t) if math.isfinite(t) else None for t in self.records.truth]
        return _summary(dict(proposal.values), scores, truths, self.recorded_cost(proposal), seed=self.seed, name=name)

    def describe(self) -> dict[str, Any]:
        return {"kind": "tabular", "records": self.records.path, "n_archs": len(self.records.truth),
                "n_settings": len(self.records.settings), "cost_unit": self.cost_unit,
                "truth": "ground_truth.csv accuracy"}
