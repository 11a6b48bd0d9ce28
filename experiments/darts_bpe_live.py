"""The BPE paper's own estimator, trained live on its own DARTS cells, against the paper's records.

    python experiments/darts_bpe_live.py --cells 30 --data-fraction 0.2 --jobs 2

Trains a recorded setting (default ``test5`` = BPE-1: 10 epochs, batch 128, lr 0.03, 6 layers,
8 channels, 16 px, fp32, no cutout; under the paper's recipe: auxiliary head 0.4, drop-path
0.2, weight decay 3e-4) on ``--cells`` of the paper's 100 cells (a seeded subset), on this
CPU, through the cache (a rerun resumes).  Reports:

(a) how faithfully we reproduce their proxy training: Spearman between our per-cell
    accuracies and the paper's recorded accuracies under the same setting, same cells;
(b) our rho against the cells' fully trained accuracy next to the paper's rho of the
    recorded setting on those same cells (recomputed from the records);
(c) CPU seconds per cell next to the paper's GPU-hours per net.

What differs from their protocol: our data is the 25k/25k split of CIFAR-10's training set
(theirs: 50k train, 10k test for validation), ``--data-fraction`` of it (for CPU time), no
gradient clipping, and our augmentation (crop + flip; then resize to the setting's size).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bpe.archlists import resolve_archs
from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.estimators.proxy import ProxyTrainingEstimator
from bpe.metrics import rank_summary
from bpe.outputs import atomic_write_text, json_text, run_provenance
from bpe.parallel import Runner
from bpe.truth import BPEPaperBenchmark

from _paths import reference_data_dir


def fmt(summary: dict) -> str:
    lo, hi = summary["spearman_ci95"]
    return f"{summary['spearman']:.3f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(reference_data_dir() / "bpe_paper"))
    parser.add_argument("--setting", default="test5", help="the recorded setting to train (test5 = BPE-1)")
    parser.add_argument("--cells", type=int, default=30, help="how many of the 100 cells (a seeded subset)")
    parser.add_argument("--seed", type=int, default=0, help="subset and bootstrap seed")
    parser.add_argument("--data-fraction", type=float, default=0.2, help="of the 25k train / 25k valid split")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out-dir", default="results/darts_bpe_live")
    args = parser.parse_args()
    truth = BPEPaperBenchmark(args.records)
    config = truth.setting_config(args.setting).replace(data_fraction=args.data_fraction)
    cells = resolve_archs(args.cells, "darts", args.seed, minimum=3, truth=truth)
    estimator = ProxyTrainingEstimator(config, DatasetSpec("cifar10", str(reference_data_dir() / "cifar10")),
                                       space="darts", device="cpu")
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=True)
    records = runner.run(estimator, cells, desc=f"{args.setting} live")
    ours = [r.score if r.ok else None for r in records]
    full = [truth.query(c) for c in cells]
    recorded = [truth.query(c, args.setting) for c in cells]
    fidelity = rank_summary(ours, recorded, seed=args.seed)
    live = rank_summary(ours, full, seed=args.seed)
    paper_same = rank_summary(recorded, full, seed=args.seed)
    paper_all = rank_summary([truth.query(c, args.setting) for c in truth.archs()],
                             [truth.query(c) for c in truth.archs()], seed=args.seed)
    info = truth.setting_info(args.setting)
    seconds = [r.cost.seconds for r in records if r.ok]
    cpu = sum(seconds) / max(1, len(seconds))
    gpu = float(info["gpu_hours_per_net"]) * 3600
    print(f"## {args.setting} live on {len(cells)} of the paper's cells ({estimator.describe()}, "
          f"{sum(r.ok for r in records)} trained, {sum(not r.ok for r in records)} failed)\n")
    print("| what | Spearman ρ [95% CI] |")
    print("|---|---|")
    print(f"| (a) our accuracies vs the paper's recorded {args.setting} accuracies, same cells | {fmt(fidelity)} |")
    print(f"| (b) ours vs fully trained accuracy | {fmt(live)} |")
    print(f"| (b) the paper's recorded {args.setting} vs fully trained, same {len(cells)} cells | {fmt(paper_same)} |")
    print(f"| the paper's recorded {args.setting} vs fully trained, all 100 cells | {fmt(paper_all)} "
          f"(reported {info.get('spearman_reported')}) |")
    print(f"\n(c) cost per cell: {cpu:.0f} CPU-s here (1 thread, data fraction {args.data_fraction:g} of 25k) vs "
          f"the paper's {info['gpu_hours_per_net']} GPU-hours = {gpu:.0f} s on a {info.get('gpu')} (full 50k)")
    doc = {"setting": args.setting, "config": config.to_dict(), "estimator": estimator.describe(), "cells": cells,
           "ours": ours, "recorded": recorded, "fully_trained": full, "fidelity": fidelity, "live": live,
           "paper_same_cells": paper_same, "paper_all_cells": paper_all, "cpu_seconds_per_cell": cpu,
           "paper_gpu_seconds_per_cell": gpu, "paper_gpu": info.get("gpu"), "provenance": run_provenance()}
    out = Path(args.out_dir) / f"{args.setting}_{len(cells)}cells_df{args.data_fraction:g}.json"
    atomic_write_text(out, json_text(doc))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
