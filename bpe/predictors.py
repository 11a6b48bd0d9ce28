"""``bpe predictor``: the training targets of a ranking predictor (a truth table or a user's own
scores) and the fit / hold-out jobs around :class:`~bpe.estimators.renas.RankingPredictor`."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bpe.benchmarks import load_truth
from bpe.errors import BPEError
from bpe.metrics import bootstrap_ci, kendall, spearman
from bpe.outputs import atomic_write_text, json_text, plan_outputs, run_provenance
from bpe.spaces import get_space

__all__ = ["predictor_targets", "training_split", "fit_job", "holdout_job", "MODELS", "graf_spec"]

#: The predictor models: ``renas`` (a pairwise-ranking network on the cell's tensor encoding) and
#: ``graf`` (extra-trees on the cell's graph features, GRAF-style; a learned blend without members).
MODELS = ("renas", "graf")


def graf_spec(archs: Sequence[str], targets: Sequence[float], *, seed: int, space: str) -> dict[str, Any]:
    """The ``estimator`` entry of a graph-feature predictor fitted on ``archs`` and ``targets``
    (:class:`~bpe.estimators.learned.LearnedBlend` with no members: the cell's graph features
    alone, extra-trees of 200 trees, leaf 1, seeded)."""
    return {"family": "learned", "members": [], "rows": [], "archs": list(archs), "targets": [float(t) for t in targets],
            "model": {"kind": "extra-trees", "n_estimators": 200, "min_samples_leaf": 1, "seed": seed}, "cell": True,
            "space": space}


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


def _check(epochs: int, seed: int, model: str = "renas") -> None:
    if model not in MODELS:
        raise BPEError(f"--model must be one of {', '.join(MODELS)}, got '{model}'")
    if epochs < 1:
        raise BPEError(f"--epochs must be >= 1 (the predictor trains for at most that many), got {epochs}")
    if seed < 0:
        raise BPEError(f"--seed must be >= 0, got {seed}")


def fit_job(archs: Sequence[str], targets: Sequence[float], *, train_size: int, seed: int, loss: str, epochs: int,
            out: str | Path, space: str = "nb201", model: str = "renas") -> tuple[Any, Path]:
    """Fit a predictor on ``train_size`` seeded archs and save it to ``out`` (``renas``: ``.pt``;
    ``graf``: a ``.json`` that ``--estimator`` takes)."""
    from bpe.estimators.renas import RankingPredictor  # torch-heavy

    _check(epochs, seed, model)
    if model == "graf":
        outputs = plan_outputs(out, suffixes=(".json",), default_stem="predictor", command="bpe predictor fit --model graf")
        train, _ = training_split(targets, train_size, seed, need_rest=False)
        spec = graf_spec([archs[i] for i in train], [targets[i] for i in train], seed=seed, space=space)
        from bpe.estimators.learned import LearnedBlend

        predictor = LearnedBlend([], [], spec["archs"], spec["targets"], model=spec["model"], cell=True, space=space)
        atomic_write_text(outputs.main, json_text({"kind": "bpe-predictor", "estimator": spec,
                                                   "provenance": run_provenance()}))
        return predictor, outputs.main
    outputs = plan_outputs(out, suffixes=(".pt",), default_stem="predictor", command="bpe predictor fit")
    train, _ = training_split(targets, train_size, seed, need_rest=False)
    predictor = RankingPredictor(loss, seed=seed, epochs=epochs, space=space).fit([archs[i] for i in train],
                                                                      [targets[i] for i in train])
    predictor.save(outputs.main)
    return predictor, outputs.main


def holdout_job(archs: Sequence[str], targets: Sequence[float], *, train_size: int, seed: int, loss: str,
                epochs: int, out: str | Path, provenance: dict[str, Any], space: str = "nb201",
                model: str = "renas") -> tuple[dict[str, Any], Path]:
    """Fit on ``train_size`` seeded archs, rank all the others, write the results JSON."""
    from bpe.estimators.renas import holdout_evaluation  # torch-heavy

    _check(epochs, seed, model)
    outputs = plan_outputs(out, suffixes=(".json",), default_stem="predictor", command="bpe predictor evaluate")
    training_split(targets, train_size, seed, need_rest=True)  # the sizes are checked before any work
    if model == "graf":
        result = _graf_holdout(archs, targets, train_size=train_size, seed=seed, space=space)
    else:
        result = holdout_evaluation(archs, targets, train_size=train_size, seed=seed, loss=loss, epochs=epochs,
                                    space=space)
        result.pop("predictor")
    result["model"] = model
    result.update(provenance)
    atomic_write_text(outputs.main, json_text(result))
    return result, outputs.main


def _graf_holdout(archs: Sequence[str], targets: Sequence[float], *, train_size: int, seed: int,
                  space: str) -> dict[str, Any]:
    """The graph-feature predictor fitted on ``train_size`` seeded archs, scored on all the others."""
    from bpe.estimators.learned import fit_rows, predict_rows

    train, rest = training_split(targets, train_size, seed, need_rest=True)
    spec = graf_spec([archs[i] for i in train], [targets[i] for i in train], seed=seed, space=space)
    start = time.perf_counter()
    fitted = fit_rows([], spec["archs"], spec["targets"], model=spec["model"], cell=True, space=space)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pred = predict_rows(fitted, [], [archs[i] for i in rest], cell=True, space=space)
    predict_seconds = time.perf_counter() - start
    truth = [float(targets[i]) for i in rest]
    return {"kendall": kendall(pred, truth), "spearman": spearman(pred, truth),
            "kendall_ci95": list(bootstrap_ci(pred, truth, method="kendall", n_boot=100, seed=seed)),
            "spearman_ci95": list(bootstrap_ci(pred, truth, method="spearman", n_boot=200, seed=seed)),
            "train_size": int(train_size), "n_test": len(rest), "seed": seed, "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds}
