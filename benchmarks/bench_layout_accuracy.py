"""Does the channels-last layout change what a proxy training reports?  The same archs trained in
both layouts, next to the same archs trained with another seed (the noise a result already has).

    python benchmarks/bench_layout_accuracy.py [--archs 8] [--epochs 5] [--fraction 0.1]
    python benchmarks/bench_layout_accuracy.py --dataset digits --archs 20

``cifar10``: C8 N1 16 px on CIFAR-10, ``--epochs`` epochs on ``--fraction`` of the images.
``digits``: the Quickstart's reference truth (``reference_config("digits")``: C8 N2 8 px, 30 epochs,
all the digits).  One thread.  Prints per arch the validation accuracy in torch's default layout,
in channels-last, and with seed 1 in the default layout; then the mean absolute layout difference
against the mean absolute seed difference, and the Spearman rho between the two layouts'
accuracies beside the rho between the two seeds' (a ranking's own noise).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import bpe.runtime as runtime
import bpe.training as training
from bpe.config import BPEConfig
from bpe.data import DatasetSpec, prepare_split
from bpe.machine import machine_line
from bpe.spaces import get_space
from bpe.truth.reference import reference_config


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", choices=("cifar10", "digits"))
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--fraction", type=float, default=0.1)
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    torch.set_num_threads(1)
    if args.dataset == "digits":
        config = reference_config("digits")
        data = prepare_split(DatasetSpec("digits"), config.data_fraction)
    else:
        data = prepare_split(DatasetSpec("cifar10", str(reference_data_dir() / "cifar10")), args.fraction)
        config = BPEConfig(epochs=args.epochs, batch_size=128, channels=8, layers=5, image_size=16,
                           data_fraction=args.fraction)
    archs = [str(a) for a in get_space("nb201").sample(args.archs, 0)]
    chosen = runtime.CPU_LAYOUT

    def run(arch: str, cfg: BPEConfig, channels_last: bool) -> float:
        runtime.CPU_LAYOUT = torch.channels_last if channels_last else torch.contiguous_format
        try:
            result = training.train_and_evaluate(arch, cfg, data, device="cpu")
        finally:
            runtime.CPU_LAYOUT = chosen
        assert result.layout == ("channels_last" if channels_last else "contiguous")
        return result.valid_accuracy

    rows = [(run(a, config, False), run(a, config, True), run(a, config.replace(seed=1), False)) for a in archs]
    print("| arch | default layout | channels-last | default layout, seed 1 |")
    print("|---|---|---|---|")
    for a, (d, c, s) in zip(archs, rows):
        print(f"| `{a}` | {d:.2f} | {c:.2f} | {s:.2f} |")
    d, c, s = (np.array(x) for x in zip(*rows))
    print(f"\nmean |channels-last - default| = {np.mean(np.abs(c - d)):.2f} points; mean |seed 1 - seed 0| = "
          f"{np.mean(np.abs(s - d)):.2f} points; Spearman(default, channels-last) = {stats.spearmanr(d, c)[0]:.3f}, "
          f"Spearman(seed 0, seed 1) = {stats.spearmanr(d, s)[0]:.3f} over {len(archs)} archs "
          f"({config.epochs} epochs, {len(data.train_y)} images)")


if __name__ == "__main__":
    main()
