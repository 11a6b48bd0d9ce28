"""Faithful DARTS networks: parameter counts at the DARTS evaluation size next to the published ones.

    python experiments/darts_params.py

Builds the published DARTS (V2) cell and the BPE paper's 100 cells at the DARTS CIFAR-10
evaluation setting (36 channels, 20 layers, 10 classes) and prints their parameter counts with
and without the auxiliary head (papers count without it; DARTS V2 is published at 3.3 M), and
the same at BPE-1's proxy size (8 channels, 6 layers).
"""

from __future__ import annotations

import argparse

import numpy as np

from bpe.spaces import get_space
from bpe.spaces.darts import DARTS_V2
from bpe.truth import BPEPaperBenchmark

from _paths import reference_data_dir


def params(space, arch, *, channels: int, layers: int, auxiliary: bool = False) -> float:
    """Millions of parameters, the auxiliary head excluded."""
    net = space.build(arch, channels=channels, layers=layers, num_classes=10, auxiliary=auxiliary)
    return sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary_head")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(reference_data_dir() / "bpe_paper"))
    args = parser.parse_args()
    space = get_space("darts")
    net = space.build(DARTS_V2, channels=36, layers=20, num_classes=10, auxiliary=True)
    total = sum(p.numel() for p in net.parameters()) / 1e6
    v2 = params(space, DARTS_V2, channels=36, layers=20)
    print(f"DARTS V2 at 36 channels, 20 layers: {v2:.3f} M parameters without the auxiliary head "
          f"(published 3.3 M), {total:.3f} M with it")
    cells = BPEPaperBenchmark(args.records).archs()
    full = np.array([params(space, c, channels=36, layers=20) for c in cells])
    proxy = np.array([params(space, c, channels=8, layers=6) for c in cells])
    print(f"the BPE paper's {len(cells)} cells at 36/20: {full.min():.3f}-{full.max():.3f} M "
          f"(median {np.median(full):.3f} M); at BPE-1's 8/6: {proxy.min() * 1e3:.1f}-{proxy.max() * 1e3:.1f} k")


if __name__ == "__main__":
    main()
