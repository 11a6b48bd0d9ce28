"""The MIP jobs behind ``bpe mip``: check every input and the output before any work, run
MIP (live or tabular), write ``bpe.json`` and its plots."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bpe.archlists import resolve_archs
from bpe.config import BPEConfig
from bpe.data import DatasetSpec, check_data_files
from bpe.errors import BPEError
from bpe.estimators import get_estimator_class
from bpe.machine import machine_key
from bpe.mip.evaluators import LiveEvaluator, TabularEvaluator, read_tabular_records
from bpe.mip.export import mip_document, mip_outputs, write_mip
from bpe.mip.families import FamilySettings, family_candidates, finalists, split_archs
from bpe.mip.families import confirm as confirm_finalists
from bpe.mip.knobs import KnobGrid, KnobSpace, upgrade_grid
from bpe.mip.report import MIPReport
from bpe.mip.search import MIPSettings, choose, run_mip
from bpe.mip.study import open_study
from bpe.runtime import resolve_device
from bpe.spaces import get_space
from bpe.truth import load_truth

__all__ = ["parse_duration", "sample_truth_archs", "mip_live", "auto_halving", "parse_halving", "refuse_live_only",
           "mip_tabular", "mip_settings",
           "check_knobs_on_space",
           "live_evaluator_from_document"]

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>h|m|min|s)?\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """``3h``, ``90m``, ``600s`` or ``600`` (seconds) -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise BPEError(f"cannot read the budget '{text}': use e.g. 3h, 90m or 600s")
    value = float(match.group("value"))
    unit = (match.group("unit") or "s").lower()
    seconds = value * {"h": 3600, "m": 60, "min": 60, "s": 1}[unit]
    if seconds <= 0:
        raise BPEError(f"the budget must be positive, got '{text}'")
    return seconds


def sample_truth_archs(truth: Any, metric: str, n: int, seed: int, *, space: str = "nb201",
                       exclude: Sequence[str] = ()) -> list[str]:
    """``n`` archs drawn without replacement (seeded) among those the truth has a value for
    (any arch of the space for a truth that trains its own), leaving out ``exclude``."""
    if not isinstance(n, int) or n < 3:
        raise BPEError(f"--archs must be at least 3 to compute a rank correlation with an interval, got {n}")
    if hasattr(truth, "archs"):
        pool = [a for a in truth.archs() if np.isfinite(truth.query(a, metric))]
        where = f"the truth ({metric})"
    else:
        pool = [str(a) for a in get_space(space).enumerate_archs()]
        where = f"the {space} space"
    excluded = set(exclude)
    pool = [a for a in pool if a not in excluded]
    if n > len(pool):
        raise BPEError(f"--archs {n} is more than the {len(pool)} archs {where} has a value for"
                       + (f" outside the {len(excluded)} excluded" if excluded else "") + "; lower --archs")
    order = np.random.default_rng(seed).permutation(len(pool))[:n]
    return [pool[i] for i in order]


def mip_live(*, knobs: KnobSpace, dataset: Any, truth_spec: str, metric: str | None, n_archs: int | str, arch_seed: int,
             settings: MIPSettings, runner: Any, out: str | Path, space: str = "nb201", device: str = "auto",
             reference_config: Any = None, plot: bool = True,
             on_event: Callable[[str], None] | None = None,
             confirm: Callable[[dict[str, Any]], None] | None = None,
             families: FamilySettings | None = None,
             halving: int | str | None = None, storage: str | None = None,
             study_name: str | None = None) -> tuple[MIPReport, list[Path]]:
    """Live MIP: train a fixed, seeded arch sample under each setting and correlate with the truth.

    ``families`` (default :class:`~bpe.mip.families.FamilySettings`) splits the sample into search
    and confirmation archs, adds the training-free scorers and fitted blends as candidates after
    the rounds, and confirms the export on the confirmation archs (:mod:`bpe.mip.families`).
    ``halving`` is the first rung of successive halving over the search archs (``auto``:
    :func:`auto_halving`; ``None``: as ``settings`` says).  ``storage`` and ``study_name``: the
    Optuna study the run is recorded in as it goes (:func:`~bpe.mip.study.open_study`).

    Every input is checked (data files, truth and metric, sample size, output path) before any
    training.  Returns the :class:`~bpe.mip.report.MIPReport` (its ``document`` is the ``bpe.json``
    written) and the paths written.
    """
    out = mip_outputs(out)
    if "precision" in knobs.names and "fp16" in knobs["precision"].values and resolve_device(device).type != "cuda":
        raise BPEError("the precision knob lists fp16, which needs a CUDA device; drop it from the grid on CPU "
                       "(bf16 works on CPU)")
    check_data_files(dataset)
    truth = load_truth(truth_spec, dataset=dataset, space=space, device=device, reference_config=reference_config)
    metric = truth.check_metric(metric)
    if isinstance(n_archs, str) and not n_archs.strip().isdigit():  # `all` or a file listing the labelled archs
        archs = resolve_archs(n_archs, space, arch_seed, minimum=3, why=" to compute a rank correlation", truth=truth)
        # in a seeded random order, as a sampled N is: halving's rungs and the split take leading archs
        archs = [archs[i] for i in np.random.default_rng(arch_seed).permutation(len(archs))]
    else:
        archs = sample_truth_archs(truth, metric, int(n_archs), arch_seed, space=space)
    check_knobs_on_space(knobs, space, archs[0])
    families = families or FamilySettings(seed=arch_seed)
    search_archs, confirm_archs = split_archs(archs, families.confirm_fraction, families.seed)
    if halving is not None:
        first = auto_halving(len(search_archs)) if halving == "auto" else int(halving)
        if first is not None and first >= len(search_archs):
            raise BPEError(f"--halving {first} is not below the {len(search_archs)} search archs; lower it, or raise "
                           "--archs")
        settings = dataclasses.replace(settings, halving=first)
    for name in families.scorers:  # an unknown scorer, or something that is not one, is refused before any work
        check_scorer_name(name, "--scorers")
    plan = None
    if hasattr(truth, "plan") and confirm is not None:  # a reference truth: say what it trains first
        plan = truth.plan(archs, runner.cache)
        if plan.n_to_train:
            confirm(plan)
    inputs = {"kind": "live", "knobs": knobs.to_dict(), "base": knobs.base.to_dict() if knobs.base is not None else None,
              "settings": dataclasses.asdict(settings), "truth": truth_spec, "metric": metric, "archs": archs,
              "dataset": dataset.name, "space": space, "families": dataclasses.asdict(families),
              "device": str(resolve_device(device)),
              # what a measurement depends on beyond the names: the run resumes from its study
              "truth_fingerprint": truth.fingerprint(), "data_fingerprint": dataset.fingerprint()}
    study = open_study(storage, out.main, knobs, inputs, study_name=study_name,  # refused here, before any training
                       machine=machine_key())  # a live run's costs are this machine's seconds
    evaluator = LiveEvaluator(knobs, dataset, truth, metric, search_archs, runner=runner, space=space, device=device,
                              seed=arch_seed)
    reference_cost = None
    if plan is not None and plan.n_to_train:  # train the truth now, to set its measured cost beside the estimate
        truth.query_many(archs, metric, runner=runner)  # search and confirmation archs
        measured = [s for a in archs if (s := truth.measured_seconds(a)) is not None]
        reference_cost = {"estimated_seconds_per_arch": plan.seconds_per_arch,
                          "measured_seconds_per_arch": sum(measured) / len(measured) if measured else None,
                          "n_trained": plan.n_to_train, "jobs": runner.jobs, "assumed": plan.assumed.to_dict()}
        if on_event is not None and measured:
            on_event(f"reference truth: measured {reference_cost['measured_seconds_per_arch']:.2f} s/arch with "
                     f"{runner.jobs} job(s), estimated {plan.seconds_per_arch:.2f} s/arch")
    result = _run(study, evaluator, settings, parallel=runner.jobs, progress=runner.progress, on_event=on_event)
    decision = _families(result, evaluator, families, confirm_archs, on_event or (lambda text: log.info("%s", text)),
                         observer=study)
    provenance = {"cost_unit": "seconds", "truth": truth_spec, "metric": metric, "dataset": dataset.fingerprint(),
                  "data_dir": dataset.data_dir, "space": space, "device": str(resolve_device(device)),
                  "arch_seed": arch_seed, "archs": archs, "search_archs": search_archs, "confirmation_archs": confirm_archs,
                  "jobs": runner.jobs, "base_config": knobs.base.to_dict() if knobs.base is not None else None,
                  **({"reference_cost": reference_cost} if reference_cost else {}),
                  **({"study": study.describe()} if study is not None else {})}
    doc = mip_document(result, provenance=provenance, confirmation=decision)
    return MIPReport.from_document(doc), _write(doc, out, plot, study)


def _run(study: Any, evaluator: Any, settings: MIPSettings, **kwargs: Any) -> Any:
    """:func:`run_mip` recorded in ``study``; a run refused before its first trial (a cap or a
    budget that cannot pay one round) leaves no empty study or database behind."""
    try:
        return run_mip(evaluator, settings, observer=study, **kwargs)
    except BPEError:
        if study is not None:
            study.discard_if_new()
        raise


def _write(doc: dict[str, Any], out: Any, plot: bool, study: Any) -> list[Path]:
    """Write ``bpe.json`` and its plots; tell the study what was exported."""
    written = write_mip(doc, out, plot=plot)
    if study is not None:
        study.record_export(doc, written[0])
    return written


def parse_halving(text: str) -> int | str | None:
    """``--halving``: ``auto``, ``off`` (``None``) or a number of archs (at least 5)."""
    if text in ("auto", "off"):
        return None if text == "off" else "auto"
    if not text.isdigit() or int(text) < 5:
        raise BPEError(f"--halving takes auto, off or a number of archs >= 5, got '{text}'")
    return int(text)


def refuse_live_only(folder: str, flags: dict[str, tuple[Any, Any]]) -> None:
    """Refuse, for a tabular run on ``folder``, every live-only flag given (``flag: (value, default)``)."""
    given = [flag for flag, (value, default) in flags.items() if value != default]
    if given:
        one = len(given) == 1
        raise BPEError(f"{', '.join(given)} {'is' if one else 'are'} for live runs; a tabular run reads its settings, "
                       f"archs and truth from {folder}: drop {'it' if one else 'them'}")


def auto_halving(n_search: int) -> int | None:
    """The first rung ``--halving auto`` uses: a quarter of the search archs (at least 10), so a
    setting starts on a quarter and the chosen one ends on all; off below 40 search archs, where a
    quarter ranks too few archs to tell settings apart."""
    return max(10, round(n_search / 4)) if n_search >= 40 else None


def check_scorer_name(name: str, flag: str) -> None:
    """Refuse ``name`` unless it is one registered training-free scorer or assembly of such
    measures (``az_nas``; not a vote or blend of chosen members, the oracle, a predictor or a
    training setting)."""
    cls = get_estimator_class(name)
    if not cls.training_free:
        raise BPEError(f"{flag} takes training-free scorers (e.g. meco), got '{name}'")


def check_knobs_on_space(knobs: KnobSpace, space: str, arch: str) -> None:
    """Refuse, before any training, a knob grid the space cannot train: every value of every knob
    (the others at their cheapest) must make a valid config with the training features the space
    has, and ``arch``'s network must build and run a forward pass at the cheapest and the dearest
    corner of the grid (a shape the space cannot take fails here, not hours into a run)."""
    import torch  # torch-heavy

    space_ = get_space(space)
    cheapest = knobs.cheapest()
    dearest = {n: max(g.values, key=g.cost_rank) for n, g in knobs.grids.items()}
    for name, grid in knobs.grids.items():
        for value in grid.values:
            try:
                space_.check_config(knobs.to_config({**cheapest, name: value}))
            except BPEError as err:
                raise BPEError(f"knob {name} = {value!r} cannot train on the {space} space: {err}") from None
    for label, corner in (("cheapest", cheapest), ("dearest", dearest)):
        config = knobs.to_config(corner)
        extras = {"auxiliary": True} if config.auxiliary_weight > 0 else {}
        try:
            net = space_.build(arch, num_classes=10, **space_.net_size(channels=config.channels, layers=config.layers),
                               **extras)
            with torch.no_grad():  # in training mode: the auxiliary head runs too
                net.train()(torch.zeros(2, 3, config.image_size, config.image_size))
        except Exception as err:  # noqa: BLE001 - any failure to build or run is the grid's problem
            raise BPEError(f"the {label} corner of the knob grids ({corner}) does not "
                           f"build a working {space} network ({type(err).__name__}: {err}); fix the knob grids") from None


def _families(result: Any, evaluator: LiveEvaluator, families: FamilySettings, confirm_archs: Sequence[str],
              say: Callable[[str], None], observer: Any = None) -> dict[str, Any] | None:
    """Add the scorer and blend candidates to ``result`` (measured on the search archs), then choose
    the export among the families' finalists, on the confirmation archs when there are any."""
    candidates = family_candidates(evaluator, result.trajectory, families, max_cost=result.settings.max_cost, say=say)
    for c in candidates:
        c.extra.update(round="families")
        if observer is not None:
            observer.record(c)
    result.trajectory.extend(candidates)
    finals = finalists(result.trajectory, result.settings.max_cost)
    if not finals:
        return None
    if not confirm_archs:
        result.chosen = choose(finals, result.settings.max_cost)
        return None
    confirmation = LiveEvaluator(evaluator.knobs, evaluator.dataset, evaluator.truth, evaluator.metric, confirm_archs,
                                 runner=evaluator.runner, space=evaluator.space, device=evaluator.device,
                                 seed=evaluator.seed)
    decision = confirm_finalists(finals, confirmation, families, say=say, search_truths=evaluator.truths(),
                                 joint=joint_scores(evaluator, confirm_archs))
    result.chosen = finals[decision["chosen"]]
    return decision


def joint_scores(evaluator: LiveEvaluator, confirm_archs: Sequence[str]) -> Callable[[Any], list[float | None]]:
    """The scores of an assembly finalist (``az_nas``: ranks among the archs scored together) on
    ``evaluator``'s search archs and ``confirm_archs`` scored as one population, in that order:
    what the confirmation pools for it (its measurements come from the cache; no truth is read)."""
    archs = list(evaluator.archs) + list(confirm_archs)

    def scores(finalist: Any) -> list[float | None]:
        scorer = evaluator.scorer(finalist.setting["scorer"])
        return [r.score if r.ok else None for r in evaluator.runner.run(scorer, archs, desc=f"{scorer.name} (joint)")]

    return scores


def mip_tabular(*, folder: str | Path, settings: MIPSettings, out: str | Path, plot: bool = True,
                arch_subset: Sequence[int] | None = None,
                on_event: Callable[[str], None] | None = None, storage: str | None = None,
                study_name: str | None = None) -> tuple[MIPReport, list[Path]]:
    """Tabular MIP on recorded settings (e.g. the BPE paper's 37 x 100 records).

    ``arch_subset`` restricts the records to those positions of the truth order (to test how
    decisions move between arch samples).  ``storage``, ``study_name``: see :func:`mip_live`.
    """
    out = mip_outputs(out)
    records = read_tabular_records(folder)
    if arch_subset is not None:
        idx = list(arch_subset)
        records.accuracies = records.accuracies.iloc[idx]
        records.truth = records.truth[idx]
    evaluator = TabularEvaluator(records)
    study = open_study(storage, out.main, evaluator.knobs, {
        "kind": "tabular", "records": str(Path(records.path).resolve()), "settings": dataclasses.asdict(settings),
        "arch_subset": None if arch_subset is None else [int(i) for i in arch_subset],
        "content": _digest(Path(records.path), ("settings.csv", "accuracies.csv", "ground_truth.csv"))},
        study_name=study_name)
    result = _run(study, evaluator, settings, progress=False, on_event=on_event)
    provenance = {"cost_unit": evaluator.cost_unit, "truth": f"{records.path}/ground_truth.csv", "metric": "accuracy",
                  "records": records.path, "n_records": len(records.settings),
                  "lookups": len(result.trajectory),
                  "lookups_to_chosen": (result.trajectory.index(result.chosen) + 1) if result.chosen else None,
                  **({"study": study.describe()} if study is not None else {})}
    doc = mip_document(result, provenance=provenance)
    return MIPReport.from_document(doc), _write(doc, out, plot, study)



def _digest(folder: Path, names: Sequence[str]) -> str:
    """A digest of the files ``names`` in ``folder`` (what a run read, beside where it read it)."""
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return h.hexdigest()[:16]


def live_evaluator_from_document(doc: dict[str, Any], *, runner: Any, archs: Sequence[str] | None = None,
                                 data_dir: str | None = None) -> LiveEvaluator:
    """The live evaluator a ``bpe.json`` of a live MIP run was measured with: same knob grids,
    base config, dataset, truth and metric; ``archs`` (default: the run's own sample) may be
    another sample, e.g. to re-measure its settings on other architectures."""
    m = doc.get("measured", {})
    if doc.get("kind") != "bpe-mip" or m.get("cost_unit") != "seconds":
        raise BPEError("this is not the bpe.json of a live MIP run (kind bpe-mip, cost in seconds)")
    grids = [KnobGrid(*upgrade_grid(k, g["values"]), g["cost"], g["scale"]) for k, g in doc["knobs"].items()]
    fields = m.get("base_config") or doc.get("config")  # base_config: exports of any family; config: older files
    if not isinstance(fields, dict):
        raise BPEError("this bpe.json records no base config (its export is a scorer or a blend and it predates "
                       "measured.base_config); run bpe mip again")
    base = BPEConfig.from_dict({k: v for k, v in fields.items() if k not in doc["knobs"]})
    folder = data_dir or m.get("data_dir")
    if not folder:
        raise BPEError("the bpe.json names no data folder; pass data_dir")
    dataset = DatasetSpec(m["dataset"]["name"], folder)
    truth = load_truth(m["truth"], dataset=dataset, space=m.get("space", "nb201"))
    return LiveEvaluator(KnobSpace(grids, base=base), dataset, truth, m["metric"], list(archs or m["archs"]),
                         runner=runner, space=m.get("space", "nb201"), device=m.get("device", "auto"),
                         seed=m.get("arch_seed", 0))


def mip_settings(*, tabular: bool, per_round: int | None = None, initial: int | None = None,
                 min_agreement: float = 0.5, rounds: int | None = None, importance: str = "fanova",
                 forest_seeds: int = 10, prune_rule: str = "within-noise", max_seconds_per_arch: float | None = None,
                 max_cost: float | None = None, over_cap: str | None = None, budget: str | None = None,
                 seed: int = 0, baseline: str | None = None) -> MIPSettings:
    """The :class:`MIPSettings` of ``bpe mip``'s options, each checked (live caps are seconds per
    arch and budgets wall time; tabular caps are the records' unit and budgets lookups)."""
    if seed < 0:
        raise BPEError(f"--seed must be >= 0, got {seed}")
    if tabular and max_seconds_per_arch is not None:
        raise BPEError("--max-seconds-per-arch is for live runs; a tabular run's cap is --max-cost (the records' unit)")
    if not tabular and max_cost is not None:
        raise BPEError("--max-cost is for --tabular runs; a live run's cap is --max-seconds-per-arch")
    if baseline is not None:
        if tabular:
            raise BPEError("--baseline scores the archs of a live run; recorded settings have no archs to score")
        check_scorer_name(baseline, "--baseline")
    limit: float | int | None = None
    if budget is not None:
        if tabular:
            try:
                limit = int(budget)
            except ValueError:
                raise BPEError(f"a tabular budget is a number of lookups, got '{budget}'") from None
        else:
            limit = parse_duration(budget)
    over_cap = over_cap or ("explore" if tabular else "skip")
    return MIPSettings(
        per_round=per_round if per_round is not None else (5 if tabular else 4), initial=initial,
        min_agreement=min_agreement, rounds=rounds, importance=importance, forest_seeds=forest_seeds,
        prune_rule=prune_rule, max_cost=max_cost if tabular else max_seconds_per_arch,
        skip_over_cap=over_cap == "skip", budget=limit, seed=seed, baseline=baseline)
