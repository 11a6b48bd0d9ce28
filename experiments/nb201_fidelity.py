"""Parameter-count fidelity of our NB201 networks against the NAS-Bench-201 table.

    python experiments/nb201_fidelity.py --n 500 --seed 0

Builds ``--n`` seeded random NB201 archs (C=16, N=5, 10 classes) and counts those whose
parameter count equals the table's ``v11_params_cifar10_MB`` (tolerance 1e-4 M).  Prints the
fraction that match and the first few mismatches.
"""

from __future__ import annotations

import argparse

import numpy as np

from bpe.spaces import nb201
from bpe.truth.table import TableBenchmark

from _paths import reference_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    default = reference_data_dir()
    parser.add_argument("--table", default=str(default / "nb201" / "nb201_groundtruth.csv"))
    args = parser.parse_args()

    table = TableBenchmark(args.table)
    archs = nb201.sample(args.n, np.random.default_rng(args.seed))
    mismatches = []
    for arch in archs:
        ours = sum(p.numel() for p in nb201.build(arch, channels=16, cells_per_stage=5, num_classes=10).parameters()) / 1e6
        theirs = table.query(arch, "v11_params_cifar10_MB")
        if abs(ours - theirs) >= 1e-4:
            mismatches.append((str(arch), ours, theirs))
    print(f"parameter-count fidelity: {args.n - len(mismatches)}/{args.n} = {1 - len(mismatches) / args.n:.3f} "
          f"(seed {args.seed}, C=16, N=5, 10 classes, tolerance 1e-4 M)")
    for arch, ours, theirs in mismatches[:5]:
        print(f"  mismatch {arch}: built {ours:.6f} M, table {theirs:.6f} M")


if __name__ == "__main__":
    main()
