"""Every registered training-free scorer (and votes of them) side by side on one seeded sample of
NAS-Bench-201 archs: Spearman (95% bootstrap interval) and Kendall against several benchmark
metrics, seconds per arch, next to each method's published rho.

    python experiments/scorers_head_to_head.py --archs experiments/configs/nb201_400.txt --jobs 2

Scores are computed on CIFAR-10 (C=16, N=5, 32 px, each scorer's own batch and protocol: see
``bpe/estimators``) and cached, so a rerun recomputes nothing.  Writes a Markdown table (stdout),
``scores.csv``, ``head_to_head.json`` and the correlation-vs-cost plot under ``--out-dir``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.estimators import available_estimators, get_estimator_class
from bpe.estimators.zero_cost import TrainingFreeEstimator
from bpe.machine import machine_line
from bpe.outputs import atomic_write_text, json_text, run_provenance
from bpe.parallel import Runner
from bpe.scoring import correlate_scores, frontier_plot, score_job
from bpe.truth.table import TableBenchmark

from _paths import reference_data_dir

METRICS = ("v11_cifar10valid_valid", "v11_cifar100_valid", "v11_cifar100_test", "v11_imagenet16_test")
VOTES = ("vote:swap_reg,naswot,synflow", "vote:meco,swap_reg,zico")
#: Published Spearman rho on NAS-Bench-201 / NATS-Bench-TSS (the papers' own tables), by metric family.
PUBLISHED = {
    "meco": {"cifar10": 0.89, "cifar100": 0.88, "imagenet16": 0.85},  # Jiang et al., NeurIPS 2023
    "zico": {"cifar10": 0.80, "cifar100": 0.81, "imagenet16": 0.79},  # Li et al., ICLR 2023
    "swap_reg": {"cifar100": 0.90},  # Peng et al., ICLR 2024 (CIFAR-100 validation)
    "naswot": {"cifar100": 0.80},  # as quoted by Peng et al. (second best there)
    "az_nas": {"cifar10": 0.91},  # Lee & Ham, CVPR 2024 (an independent re-run: 0.892 / 0.880 / 0.859)
    "vkdnw": {"cifar10": 0.815},  # Tybl & Neumann, CVPR 2025 (VKDNW_single)
    "vkdnw_agg": {"cifar10": 0.919, "cifar100": 0.919, "imagenet16": 0.906},  # the same paper's aggregate
}
#: Assemblies that rank archs scored together (population estimators), scored beside the scorers.
ASSEMBLIES = ("az_nas", "vkdnw_agg")


def family(metric: str) -> str:
    return "cifar10" if "cifar10valid" in metric or "cifar10_" in metric else metric.split("_")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="experiments/configs/nb201_400.txt")
    parser.add_argument("--seed", type=int, default=0, help="arch seed when --archs is a number; bootstrap seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scorers", default=None, help="comma-separated (default: every registered scorer)")
    parser.add_argument("--votes", default=";".join(VOTES), help="';'-separated vote specs")
    parser.add_argument("--out-dir", default="results/head_to_head")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    data = reference_data_dir()
    truth = TableBenchmark(data / "nb201" / "nb201_groundtruth.csv")
    scorers = args.scorers.split(",") if args.scorers else [
        n for n in available_estimators() if issubclass(get_estimator_class(n), TrainingFreeEstimator)]
    specs = scorers + [a for a in ASSEMBLIES if a not in scorers] + [v for v in args.votes.split(";") if v]
    out = Path(args.out_dir)
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=True)
    frame, paths, estimators, labels = score_job(
        specs, dataset=DatasetSpec("cifar10", str(data / "cifar10")), archs=args.archs, seed=args.seed,
        runner=runner, out=out / "scores.csv", device="cpu")
    rows = {metric: correlate_scores(frame, truth, metric, seed=args.seed) for metric in METRICS}
    print(f"## {len(frame)} archs ({args.archs}), CIFAR-10 batches, one thread per evaluation\n")
    print("| scorer | " + " | ".join(f"ρ {m} [95% CI]" for m in METRICS) + " | τ " + METRICS[0] + " | s/arch | failed |")
    print("|---|" + "---|" * (len(METRICS) + 3))
    for label in labels:
        cells = []
        for metric in METRICS:
            r = rows[metric][label]
            lo, hi = r["spearman_ci95"]
            published = PUBLISHED.get(label, {}).get(family(metric))
            cells.append(f"{r['spearman']:.3f} [{lo:.2f}, {hi:.2f}]" + (f" (pub. {published:.2f})" if published else ""))
        first = rows[METRICS[0]][label]
        print(f"| {label} | " + " | ".join(cells) + f" | {first['kendall']:.3f} | {first['seconds_per_arch']:.3f} | "
              f"{first['n_failed']} |")
    doc = {"archs": args.archs, "n_archs": len(frame), "metrics": list(METRICS), "published": PUBLISHED,
           "estimators": {lab: est.describe() for lab, est in zip(labels, estimators)}, "correlations": rows,
           "provenance": run_provenance()}
    atomic_write_text(out / "head_to_head.json", json_text(doc))
    points = [{"label": lab, "spearman": rows[METRICS[0]][lab]["spearman"],
               "seconds_per_arch": rows[METRICS[0]][lab]["seconds_per_arch"], "kind": "training-free"}
              for lab in labels if math.isfinite(rows[METRICS[0]][lab]["spearman"])]
    plot = frontier_plot(points, out / "head_to_head_frontier.png",
                         title=f"{len(frame)} NB201 archs vs {METRICS[0]}: rho against seconds per arch")
    print("\nwrote " + ", ".join(map(str, [*paths, out / "head_to_head.json", plot])))


if __name__ == "__main__":
    main()
