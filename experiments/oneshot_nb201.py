"""Search-drivers issue, must-show 2: DARTS (first order) and GDAS on CPU with a small BPEConfig
(C=8, 1 cell per stage, 16 px, 20% of the CIFAR-10 train/valid split, 30 epochs), reporting
the derived cell, its NB201 true accuracies, whether it is parameter-free, and the wall time.

    python experiments/oneshot_nb201.py [--methods darts,gdas] [--config experiments/configs/oneshot_c8_n1_16px.json]
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
    parser.add_argument("--methods", default="darts,gdas")
    parser.add_argument("--config", default=str(HERE / "configs" / "oneshot_c8_n1_16px.json"))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="results/oneshot")
    args = parser.parse_args()
    data = reference_data_dir(HERE.parent)
    rows = []
    for method in args.methods.split(","):
        out = Path(args.out_dir) / f"{method}.json"
        code = bpe_main(["search", "--algo", method, "--estimator", args.config, "--dataset", "cifar10",
                         "--data-dir", str(data / "cifar10"), "--truth", str(data / "nb201" / "nb201_groundtruth.csv"),
                         "--runs", str(args.runs), "--seed", str(args.seed), "--device", "auto", "--out", str(out)])
        if code:
            raise SystemExit(code)
        for run in json.loads(out.read_text())["runs"]:
            rows.append((method, run))
    print("\n| method | derived cell | parameter-free | CIFAR-10 valid | CIFAR-10 test | CIFAR-100 test | ImageNet16 test | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for method, run in rows:
        a = run["true_accuracy"]
        print(f"| {method} | `{run['arch']}` | {run['parameter_free']} | {a['cifar10_valid']:.2f} | {a['cifar10_test']:.2f} | "
              f"{a['cifar100_test']:.2f} | {a['imagenet16_test']:.2f} | {run['seconds']:.0f} |")


if __name__ == "__main__":
    main()
