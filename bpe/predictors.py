"""``bpe predictor``: the training targets of a ranking predictor (a truth table or a user's own
scores) and the fit / hold-out jobs around :class:`~bpe.estimators.renas.RankingPredictor`."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bpe.data import check_data_files
from bpe.errors import BPEError
from bpe.estimators import estimator_from_spec
from bpe.metrics import bootstrap_ci, kendall, spearman
from bpe.outputs import atomic_write_text, json_text, plan_outputs, run_provenance
from bpe.spaces import get_space
from bpe.truth import load_truth

__all__ = ["predictor_targets", "training_split", "fit_job", "holdout_job", "HoldoutResult", "MODELS", "graf_spec",
           "scorer_features", "member_rows"]

#: The predictor models: ``renas`` (a pairwise-ranking network on the cell's tensor encoding) and
#: ``graf`` (extra-trees on the cell's graph features and optionally scorers' values, GRAF-style: a
#: learned blend).
MODELS = ("renas", "graf")


@dataclass(frozen=True)
class HoldoutResult:
    """A predictor fitted on ``train_size`` archs and judged on ``n_test`` others: its rank
    correlations, fit and prediction seconds, and the scorers whose values it read (their
    scoring seconds apart).  ``document`` is the results JSON (the model's own fields included)."""

    model: str
    train_size: int
    n_test: int
    kendall: float
    spearman: float
    fit_seconds: float
    predict_seconds: float
    scorers: tuple[str, ...]
    scoring_seconds: float | None
    document: dict[str, Any]

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> HoldoutResult:
        return cls(model=doc["model"], train_size=int(doc["train_size"]), n_test=int(doc["n_test"]),
                   kendall=doc["kendall"], spearman=doc["spearman"], fit_seconds=doc["fit_seconds"],
                   predict_seconds=doc["predict_seconds"], scorers=tuple(doc.get("scorers") or ()),
                   scoring_seconds=doc.get("scoring_seconds"), document=dict(doc))

    def to_dict(self) -> dict[str, Any]:
        """The results JSON ``bpe predictor evaluate`` writes."""
        return dict(self.document)


def graf_spec(archs: Sequence[str], targets: Sequence[float], *, seed: int, space: str,
              members: Sequence[Mapping[str, Any]] = (), rows: Sequence[Sequence[float | None]] = ()) -> dict[str, Any]:
    """The ``estimator`` entry of a graph-feature predictor fitted on ``archs`` and ``targets``
    (:class:`~bpe.estimators.learned.LearnedBlend` over the cell's graph features and, GRAF-style,
    the ``members``' scores, one row per member on ``archs``: extra-trees of 200 trees, leaf 1, seeded)."""
    return {"family": "learned", "members": [dict(m) for m in members], "rows": [list(r) for r in rows],
            "archs": list(archs), "targets": [float(t) for t in targets],
            "model": {"kind": "extra-trees", "n_estimators": 200, "min_samples_leaf": 1, "seed": seed}, "cell": True,
            "space": space}


def scorer_features(scorers: Sequence[str], *, dataset: Any, space: str, device: str) -> list[Any]:
    """The estimators whose scores a ``graf`` predictor reads beside the cell's graph features
    (registered names, each scoring an arch on its own), checked before any work: an unknown
    name, a repeated one, a population estimator, or missing data files are refused here."""
    names = [s.strip() for s in scorers if s.strip() and s.strip() != "none"]
    if len(set(names)) < len(names):
        raise BPEError(f"--scorers lists a scorer twice ({', '.join(names)})")
    members = [estimator_from_spec(name, dataset=dataset, space=space, device=device) for name in names]
    for name, member in zip(names, members):
        if getattr(member, "population", False):
            raise BPEError(f"--scorers: {name} scores archs together (a vote or blend); give scorers that score "
                           "each arch on its own")
    if any(m.reads_data for m in members):
        check_data_files(dataset)
    return members


def member_rows(members: Sequence[Any], archs: Sequence[str], runner: Any) -> list[list[float | None]]:
    """Each member's scores of ``archs`` through ``runner`` (so through the cache); ``None`` where it failed."""
    return [[r.score if r.ok else None for r in runner.run(m, list(archs), desc=m.name)] for m in members]


def predictor_targets(*, space: str, truth_spec: str | None = None, metric: str | None = None,
                      targets_path: str | None = None, column: str | None = None) -> tuple[list[str], list[float]]:
    """(archs, targets) from a truth table and metric, or from ``targets_path``: a ``bpe
    evaluate`` results JSON (its scores) or a ``bpe score`` CSV (its ``column``)."""
    if targets_path:
        path = Path(targets_path)
        if not path.is_file():
            raise BPEError(f"targets file {path} does not exist")
        if path.suffix == ".json":
            try:
                records = json.loads(path.read_text())["records"]
            except (ValueError, KeyError) as err:
                raise BPEError(f"{path} is not a `bpe evaluate` results JSON ({err})") from None
            pairs = [(r["arch"], r["score"]) for r in records if r.get("score") is not None]
        else:
            from bpe.scoring import estimator_columns, read_scores  # pandas-heavy: only a CSV of scores needs it

            frame = read_scores(path, space=space)
            columns = estimator_columns(frame)
            column = column or (columns[0] if len(columns) == 1 else None)
            if column not in frame.columns:
                raise BPEError(f"pass --column, one of {', '.join(columns)}")
            pairs = list(zip(frame["arch"], frame[column]))
        return [str(a) for a, _ in pairs], [float(t) for _, t in pairs]
    if not truth_spec:
        raise BPEError("give --truth PATH.csv (with --metric) or --targets FILE for the training targets")
    truth = load_truth(truth_spec, space=space)
    metric = truth.check_metric(metric)
    archs = truth.archs() if hasattr(truth, "archs") else [str(a) for a in get_space(space).enumerate_archs()]
    return archs, truth.query_many(archs, metric)


def training_split(targets: Sequence[float | None], train_size: int, seed: int,
                   *, need_rest: bool) -> tuple[np.ndarray, np.ndarray]:
    """(train, rest) indices: the first ``train_size`` of one seeded permutation of the archs
    with a finite target (the rest, at least one when ``need_rest``, are held out)."""
    y = np.array([math.nan if t is None else t for t in targets], dtype=float)
    usable = np.flatnonzero(np.isfinite(y))
    top = len(usable) - 1 if need_rest else len(usable)
    if not 2 <= train_size <= top:
        raise BPEError(f"--train-size must be in 2..{top} (archs with a finite target"
                       + (", one held out" if need_rest else "") + f"), got {train_size}")
    order = np.random.default_rng(seed).permutation(usable)
    return order[:train_size], order[train_size:]


def _check(epochs: int, seed: int, model: str = "renas", scorers: Sequence[str] = (),
           test_size: int | None = None) -> None:
    if model not in MODELS:
        raise BPEError(f"--model must be one of {', '.join(MODELS)}, got '{model}'")
    if epochs < 1:
        raise BPEError(f"--epochs must be >= 1 (the predictor trains for at most that many), got {epochs}")
    if seed < 0:
        raise BPEError(f"--seed must be >= 0, got {seed}")
    if scorers and model != "graf":
        raise BPEError("--scorers are features of the graf predictor: pass --model graf, or drop --scorers")
    if test_size is not None and test_size < 2:
        raise BPEError(f"--test-size must be >= 2 (held-out archs to correlate over), got {test_size}")


def fit_job(archs: Sequence[str], targets: Sequence[float], *, train_size: int, seed: int, loss: str, epochs: int,
            out: str | Path, space: str = "nb201", model: str = "renas", scorers: Sequence[str] = (),
            dataset: Any = None, device: str = "auto", runner: Any = None) -> tuple[Any, Path]:
    """Fit a predictor on ``train_size`` seeded archs and save it to ``out`` (``renas``: ``.pt``;
    ``graf``: a ``.json`` that ``--estimator`` takes, reading ``scorers``' values of an arch on
    ``dataset`` beside its cell's graph features when given; they are scored through ``runner``)."""
    _check(epochs, seed, model, scorers)
    if model == "graf":
        outputs = plan_outputs(out, suffixes=(".json",), default_stem="predictor", command="bpe predictor fit --model graf")
        train, _ = training_split(targets, train_size, seed, need_rest=False)
        members = scorer_features(scorers, dataset=dataset, space=space, device=device) if scorers else []
        train_archs = [archs[i] for i in train]
        from bpe.estimators.learned import LearnedBlend
        from bpe.estimators.vote import member_spec

        rows = member_rows(members, train_archs, runner) if members else []
        spec = graf_spec(train_archs, [targets[i] for i in train], seed=seed, space=space,
                         members=[member_spec(m) for m in members], rows=rows)
        if any(m.reads_data for m in members):
            spec["dataset"] = dataset.name  # the members' raw scores are on this data
        predictor = LearnedBlend(members, rows, spec["archs"], spec["targets"], model=spec["model"], cell=True,
                                 space=space)
        atomic_write_text(outputs.main, json_text({"kind": "bpe-predictor", "estimator": spec,
                                                   "provenance": run_provenance()}))
        return predictor, outputs.main
    from bpe.estimators.renas import RankingPredictor  # torch-heavy

    outputs = plan_outputs(out, suffixes=(".pt",), default_stem="predictor", command="bpe predictor fit")
    train, _ = training_split(targets, train_size, seed, need_rest=False)
    predictor = RankingPredictor(loss, seed=seed, epochs=epochs, space=space).fit([archs[i] for i in train],
                                                                      [targets[i] for i in train])
    predictor.save(outputs.main)
    return predictor, outputs.main


def holdout_job(archs: Sequence[str], targets: Sequence[float], *, train_size: int, seed: int, loss: str,
                epochs: int, out: str | Path, provenance: dict[str, Any], space: str = "nb201",
                model: str = "renas", scorers: Sequence[str] = (), test_size: int | None = None,
                dataset: Any = None, device: str = "auto", runner: Any = None) -> tuple[HoldoutResult, Path]:
    """Fit on ``train_size`` seeded archs, rank the others (the first ``test_size`` of them in the
    same seeded order, or all), write the results JSON.  ``scorers``: see :func:`fit_job`."""
    _check(epochs, seed, model, scorers, test_size)
    outputs = plan_outputs(out, suffixes=(".json",), default_stem="predictor", command="bpe predictor evaluate")
    train, rest = training_split(targets, train_size, seed, need_rest=True)  # the sizes are checked before any work
    if test_size is not None:
        rest = rest[:test_size]
    if model == "graf":
        members = scorer_features(scorers, dataset=dataset, space=space, device=device) if scorers else []
        result = _graf_holdout([archs[i] for i in train], [targets[i] for i in train], [archs[i] for i in rest],
                               [targets[i] for i in rest], members=members, runner=runner, seed=seed, space=space)
    else:
        from bpe.estimators.renas import holdout_evaluation  # torch-heavy

        result = holdout_evaluation(archs, targets, train_size=train_size, seed=seed, loss=loss, epochs=epochs,
                                    space=space, test_size=test_size)
        result.pop("predictor")
    result["model"] = model
    result.update(provenance)
    held = HoldoutResult.from_document(result)
    atomic_write_text(outputs.main, json_text(held.to_dict()))
    return held, outputs.main


def _graf_holdout(train: Sequence[str], train_targets: Sequence[float], test: Sequence[str],
                  test_targets: Sequence[float], *, members: Sequence[Any], runner: Any, seed: int,
                  space: str) -> dict[str, Any]:
    """The graph-feature predictor (with ``members``' scores) fitted on ``train``, scored on ``test``;
    the members' scoring time is reported apart from the model's."""
    from bpe.estimators.learned import fit_rows, predict_rows

    spec = graf_spec(train, train_targets, seed=seed, space=space)
    start = time.perf_counter()
    rows = member_rows(members, train, runner)
    columns = member_rows(members, test, runner)
    scoring_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fitted = fit_rows(rows, spec["archs"], spec["targets"], model=spec["model"], cell=True, space=space)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pred = predict_rows(fitted, columns, list(test), cell=True, space=space)
    predict_seconds = time.perf_counter() - start
    truth = [float(t) for t in test_targets]
    return {"kendall": kendall(pred, truth), "spearman": spearman(pred, truth),
            "kendall_ci95": list(bootstrap_ci(pred, truth, method="kendall", n_boot=100, seed=seed)),
            "spearman_ci95": list(bootstrap_ci(pred, truth, method="spearman", n_boot=200, seed=seed)),
            "train_size": len(train), "n_test": len(test), "seed": seed, "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds, "scorers": [m.name for m in members],
            "scoring_seconds": scoring_seconds}
