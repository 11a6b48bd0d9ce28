"""Score many architectures with several estimators (``bpe score``), correlate score tables
with a ground truth (``bpe correlate``), draw the cost/quality frontier, and search by
scoring (NASWOT's protocol: score N random archs, keep the best)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bpe.archlists import resolve_archs
from bpe.data import load_arrays
from bpe.errors import BPEError
from bpe.estimators import estimator_from_spec, parse_spec, split_specs
from bpe.estimators.base import Estimator
from bpe.metrics import RankSummary, rank_stats, spearman
from bpe.outputs import OutputSet, atomic_write_text, plan_outputs, run_provenance
from bpe.parallel import Runner
from bpe.plotting import legend_outside, new_figure, save_figure, set_title
from bpe.tables import read_arch_table
from bpe.truth import Benchmark, load_truth

__all__ = [
    "SCORE_OUTPUTS",
    "estimator_label",
    "unique_labels",
    "score_archs",
    "write_scores",
    "read_scores",
    "correlate_scores",
    "CorrelationRow",
    "Correlations",
    "correlate_job",
    "frontier_plot",
    "best_of_n",
]

log = logging.getLogger(__name__)
SECONDS_SUFFIX = "_seconds"


def estimator_label(spec: str) -> str:
    """The column name of an estimator spec: a config file's stem, a vote as ``vote:a+b``, else
    the spec itself."""
    if spec.startswith("vote:"):
        return "vote:" + "+".join(parse_spec(spec)[1]["members"])
    path = Path(spec)
    return path.stem if path.suffix in (".json", ".pt") or path.is_file() else spec


def unique_labels(specs: Sequence[str]) -> list[str]:
    """One distinct label per spec (see :func:`estimator_label`); a clash is an error."""
    labels = [estimator_label(s) for s in specs]
    clashes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if clashes:
        raise BPEError(f"two estimators would both be called '{clashes[0]}' (from "
                       f"{', '.join(s for s, lab in zip(specs, labels) if lab == clashes[0])}); rename a file")
    return labels


def score_archs(estimators: Sequence[Estimator], archs: Sequence[Any], *, runner: Runner | None = None,
                labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per arch: ``arch``, one column per estimator (``NaN`` where it failed), named by
    ``labels`` (default: the estimators' names), and ``<label>_seconds`` (compute seconds)."""
    runner = runner or Runner()
    archs = [str(a) for a in archs]
    labels = list(labels) if labels is not None else [est.name for est in estimators]
    frame = pd.DataFrame({"arch": archs})
    for est, label in zip(estimators, labels):
        records = runner.run(est, archs, desc=f"{label}")
        frame[label] = [r.score if r.ok else np.nan for r in records]
        frame[label + SECONDS_SUFFIX] = [r.cost.seconds for r in records]
        failed = [r for r in records if not r.ok]
        if failed:
            log.warning("%s failed on %d archs, e.g. %s: %s", est.name, len(failed), failed[0].arch, failed[0].error)
    return frame


#: What `bpe score` writes: the scores CSV and its JSON sidecar.
SCORE_OUTPUTS = (".csv", ".json", ".png")


def write_scores(frame: pd.DataFrame, out: str | Path | OutputSet, *, estimators: Sequence[Estimator] = (),
                 labels: Sequence[str] | None = None, provenance: dict[str, Any] | None = None,
                 plot: bool = True) -> list[Path]:
    """Write the scores CSV and a JSON sidecar (per estimator: settings, failures, mean seconds;
    plus ``provenance``: dataset, space, seed) and, with ``plot``, :func:`agreement_plot`."""
    outputs = out if isinstance(out, OutputSet) else plan_outputs(out, suffixes=SCORE_OUTPUTS, default_stem="scores")
    labels = list(labels) if labels is not None else [est.name for est in estimators]
    atomic_write_text(outputs.path(".csv"), frame.to_csv(index=False))
    meta = {
        label: {
            "estimator": est.name,
            "description": est.describe(),
            "fingerprint": est.fingerprint(),
            "n_failed": int(frame[label].isna().sum()),
            "mean_seconds": float(frame[label + SECONDS_SUFFIX].mean()),
        }
        for est, label in zip(estimators, labels)
    }
    outputs.write_json({**(provenance or {}), "estimators": meta})
    written = [outputs.path(".csv"), outputs.path(".json")]
    if plot:
        written.append(agreement_plot(frame, labels, outputs.path(".png")))
    return outputs.finish(written)


def agreement_plot(frame: pd.DataFrame, labels: Sequence[str], path: str | Path) -> Path:
    """How the scored estimators agree: the Spearman rho between each pair's scores over the archs
    both scored (a heatmap), or the distribution of the one estimator's scores."""
    n = len(labels)
    if n == 1:
        fig, ax = new_figure(figsize=(6, 4))
        values = frame[labels[0]].dropna()
        ax.hist(values, bins=min(40, max(5, len(values) // 3)))
        ax.set_xlabel(f"score ({labels[0]})")
        ax.set_ylabel("archs")
        set_title(ax, f"{labels[0]}: {len(values)} archs scored, {int(frame[labels[0]].isna().sum())} failed")
        return save_figure(fig, path)
    rho = np.full((n, n), np.nan)
    columns = [frame[label].to_numpy(dtype=float) for label in labels]
    for i in range(n):
        for j in range(n):
            ok = np.isfinite(columns[i]) & np.isfinite(columns[j])
            rho[i, j] = spearman(columns[i][ok].tolist(), columns[j][ok].tolist()) if ok.sum() >= 3 else np.nan
    side = min(12.0, 2.0 + 0.6 * n)
    fig, ax = new_figure(figsize=(side + 1.2, side))
    image = ax.imshow(rho, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticklabels(labels, fontsize=7)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                if np.isfinite(rho[i, j]):
                    ax.text(j, i, f"{rho[i, j]:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="Spearman rho between scores")
    set_title(ax, f"agreement of {n} estimators over {len(frame)} archs")
    return save_figure(fig, path)


def read_scores(path: str | Path, *, space: str = "nb201") -> pd.DataFrame:
    """Read a scores CSV (an ``arch`` column, one numeric column per estimator, ``*_seconds``
    columns) by the rules of :mod:`bpe.tables`: an arch listed twice counts once (equal values) or
    is an error (different values), a cell that is not a number is an error naming its line and
    column.  The ``arch`` column holds canonical arch strings."""
    path = Path(path)
    archs, columns = read_arch_table(path, what="scores file", arch_columns=("arch",), space=space,
                                     fix=f"create it with `bpe score ... --out {path}`")
    if not archs:
        raise BPEError(f"scores file {path} has a header but no rows; score some archs first (`bpe score`)")
    frame = pd.DataFrame({"arch": archs, **columns})
    if not estimator_columns(frame):
        raise BPEError(f"scores file {path} has no numeric score column; columns are {', '.join(frame.columns)}")
    return frame


def estimator_columns(frame: pd.DataFrame) -> list[str]:
    """Score columns of a scores table (everything but ``arch`` and ``*_seconds``)."""
    return [c for c in frame.columns if c != "arch" and not c.endswith(SECONDS_SUFFIX)
            and pd.api.types.is_numeric_dtype(frame[c])]


def _column_stats(frame: pd.DataFrame, truth: Benchmark, metric: str,
                  seed: int) -> list[tuple[str, RankSummary, float, int]]:
    """Per estimator column of a scores table: its name, ranking, mean seconds per arch and failures."""
    truths = truth.query_many(list(frame["arch"]), metric)
    out = []
    for name in estimator_columns(frame):
        seconds_col = name + SECONDS_SUFFIX
        out.append((name, rank_stats(list(frame[name]), truths, seed=seed),
                    float(frame[seconds_col].mean()) if seconds_col in frame else math.nan,
                    int(frame[name].isna().sum())))
    return out


def correlate_scores(frame: pd.DataFrame, truth: Benchmark, metric: str, *, seed: int = 0) -> dict[str, dict]:
    """Per estimator column: Kendall, Spearman (95% bootstrap CIs), top-10% precision, regret,
    mean seconds per arch, and the number of archs used."""
    metric = truth.check_metric(metric)
    return {name: {**ranking.to_dict(), "seconds_per_arch": seconds, "n_failed": failed}
            for name, ranking, seconds, failed in _column_stats(frame, truth, metric, seed)}


def read_evaluation(path: str | Path) -> dict:
    """A ``bpe evaluate`` results JSON (with its per-arch ``records``)."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
        records = result["records"]
        result["estimator"]["name"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BPEError(f"cannot read evaluation results {path} ({type(err).__name__}: {err}); pass JSON files "
                       "written by `bpe evaluate`") from None
    if not records:
        raise BPEError(f"{path} holds no per-arch records; rerun `bpe evaluate` to write them")
    return result


#: What `bpe correlate` writes: the table JSON and the frontier plot.
CORRELATE_OUTPUTS = (".json", ".png")


@dataclass(frozen=True)
class CorrelationRow:
    """One input of ``bpe correlate`` against its truth: a score table's column (``kind``
    ``training-free``, with ``n_failed``) or an evaluation file (with its ``dataset`` and
    ``arch_seed``)."""

    ranking: RankSummary
    seconds_per_arch: float | None
    kind: str
    source: str
    truth_source: str
    metric: str
    n_failed: int | None = None
    dataset: str | None = None
    arch_seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.ranking.to_dict(), "seconds_per_arch": self.seconds_per_arch}
        if self.kind == "training-free":
            out["n_failed"] = self.n_failed
        out.update(kind=self.kind, source=self.source, truth_source=self.truth_source, metric=self.metric)
        if self.kind != "training-free":
            out.update(dataset=self.dataset, arch_seed=self.arch_seed)
        return out


@dataclass(frozen=True)
class Correlations:
    """What ``bpe correlate`` found: one :class:`CorrelationRow` per labelled input."""

    metric: str | list[str]
    truth: str | None
    rows: dict[str, CorrelationRow]
    provenance: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``bpe correlate`` writes."""
        return {"metric": self.metric, "truth": self.truth, "estimators": {k: r.to_dict() for k, r in self.rows.items()},
                "provenance": self.provenance}


def correlate_job(*, scores: Sequence[str], evaluations: Sequence[str], truth_spec: str | None, metric: str | None,
                  out: str | Path, space: str = "nb201", plot: bool = True,
                  seed: int = 0) -> tuple[Correlations, list[Path]]:
    """``bpe correlate``: every statistic recomputed from the per-arch scores of the inputs
    against one truth and metric (given, else each evaluation file's own, stated per row).

    Rows of different inputs stay apart: a score column is labelled by its name, prefixed by its
    file's stem when two files share it; an evaluation by its file's stem and estimator.  Two
    inputs that cannot be told apart (the same file twice, equal labels) are refused.
    """
    if not scores and not evaluations:
        raise BPEError("give --scores CSV files and/or --evaluations JSON files to correlate")
    paths = [str(Path(p).resolve()) for p in [*scores, *evaluations]]
    if len(set(paths)) < len(paths):
        raise BPEError("the same file is given twice; give each input once")
    frames = {p: read_scores(p, space=space) for p in scores}
    results = {p: read_evaluation(p) for p in evaluations}
    outputs = plan_outputs(out, suffixes=CORRELATE_OUTPUTS, default_stem="correlations", command="bpe correlate")
    if truth_spec is None and (frames or any(not Path(str(r.get("truth_source", ""))).is_file()
                                             for r in results.values())):
        raise BPEError("give --truth PATH.csv (score tables and evaluations without a table truth need one)")
    truths: dict[str, Any] = {}

    def truth_for(result: dict | None) -> tuple[Any, str, str]:
        spec = truth_spec or result["truth_source"]
        if spec not in truths:
            truths[spec] = load_truth(spec, space=space)
        truth = truths[spec]
        wanted = metric or (result["truth"]["metric"] if result else None)
        return truth, truth.check_metric(wanted), spec

    table: dict[str, CorrelationRow] = {}
    columns = [c for f in frames.values() for c in estimator_columns(f)]
    for path, frame in frames.items():
        truth, used, spec = truth_for(None)
        for name, ranking, seconds, failed in _column_stats(frame, truth, used, seed):
            label = f"{Path(path).stem}:{name}" if columns.count(name) > 1 else name
            table[label] = CorrelationRow(ranking, seconds, "training-free", path, spec, used, n_failed=failed)
    stems = [Path(p).stem for p in results]

    def file_label(path: str) -> str:  # the stem, or folder/stem where two files share a stem
        return Path(path).stem if stems.count(Path(path).stem) == 1 else f"{Path(path).parent.name}/{Path(path).stem}"

    for path, result in results.items():
        truth, used, spec = truth_for(result)
        archs = [r["arch"] for r in result["records"]]
        values = truth.query_many(archs, used)
        ranking = rank_stats([r.get("score") for r in result["records"]], values, seed=seed)
        seconds = [r.get("seconds") for r in result["records"] if r.get("seconds") is not None]
        label = f"{file_label(path)}: {result['estimator'].get('description', result['estimator']['name'])}"
        table[label] = CorrelationRow(ranking, float(np.mean(seconds)) if seconds else None,
                                      "bpe" if result["estimator"]["name"] == "bpe" else "other", path, spec, used,
                                      dataset=result.get("dataset"), arch_seed=result.get("arch_seed", result.get("seed")))
    if len(table) < len(columns) + len(results):
        raise BPEError("two inputs get the same label; rename one of the files")
    metrics = sorted({r.metric for r in table.values()})
    doc = Correlations(metric=metrics[0] if len(metrics) == 1 else metrics, truth=truth_spec, rows=table,
                       provenance=run_provenance())
    written = [outputs.path(".json")]
    outputs.write_json(doc.to_dict())
    if plot:
        points = [{"label": k, "spearman": v.ranking.spearman, "seconds_per_arch": v.seconds_per_arch or 0.0,
                   "kind": v.kind} for k, v in table.items()]
        written.append(frontier_plot(points, outputs.path(".png"),
                                     title=f"ground truth: {truth_spec or 'each file its own'} ({', '.join(metrics)})"))
    return doc, outputs.finish(written)


def frontier_plot(points: Sequence[dict], path: str | Path, *, title: str = "") -> Path:
    """Spearman ρ against seconds per arch (log x) for every estimator given."""
    fig, ax = new_figure(figsize=(8.5, 4.5))
    colors = {"training-free": "tab:blue", "bpe": "tab:red", "other": "tab:gray"}
    for kind in colors:
        pts = [p for p in points if p.get("kind", "other") == kind and math.isfinite(p["spearman"])]
        if not pts:
            continue
        ax.scatter([max(p["seconds_per_arch"], 1e-3) for p in pts], [p["spearman"] for p in pts],
                   c=colors[kind], label=kind, s=30, zorder=3)
        for p in pts:
            ax.annotate(p["label"], (max(p["seconds_per_arch"], 1e-3), p["spearman"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per architecture (log scale)")
    ax.set_ylabel("Spearman ρ with ground truth")
    ax.axhline(0, color="black", lw=0.5)
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    set_title(ax, title)
    return save_figure(fig, path)


def best_of_n(scores: Sequence[float], truths: Sequence[float], n: int, runs: int, seed: int) -> np.ndarray:
    """NASWOT's search by scoring on a scored pool: per run, draw ``n`` archs without
    replacement, keep the one with the highest score, return its truth (one value per run).
    Archs whose score failed (NaN) are never chosen unless all ``n`` failed."""
    scores = np.asarray(scores, dtype=float)
    truths = np.asarray(truths, dtype=float)
    if n > len(scores):
        raise BPEError(f"cannot draw N={n} archs from a pool of {len(scores)} scored archs")
    rng = np.random.default_rng(seed)
    picked = np.empty(runs)
    for r in range(runs):
        idx = rng.choice(len(scores), size=n, replace=False)
        s = np.where(np.isfinite(scores[idx]), scores[idx], -np.inf)
        picked[r] = truths[idx[int(np.argmax(s))]]
    return picked


def score_job(specs: str | Sequence[str], *, dataset: Any, archs: str | int, seed: int, runner: Runner,
              out: str | Path, space: str = "nb201", device: str = "auto", truth_spec: str | None = None,
              options: dict[str, Any] | None = None,
              plot: bool = True) -> tuple[pd.DataFrame, list[Path], list[Estimator], list[str]]:
    """``bpe score``: check the outputs, the arch sample, the estimators and the data, then score.

    ``options`` (batch size, repeats, seed, sizes; ``None`` = the scorer's default) go to the
    training-free scorers; ``plot``: write the agreement plot too.  ``specs``: a list, or the CLI's comma-separated text (see
    :func:`bpe.estimators.split_specs`: a vote takes the names after it).  Returns the table, the
    paths written, the estimators and their labels.
    """
    specs = split_specs(specs) if isinstance(specs, str) else [s.strip() for s in specs if s.strip()]
    if not specs or len(set(specs)) != len(specs):
        raise BPEError(f"--estimator needs distinct comma-separated names, got '{','.join(specs)}'")
    labels = unique_labels(specs)
    for key, value in (options or {}).items():
        if value is not None and value < (0 if key == "seed" else 1):
            raise BPEError(f"--{key.replace('_', '-')} must be {'>= 0' if key == 'seed' else 'positive'}, got {value}")
    outputs = plan_outputs(out, suffixes=SCORE_OUTPUTS, default_stem="scores", command="bpe score")
    truth = load_truth(truth_spec, space=space) if truth_spec else None
    sample = resolve_archs(archs, space, seed, truth=truth)
    estimators = [estimator_from_spec(s, dataset=dataset, truth=truth, space=space, device=device, options=options)
                  for s in specs]
    load_arrays(dataset)  # a missing or corrupt data file is reported before any work
    frame = score_archs(estimators, sample, runner=runner, labels=labels)
    provenance = {"dataset": dataset.name, "data_dir": dataset.data_dir, "space": space, "arch_seed": seed,
                  "n_archs": len(sample), "provenance": run_provenance()}
    paths = write_scores(frame, outputs, estimators=estimators, labels=labels, provenance=provenance, plot=plot)
    return frame, paths, estimators, labels
