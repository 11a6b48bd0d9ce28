"""Training-free scorers on NAS-Bench-201: rank correlations, agreement with the reference
scores, search by scoring, and the cost/quality frontier plot.

    python experiments/training_free.py --archs 1000 --seed 0 --jobs 2

Steps (each scoring cached, so a rerun resumes), each printing a Markdown table:
1. score the ``--archs`` sampled archs on CIFAR-10 with every scorer (C=16, N=5, 32 px; GraSP
   on ``--subset-archs`` only), into ``results/training_free/scores_<N>_seed<S>.csv``;
2. correlate the scores with ``v11_cifar10_test`` and ``v11_cifar10valid_valid`` (plus the BPE
   settings of ``experiments/core_settings.py`` when their results exist): Kendall, Spearman
   with its 95% CI, top-10% precision, seconds per arch; a JSON and a frontier PNG per metric;
3. Spearman between our scores and NAS-Bench-Suite-Zero's reference scores on the same archs
   (and ``jacob_cov`` next to the NASWOT authors' own scores, when that file exists);
4. search by scoring (best of N random archs by score, repeated ``--runs`` times) on the
   scored pool, next to the published numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.metrics import spearman
from bpe.parallel import Runner
from bpe.scoring import best_of_n, correlate_job, score_job
from bpe.truth.table import TableBenchmark

from _paths import reference_data_dir

SCORERS = "params,flops,synflow,naswot,jacob_cov,snip,grad_norm,epe_nas,fisher"
#: Scorers run on a smaller sample (GraSP needs two backward passes: ~1.7 s/arch on this CPU).
SUBSET_SCORERS = "grasp"
REFERENCE_NAMES = {"naswot": "nwot", "synflow": "synflow", "snip": "snip", "grad_norm": "grad_norm",
                   "jacob_cov": "jacov", "epe_nas": "epe_nas", "fisher": "fisher", "grasp": "grasp",
                   "params": "params", "flops": "flops"}
PUBLISHED = {("naswot", 10): "92.44±1.13", ("naswot", 100): "92.81±0.99",
             ("epe_nas", 10): "92.63±0.32", ("epe_nas", 100): "91.59±0.87"}


def print_correlations(doc: dict) -> None:
    """Markdown table of a :func:`bpe.scoring.correlate_job` result, one row per estimator."""
    print("| estimator | truth (metric) | Kendall τ | Spearman ρ [95% CI] | top-10% precision | s/arch | n |")
    print("|---|---|---|---|---|---|---|")
    for name, r in doc["estimators"].items():
        lo, hi = (f"{v:.2f}" if v is not None and not math.isnan(v) else "n/a" for v in r["spearman_ci95"])
        seconds = r.get("seconds_per_arch")
        print(f"| {name} | {r['truth_source']} ({r['metric']}) | {r['kendall']:.3f} | {r['spearman']:.3f} [{lo}, {hi}] "
              f"| {r['top10pct_precision']:.2f} | {seconds if seconds is None else f'{seconds:.3f}'} | {r['n_archs']} |")
        if r.get("warning"):
            print(f"  warning: {r['warning']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="1000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scorers", default=SCORERS)
    parser.add_argument("--subset-scorers", default=SUBSET_SCORERS)
    parser.add_argument("--subset-archs", default="300", help="sample size for --subset-scorers")
    parser.add_argument("--runs", type=int, default=500, help="search-by-scoring repetitions")
    parser.add_argument("--out-dir", default="results/training_free")
    args = parser.parse_args()
    data = reference_data_dir()
    table_path = data / "nb201" / "nb201_groundtruth.csv"
    out = Path(args.out_dir)
    def tag(archs: str) -> str:  # a number, or an arch-list file (its stem)
        return Path(archs).stem if Path(archs).is_file() else f"{archs}_seed{args.seed}"

    scores_csv = out / f"scores_{tag(args.archs)}.csv"

    subset_csv = out / f"scores_{tag(args.subset_archs)}.csv"
    dataset = DatasetSpec("cifar10", str(data / "cifar10"))
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=False)
    for scorers, n, csv in ((args.scorers, args.archs, scores_csv), (args.subset_scorers, args.subset_archs, subset_csv)):
        if not scorers:
            continue
        frame, paths, _, _ = score_job(scorers.split(","), dataset=dataset, archs=n, seed=args.seed, runner=runner,
                                       out=csv, device="cpu")
        print(f"scored {len(frame)} archs with {scorers}; wrote " + ", ".join(map(str, paths)))
    score_files = [str(scores_csv)] + ([str(subset_csv)] if args.subset_scorers else [])
    evaluations = sorted(str(p) for p in Path("results/core_settings").glob("*.json"))
    for metric in ("v11_cifar10_test", "v11_cifar10valid_valid"):
        print(f"\n## correlation with {metric} ({args.archs} archs, seed {args.seed})\n")
        try:
            doc, paths = correlate_job(
                scores=score_files, evaluations=evaluations if metric == "v11_cifar10valid_valid" else [],
                truth_spec=str(table_path), metric=metric, out=out / f"correlations_{metric}.json")
        except BPEError as err:  # e.g. an unreadable core_settings result: report it, go on with the rest
            print(f"correlate: error: {err}", file=sys.stderr)
            continue
        print_correlations(doc.to_dict())
        print("wrote " + ", ".join(map(str, paths)))

    scores = pd.read_csv(scores_csv)
    ref = pd.read_csv(data / "nb201" / "zero_cost_cifar10.csv")
    merged = scores.merge(ref, left_on="arch", right_on="net_str", suffixes=("", "_ref"))
    print(f"\n## agreement with NAS-Bench-Suite-Zero reference scores ({len(merged)} common archs)\n")
    print("| scorer | Spearman (ours vs reference) |\n|---|---|")
    for ours, theirs in REFERENCE_NAMES.items():
        if ours in scores.columns:
            col = theirs + "_ref" if theirs in scores.columns else theirs
            print(f"| {ours} | {spearman(merged[ours], merged[col]):.3f} |")

    authors = data / "nb201" / "naswot_v1_scores_cifar10.csv"
    if "jacob_cov" in scores.columns and authors.is_file():
        # NASWOT's authors scored every cell with their first version (jacob_cov): how do their own
        # scores correlate on this very sample, and how closely do ours follow theirs?
        v1 = pd.read_csv(authors).set_index("cellstr").reindex(scores["arch"])
        print(f"\n## jacob_cov next to the NASWOT authors' own v1 scores ({len(scores)} archs)\n")
        print("| scores | ρ vs cifar10 test | ρ vs cifar10-valid valid |\n|---|---|---|")
        t = TableBenchmark(table_path)
        for label, values in (("ours", scores["jacob_cov"].to_numpy()), ("NASWOT authors' v1", v1["score"].to_numpy())):
            print(f"| {label} | {spearman(values, t.query_many(list(scores['arch']), 'v11_cifar10_test')):.3f} | "
                  f"{spearman(values, t.query_many(list(scores['arch']), 'v11_cifar10valid_valid')):.3f} |")
        print(f"| agreement ours vs authors' | {spearman(scores['jacob_cov'].to_numpy(), v1['score'].to_numpy()):.3f} | |")

    truth = TableBenchmark(table_path)
    test_acc = np.array([truth.query(a, "v11_cifar10_test") for a in scores["arch"]])
    print(f"\n## search by scoring on the scored pool ({len(scores)} archs, {args.runs} runs, "
          f"CIFAR-10 test accuracy of the pick)\n")
    print("| scorer | N | ours mean ± std | published |\n|---|---|---|---|")
    for name in [s for s in ("naswot", "epe_nas", "synflow", "jacob_cov") if s in scores.columns]:
        for n in (10, 100):
            picks = best_of_n(scores[name], test_acc, n, args.runs, seed=args.seed)
            print(f"| {name} | {n} | {picks.mean():.2f} ± {picks.std():.2f} | {PUBLISHED.get((name, n), '-')} |")
    for n in (10, 100):
        picks = best_of_n(np.random.default_rng(1).random(len(scores)), test_acc, n, args.runs, seed=args.seed)
        print(f"| random pick | {n} | {picks.mean():.2f} ± {picks.std():.2f} | - |")


if __name__ == "__main__":
    try:
        main()
    except BPEError as err:
        raise SystemExit(f"training_free: error: {err}") from None
