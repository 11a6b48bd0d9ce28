"""Search at equal CPU cost on NAS-Bench-201: REA with the found BPE, REA with the best
training-free scorer, Hyperband over architectures (epochs of the found setting as the
fidelity), two-stage search (scorer prescreen, then the BPE on the best of the pool), and random
search with the found BPE alone (``random-bpe``, the two-stage search without its prescreen), and
Optuna's TPE with the found BPE (``tpe-bpe``).

    python experiments/equal_cost_search.py --bpe experiments/mip/nb201_cpu60.json --budget 600s --runs 3

Every run of every method gets the same budget of CPU seconds spent in evaluations (a cached
evaluation is charged its recorded seconds, so reruns are free and still honest); the found
arch's four NB201 accuracies are looked up in the benchmark table.  Prints a Markdown table
(mean ± std over seeds, mean CPU seconds and evaluations per run) and writes one search JSON per
method under ``--out-dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.parallel import Runner
from search_algos.jobs import search_job
from search_algos.orchestrate import ACCURACY_KEYS

from _paths import reference_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bpe", default="experiments/mip/nb201_cpu60.json", help="the found setting (bpe.json)")
    parser.add_argument("--scorer", default="meco", help="the best training-free scorer")
    parser.add_argument("--budget", default="600s", help="CPU seconds per run (every method)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", type=int, default=200, help="two-stage: archs the scorer prescreens")
    parser.add_argument("--population", type=int, default=10, help="REA population (tournament 3)")
    parser.add_argument("--methods", default="rea-bpe,rea-scorer,hyperband,two-stage")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out-dir", default="results/equal_cost")
    args = parser.parse_args()
    data = reference_data_dir()
    common = dict(dataset=DatasetSpec("cifar10", str(data / "cifar10")),
                  truth_spec=str(data / "nb201" / "nb201_groundtruth.csv"), metric="v11_cifar10valid_valid",
                  budget_spec=args.budget, runs=args.runs, seed=args.seed, device="cpu",
                  runner=Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=True))
    rea = [f"rea.population={args.population}"]
    methods = {
        "rea-bpe": dict(algos=["rea"], estimator_spec=args.bpe, option_items=rea),
        "tpe-bpe": dict(algos=["tpe"], estimator_spec=args.bpe),
        "random-bpe": dict(algos=["random"], estimator_spec=args.bpe),
        "rea-scorer": dict(algos=["rea"], estimator_spec=args.scorer, option_items=rea),
        "hyperband": dict(algos=["hyperband"], estimator_spec=args.bpe),
        "two-stage": dict(algos=["random"], estimator_spec=args.bpe, prescreen_spec=args.scorer, pool=args.pool),
    }
    rows = []
    for name in args.methods.split(","):
        print(f"## {name}", flush=True)
        result, paths = search_job(**methods[name], **common, out=Path(args.out_dir) / f"{name}.json",
                                   on_start=print)
        for algo, s in result.to_dict()["summary"].items():
            rows.append((name, algo, s))
        print("wrote " + ", ".join(map(str, paths)), flush=True)
    print(f"\n{args.runs} seeds per method, budget {args.budget} of CPU per run, found setting {args.bpe}, "
          f"scorer {args.scorer}\n")
    print("| method | " + " | ".join(ACCURACY_KEYS) + " | CPU s/run | evaluations/run |")
    print("|---|" + "---|" * (len(ACCURACY_KEYS) + 2))
    for name, algo, s in rows:
        acc = s["true_accuracy"]
        cells = [f"{acc[k]['mean']:.2f} ± {acc[k]['std']:.2f}" if k in acc else "-" for k in ACCURACY_KEYS]
        print(f"| {name} ({algo}) | " + " | ".join(cells) + f" | {s['mean_seconds']:.0f} | {s['mean_evaluations']:.1f} |")


if __name__ == "__main__":
    main()
