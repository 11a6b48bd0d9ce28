"""Regularized evolution vs random search with a real proxy-training estimator on NAS-Bench-201.

    python experiments/proxy_search.py [--config experiments/configs/nb201_c8_n1_16px_e10.json]
                                       [--algos random,rea] [--budget 40] [--runs 3] [--jobs 2]

Each algorithm runs ``--runs`` seeded searches under the same budget (``--budget``: N
evaluations, Ns wall seconds), scoring archs by training them on CIFAR-10 under the BPEConfig
``--config``.  Prints the summary of the found archs' NB201 true accuracies, then a Markdown
table per run (found arch, proxy score, CIFAR-10 test accuracy, evaluations); writes
``results/proxy_search/search.json`` and its best-so-far PNG.

Every proxy training is cached (``BPE_CACHE_DIR``), so a rerun, or the same arch asked by
another run or algorithm, costs nothing; the budget still charges each run's own evaluations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.parallel import Runner
from search_algos.jobs import search_job
from search_algos.orchestrate import summary_table

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "configs" / "nb201_c8_n1_16px_e10.json"))
    parser.add_argument("--algos", default="random,rea")
    parser.add_argument("--budget", default="40")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="results/proxy_search/search.json")
    args = parser.parse_args()
    data = reference_data_dir()
    experiment, paths = search_job(
        algos=args.algos.split(","), estimator_spec=args.config, dataset=DatasetSpec("cifar10", str(data / "cifar10")),
        truth_spec=str(data / "nb201" / "nb201_groundtruth.csv"), metric="v11_cifar10valid_valid",
        budget_spec=args.budget, runs=args.runs, seed=args.seed,
        runner=Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=True), out=args.out,
        device="auto", on_start=print)
    print(summary_table(experiment.summary))
    result = experiment.to_dict()  # as search.json has it
    for algo, row in result["summary"].items():
        if row.get("published_not_comparable"):
            print(f"{algo}: published row not shown, this run differs: {'; '.join(row['published_not_comparable'])}")
    print("wrote " + ", ".join(map(str, paths)))
    print("\n| algorithm | seed | found arch | proxy score | CIFAR-10 test | evaluations |")
    print("|---|---|---|---|---|---|")
    for run in result["runs"]:
        acc = run["true_accuracy"] or {}
        score = "-" if run["score"] is None else f"{run['score']:.2f}"
        print(f"| {run['algorithm']} | {run['seed']} | `{run['arch']}` | {score} | "
              f"{acc.get('cifar10_test', float('nan')):.2f} | {run['n_evaluations']} |")


if __name__ == "__main__":
    try:
        main()
    except BPEError as err:
        raise SystemExit(f"proxy_search: error: {err}") from None
