"""Pairwise-ranking predictor (ReNAS) vs an MSE-trained predictor on NAS-Bench-201.

Kendall/Spearman of both on the archs they were not trained on, for training sizes 16, 64, 156
and 1,000 (5 seeds), next to the best training-free scorer on the same remaining archs (where
scored), predictor-guided search, and CPU seconds; prints Markdown tables and writes
``results/renas/table.json``.

    python experiments/renas_table.py [--seeds 5] [--sizes 16,64,156,1000] [--search-seeds 20]

Search with the predictor: train on 156 oracle-labelled archs, predict every other arch, take
the top-10 predictions, query their validation accuracy (10 more oracle queries) and report
the CIFAR-10 test accuracy of the best of them (no test-set leakage).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bpe.estimators.renas import holdout_evaluation
from bpe.metrics import kendall, spearman
from bpe.truth.table import TableBenchmark

from _paths import reference_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", default="16,64,156,1000")
    parser.add_argument("--search-seeds", type=int, default=20)
    parser.add_argument("--metric", default="v11_cifar10valid_valid")
    parser.add_argument("--scores", default="results/training_free/scores_1000_seed0.csv",
                        help="training-free scores to compare with (from experiments/training_free.py); when absent, "
                             "the NAS-Bench-Suite-Zero reference scores in the data folder are used")
    parser.add_argument("--extra", default="nwot",
                        help="reference zero-cost score used as an extra predictor input in the variant table "
                             "(a column of zero_cost_cifar10.csv; '' to skip)")
    parser.add_argument("--extra-sizes", default="16,64,156")
    parser.add_argument("--skip-main", action="store_true", help="only the extra-input variant")
    parser.add_argument("--out", default="results/renas/table.json")
    args = parser.parse_args()
    data = reference_data_dir()
    truth = TableBenchmark(data / "nb201" / "nb201_groundtruth.csv")
    archs = truth.archs()
    y = np.array(truth.query_many(archs, args.metric))
    scores = pd.read_csv(args.scores) if Path(args.scores).is_file() else None
    free_source = args.scores
    reference = data / "nb201" / "zero_cost_cifar10.csv"
    if scores is None and reference.is_file():  # 9,445 archs scored by NASLib (no compute needed)
        ref = pd.read_csv(reference)
        scores = ref[["net_str", "nwot", "jacov", "synflow", "snip", "grad_norm", "epe_nas"]].rename(
            columns={"net_str": "arch", "nwot": "naswot", "jacov": "jacob_cov"})
        free_source = f"{reference} (NAS-Bench-Suite-Zero)"
    best_free = None
    if scores is not None:
        cols = [c for c in scores.columns if c != "arch" and not c.endswith("_seconds")]
        free_truth = truth.query_many(list(scores["arch"]), args.metric)
        best_free = max(cols, key=lambda c: kendall(list(scores[c]), free_truth))

    fits: dict[tuple[int, int, str], dict] = {}

    def fit(n: int, seed: int, loss: str) -> dict:
        """One held-out evaluation, computed once (the search reuses the table's 156-arch fits)."""
        if (n, seed, loss) not in fits:
            fits[n, seed, loss] = holdout_evaluation(archs, y, train_size=n, seed=seed, loss=loss)
        return fits[n, seed, loss]

    rows, out = [], {"metric": args.metric, "training_free_source": free_source, "sizes": {}}
    if args.extra and reference.is_file():
        out["extra_variant"] = extra_variant(truth, args, reference)
    if args.skip_main:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
        return
    for n in [int(s) for s in args.sizes.split(",")]:
        cell = {}
        for loss in ("pairwise", "mse"):
            results = [fit(n, s, loss) for s in range(args.seeds)]
            cell[loss] = {k: [r[k] for r in results] for k in ("kendall", "spearman", "fit_seconds", "predict_seconds")}
            if loss == "pairwise" and scores is not None:
                # the training-free scorer on the same remaining archs (those it scored)
                taus, rhos = [], []
                for r in results:
                    rest = scores[~scores["arch"].isin(set(r["train_archs"]))]
                    t = truth.query_many(list(rest["arch"]), args.metric)
                    taus.append(kendall(list(rest[best_free]), t))
                    rhos.append(spearman(list(rest[best_free]), t))
                cell["training_free"] = {"name": best_free, "kendall": taus, "spearman": rhos}
        out["sizes"][n] = cell
        rows.append((n, cell))
        print(f"size {n}: pairwise τ {np.mean(cell['pairwise']['kendall']):.3f}, "
              f"MSE τ {np.mean(cell['mse']['kendall']):.3f}", flush=True)

    search = []
    for s in range(args.search_seeds):
        r = fit(156, s, "pairwise")
        seen = set(r["train_archs"])
        rest = [a for a in archs if a not in seen]
        pred = r["predictor"].predict(rest)
        top = [rest[i] for i in np.argsort(-pred)[:10]]
        pick = max(top, key=lambda a: truth.query(a, args.metric))
        search.append(truth.query(pick, "v11_cifar10_test"))
    out["search"] = {"cifar10_test": search, "mean": float(np.mean(search)), "std": float(np.std(search))}

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))

    def ms(v):
        return f"{np.mean(v):.3f} ± {np.std(v):.3f}"

    print(f"\n| train archs | pairwise τ | MSE τ | {best_free or 'training-free'} τ | pairwise ρ | MSE ρ | "
          f"{best_free or 'training-free'} ρ | fit s (pairwise) | score 15.6k archs s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, c in rows:
        tf = c.get("training_free", {"kendall": [np.nan], "spearman": [np.nan]})
        print(f"| {n} | {ms(c['pairwise']['kendall'])} | {ms(c['mse']['kendall'])} | {ms(tf['kendall'])} | "
              f"{ms(c['pairwise']['spearman'])} | {ms(c['mse']['spearman'])} | {ms(tf['spearman'])} | "
              f"{np.mean(c['pairwise']['fit_seconds']):.1f} | {np.mean(c['pairwise']['predict_seconds']):.2f} |")
    print(f"\ntraining-free column: best of {free_source} by Kendall τ on the scored archs")
    print(f"\npredictor-guided search (156 oracle labels + top-10 queried, {args.search_seeds} seeds): "
          f"CIFAR-10 test {np.mean(search):.2f} ± {np.std(search):.2f} (REA 93.92, NASWOT N=100 92.81)")


def extra_variant(truth: TableBenchmark, args: argparse.Namespace, reference: Path) -> dict:
    """Pairwise predictor with and without a training-free score as an extra input, on the cells
    the reference file scored (9,445 without unreachable ops): same training archs, same rest."""
    ref = pd.read_csv(reference)
    archs = list(ref["net_str"])
    y = np.array(truth.query_many(archs, args.metric))
    extra = ref[args.extra].to_numpy(dtype=float)
    table = {}
    print(f"\n## extra input: reference {args.extra} ({len(archs)} scored cells, {args.seeds} seeds)\n")
    print(f"| train archs | pairwise τ | pairwise + {args.extra} τ | {args.extra} alone τ | pairwise ρ "
          f"| pairwise + {args.extra} ρ |")
    print("|---|---|---|---|---|---|")
    for n in [int(v) for v in args.extra_sizes.split(",")]:
        plain = [holdout_evaluation(archs, y, train_size=n, seed=s) for s in range(args.seeds)]
        helped = [holdout_evaluation(archs, y, train_size=n, seed=s, extra=extra) for s in range(args.seeds)]
        alone = []
        for r in plain:
            seen = set(r["train_archs"])
            rest = [i for i, a in enumerate(archs) if a not in seen]
            alone.append(kendall(list(extra[rest]), list(y[rest])))
        columns = (("plain_kendall", plain, "kendall"), ("extra_kendall", helped, "kendall"),
                   ("plain_spearman", plain, "spearman"), ("extra_spearman", helped, "spearman"))
        row = {k: [r[m] for r in rs] for k, rs, m in columns}
        row["score_alone_kendall"] = alone
        table[n] = row

        def ms(v):
            return f"{np.mean(v):.3f} ± {np.std(v):.3f}"

        print(f"| {n} | {ms(row['plain_kendall'])} | {ms(row['extra_kendall'])} | {ms(alone)} | "
              f"{ms(row['plain_spearman'])} | {ms(row['extra_spearman'])} |", flush=True)
    return table


if __name__ == "__main__":
    main()
