"""Training-free issue: correlation table, agreement with the reference scores, search by
scoring, and the cost/quality frontier plot.

    python experiments/training_free.py --archs 1000 --seed 0 --jobs 2

Steps (each cached, so a rerun resumes):
1. ``bpe score`` the sampled archs on CIFAR-10 with every scorer (C=16, N=5, 32 px);
2. ``bpe correlate`` against ``v11_cifar10_test`` and ``v11_cifar10valid_valid`` (plus the BPE
   settings of ``experiments/core_settings.py`` when their results exist) -> tables + PNG;
3. Spearman between our scores and NAS-Bench-Suite-Zero's reference scores on the same archs;
4. search by scoring (best of N random archs by score, repeated R times) on the scored pool.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bpe.benchmarks.table import TableBenchmark
from bpe.cli import main as bpe_main
from bpe.metrics import spearman
from bpe.scoring import best_of_n
from bpe.data import reference_data_dir

SCORERS = "params,flops,synflow,naswot,jacob_cov,snip,grad_norm,epe_nas,fisher"
#: Scorers run on a smaller sample (GraSP needs two backward passes: ~1.7 s/arch on this CPU).
SUBSET_SCORERS = "grasp"
REFERENCE_NAMES = {"naswot": "nwot", "synflow": "synflow", "snip": "snip", "grad_norm": "grad_norm",
                   "jacob_cov": "jacov", "epe_nas": "epe_nas", "fisher": "fisher", "grasp": "grasp",
                   "params": "params", "flops": "flops"}
PUBLISHED = {("naswot", 10): "92.44±1.13", ("naswot", 100): "92.81±0.99",
             ("epe_nas", 10): "92.63±0.32", ("epe_nas", 100): "91.59±0.87"}


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
    data = reference_data_dir(Path(__file__).resolve().parents[1])
    table_path = data / "nb201" / "nb201_groundtruth.csv"
    out = Path(args.out_dir)
    scores_csv = out / f"scores_{args.archs}_seed{args.seed}.csv"

    subset_csv = out / f"scores_{args.subset_archs}_seed{args.seed}.csv"
    for scorers, n, csv in ((args.scorers, args.archs, scores_csv), (args.subset_scorers, args.subset_archs, subset_csv)):
        if not scorers:
            continue
        code = bpe_main(["score", "--estimator", scorers, "--space", "nb201", "--dataset", "cifar10",
                         "--data-dir", str(data / "cifar10"), "--archs", n, "--seed", str(args.seed),
                         "--jobs", str(args.jobs), "--device", "cpu", "--out", str(csv), "--quiet"])
        if code:
            raise SystemExit(code)
    score_files = [str(scores_csv)] + ([str(subset_csv)] if args.subset_scorers else [])
    evaluations = sorted(str(p) for p in Path("results/core_settings").glob("*.json"))
    for metric in ("v11_cifar10_test", "v11_cifar10valid_valid"):
        print(f"\n## correlation with {metric} ({args.archs} archs, seed {args.seed})\n")
        extra = ["--evaluations", *evaluations] if metric == "v11_cifar10valid_valid" and evaluations else []
        bpe_main(["correlate", "--scores", *score_files, "--truth", str(table_path), "--metric", metric,
                  "--out", str(out / f"correlations_{metric}.json"), *extra])

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
    main()
