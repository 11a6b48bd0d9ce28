"""Training-free scorers on the DARTS space, on the BPE paper's own 100 cells, next to the paper's
37 recorded proxy settings (BPE-1 is ``test5``).

    python experiments/darts_paper_cells.py --jobs 2

Every registered training-free scorer (and two votes) scores the 100 cells on CIFAR-10 at the
DARTS evaluation size (36 channels, 20 layers, 32 px; ``--channels/--layers`` to change it),
cached, so a rerun recomputes nothing.  Each is correlated with the cells' fully trained
accuracy (Spearman with its 95% bootstrap interval, Kendall).  The recorded settings' rho is
recomputed from the records on the same 100 cells.  Prints a Markdown table and writes
``scores.csv``, ``darts_paper_cells.json`` and a rho-vs-cost frontier with both families
(scorers: CPU seconds per cell on this machine; recorded settings: the paper's GPU seconds per
cell, on a V100 or a 2080 Ti: different machines, the same axis for orientation only).
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
from bpe.metrics import rank_summary
from bpe.outputs import atomic_write_text, json_text, run_provenance
from bpe.parallel import Runner
from bpe.scoring import correlate_scores, frontier_plot, score_job
from bpe.truth import BPEPaperBenchmark

from _paths import reference_data_dir

VOTES = ("vote:meco,swap_reg,zico", "vote:synflow,naswot,params")
#: BPE-1 and BPE-2 as the paper names them.
NAMED = {"test5": "BPE-1", "test32": "BPE-2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(reference_data_dir() / "bpe_paper"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scorers", default=None, help="comma-separated (default: every registered scorer)")
    parser.add_argument("--votes", default=";".join(VOTES), help="';'-separated vote specs")
    parser.add_argument("--channels", type=int, default=None, help="scored network channels (default 36)")
    parser.add_argument("--layers", type=int, default=None, help="scored network layers (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out-dir", default="results/darts_paper_cells")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    truth = BPEPaperBenchmark(args.records)
    scorers = args.scorers.split(",") if args.scorers else [
        n for n in available_estimators() if issubclass(get_estimator_class(n), TrainingFreeEstimator)]
    specs = scorers + [v for v in args.votes.split(";") if v]
    out = Path(args.out_dir)
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=True)
    options = {"channels": args.channels, "layers": args.layers}
    frame, paths, estimators, labels = score_job(
        specs, dataset=DatasetSpec("cifar10", str(reference_data_dir() / "cifar10")), archs="all", seed=0,
        runner=runner, out=out / "scores.csv", space="darts", device="cpu", truth_spec=args.records, options=options)
    rows = correlate_scores(frame, truth, "accuracy", seed=args.seed)
    archs = list(frame["arch"])
    acc = [truth.query(a) for a in archs]
    recorded = {}
    for name in truth.settings():
        summary = rank_summary([truth.query(a, name) for a in archs], acc, seed=args.seed)
        info = truth.setting_info(name)
        summary.update(gpu_seconds_per_arch=float(info["gpu_hours_per_net"]) * 3600, gpu=info.get("gpu"),
                       spearman_reported=info.get("spearman_reported"), config=truth.setting_config(name).to_dict())
        recorded[name] = summary
    net = estimators[0].describe_net() if hasattr(estimators[0], "describe_net") else ""
    print(f"## {len(frame)} BPE-paper cells vs their fully trained CIFAR-10 accuracy (scorers at {net})\n")
    print("| estimator | ρ [95% CI] | τ | cost per cell |")
    print("|---|---|---|---|")
    for label in sorted(labels, key=lambda lab: -rows[lab]["spearman"] if math.isfinite(rows[lab]["spearman"]) else 9):
        r = rows[label]
        lo, hi = r["spearman_ci95"]
        print(f"| {label} | {r['spearman']:.3f} [{lo:.2f}, {hi:.2f}] | {r['kendall']:.3f} | "
              f"{r['seconds_per_arch']:.2f} CPU-s |")
    best = sorted(recorded, key=lambda n: -recorded[n]["spearman"])
    for name in dict.fromkeys([*NAMED, *best[:5]]):
        r = recorded[name]
        lo, hi = r["spearman_ci95"]
        label = f"recorded {name}" + (f" ({NAMED[name]})" if name in NAMED else "")
        print(f"| {label} | {r['spearman']:.3f} [{lo:.2f}, {hi:.2f}] | {r['kendall']:.3f} | "
              f"{r['gpu_seconds_per_arch']:.0f} GPU-s ({r['gpu']}) |")
    doc = {"n_archs": len(frame), "records": args.records, "net": net,
           "estimators": {lab: est.describe() for lab, est in zip(labels, estimators)}, "correlations": rows,
           "recorded_settings": recorded, "provenance": run_provenance()}
    atomic_write_text(out / "darts_paper_cells.json", json_text(doc))
    points = [{"label": lab, "spearman": rows[lab]["spearman"], "seconds_per_arch": rows[lab]["seconds_per_arch"],
               "kind": "training-free"} for lab in labels if math.isfinite(rows[lab]["spearman"])]
    points += [{"label": NAMED.get(n, n), "spearman": r["spearman"], "seconds_per_arch": r["gpu_seconds_per_arch"],
                "kind": "bpe"} for n, r in recorded.items()]
    plot = frontier_plot(points, out / "darts_paper_cells_frontier.png",
                         title=f"{len(frame)} BPE-paper DARTS cells: rho vs cost per cell "
                               "(scorers: CPU-s here; recorded settings: the paper's GPU-s)")
    print("\nwrote " + ", ".join(map(str, [*paths, out / "darts_paper_cells.json", plot])))


if __name__ == "__main__":
    main()
