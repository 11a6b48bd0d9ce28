"""Search-drivers issue, must-show 1: random search, REA and REINFORCE with the NB201 oracle
(reward = 200-epoch ``v11_cifar10valid_valid``, cost = 12 x recorded seconds per epoch per new
arch, 12,000 simulated seconds), 500 runs each, next to the NAS-Bench-201 paper's rows.

    python experiments/nb201_search_table.py --runs 500

Note: the paper's reward is the 12-epoch (hp=12) validation accuracy, which our table lacks;
the 200-epoch accuracy is a less noisy reward, so our means are expected a little higher.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bpe.cli import main as bpe_main
from bpe.data import reference_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/nb201_search/search_oracle.json")
    args = parser.parse_args()
    data = reference_data_dir(Path(__file__).resolve().parents[1])
    start = time.perf_counter()
    code = bpe_main(["search", "--algo", "random,rea,reinforce", "--estimator", "oracle",
                     "--truth", str(data / "nb201" / "nb201_groundtruth.csv"), "--metric", "v11_cifar10valid_valid",
                     "--budget", "12000s-simulated", "--runs", str(args.runs), "--seed", str(args.seed),
                     "--out", args.out, "--quiet"])
    print(f"{3 * args.runs} runs in {time.perf_counter() - start:.1f} s wall")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
