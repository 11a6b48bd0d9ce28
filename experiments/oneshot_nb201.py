"""DARTS (first order) and GDAS on NAS-Bench-201 on CPU with a small supernet, judged by the table.

    python experiments/oneshot_nb201.py [--methods darts,gdas] [--config experiments/configs/oneshot_c8_n1_16px.json]
                                        [--runs 1] [--seed 0]

Each method trains its supernet on CIFAR-10 under the BPEConfig ``--config`` (by default C=8,
1 cell per stage, 16 px, 20% of the CIFAR-10 train/valid split, 30 epochs) and derives a cell.
Prints each method's summary, then a Markdown table per run: the derived cell, whether it is
parameter-free, its NB201 true accuracies and the wall time; writes
``results/oneshot/<method>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.parallel import Runner
from search_algos.jobs import search_job
from search_algos.orchestrate import summary_table

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent


def report(r: int, run: Any) -> None:
    """One line per finished run (a ``search_algos.experiment.OneShotRun``), as it finishes."""
    row = run.to_dict()
    acc = row["true_accuracy"]
    print(f"run {r}: {row['arch']}  ({row['seconds']:.0f} s, supernet valid acc {row['score']:.2f}"
          + (f", cifar10 test {acc['cifar10_test']:.2f}" if acc else "") + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="darts,gdas")
    parser.add_argument("--config", default=str(HERE / "configs" / "oneshot_c8_n1_16px.json"))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="results/oneshot")
    args = parser.parse_args()
    data = reference_data_dir()
    runner = Runner(jobs=1, cache=EvalCache(default_cache_dir()), progress=True)
    rows = []
    for method in args.methods.split(","):
        experiment, paths = search_job(
            algos=[method], estimator_spec=args.config, dataset=DatasetSpec("cifar10", str(data / "cifar10")),
            truth_spec=str(data / "nb201" / "nb201_groundtruth.csv"), metric="v11_cifar10valid_valid",
            budget_spec=None, runs=args.runs, seed=args.seed, runner=runner, out=Path(args.out_dir) / f"{method}.json",
            device="auto", on_start=print, on_run=report)
        print(summary_table(experiment.summary))
        result = experiment.to_dict()  # as search.json has it
        for algo, row in result["summary"].items():
            if row.get("published_note"):
                print(f"{algo}: {row['published_note']}")
        print("wrote " + ", ".join(map(str, paths)))
        rows.extend((method, run) for run in result["runs"])
    print("\n| method | derived cell | parameter-free | CIFAR-10 valid | CIFAR-10 test | CIFAR-100 test "
          "| ImageNet16 test | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for method, run in rows:
        a = run["true_accuracy"]
        print(f"| {method} | `{run['arch']}` | {run['parameter_free']} | {a['cifar10_valid']:.2f} | {a['cifar10_test']:.2f} | "
              f"{a['cifar100_test']:.2f} | {a['imagenet16_test']:.2f} | {run['seconds']:.0f} |")


if __name__ == "__main__":
    try:
        main()
    except BPEError as err:
        raise SystemExit(f"oneshot_nb201: error: {err}") from None
