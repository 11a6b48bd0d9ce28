"""Search-drivers issue, must-show 3: regularized evolution against random search with a real
proxy-training estimator (a BPEConfig JSON trained on CIFAR-10), the same evaluation budget,
several seeds; the found archs' NB201 true accuracies.

    python experiments/proxy_search.py [--config experiments/configs/nb201_c8_n1_16px_e10.json]
                                       [--budget 40] [--runs 3] [--jobs 2]

Every proxy training is cached (``BPE_CACHE_DIR``), so a rerun, or the same arch asked by
another run or algorithm, costs nothing; the budget still charges each run's own evaluations.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bpe.cli import main as bpe_main
from bpe.data import reference_data_dir

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
    data = reference_data_dir(HERE.parent)
    code = bpe_main(["search", "--algo", args.algos, "--estimator", args.config, "--dataset", "cifar10",
                     "--data-dir", str(data / "cifar10"), "--truth", str(data / "nb201" / "nb201_groundtruth.csv"),
                     "--budget", args.budget, "--runs", str(args.runs), "--seed", str(args.seed),
                     "--jobs", str(args.jobs), "--device", "auto", "--out", args.out])
    if code:
        raise SystemExit(code)
    result = json.loads(Path(args.out).read_text())
    print("\n| algorithm | seed | found arch | proxy score | CIFAR-10 test | evaluations |")
    print("|---|---|---|---|---|---|")
    for run in result["runs"]:
        acc = run["true_accuracy"] or {}
        score = "-" if run["score"] is None else f"{run['score']:.2f}"
        print(f"| {run['algorithm']} | {run['seed']} | `{run['arch']}` | {score} | "
              f"{acc.get('cifar10_test', float('nan')):.2f} | {run['n_evaluations']} |")


if __name__ == "__main__":
    main()
