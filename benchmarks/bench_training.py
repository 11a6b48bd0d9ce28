"""Training-loop throughput and overhead: images/s, share of time spent preparing batches
(normalise, augment, resize) and validating, and peak memory.

    python benchmarks/bench_training.py [--device auto] [--data-dir ../shared/data/cifar10]

Uses the real CIFAR-10 arrays when found (``$BPE_DATA_DIR``/cifar10), else digits.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import torch

from bpe.config import BPEConfig
from bpe.data import DatasetSpec, prepare_split
from bpe.machine import machine_line
from bpe.training import train_and_evaluate

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SETTINGS = {
    "C8 N1 16px b128": dict(channels=8, cells_per_stage=1, image_size=16, batch_size=128),
    "C16 N1 16px b128": dict(channels=16, cells_per_stage=1, image_size=16, batch_size=128),
    "C8 N1 32px b128": dict(channels=8, cells_per_stage=1, image_size=32, batch_size=128),
    "C16 N5 32px b256 (NB201)": dict(channels=16, cells_per_stage=5, image_size=32, batch_size=256),
}


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    default = reference_data_dir() / "cifar10"
    parser.add_argument("--data-dir", default=str(default))
    parser.add_argument("--fraction", type=float, default=0.05, help="data fraction (of the 25k train split)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold

    spec = DatasetSpec("cifar10", args.data_dir) if Path(args.data_dir).is_dir() else DatasetSpec("digits")
    t0 = time.perf_counter()
    data = prepare_split(spec, args.fraction)
    load_s = time.perf_counter() - t0
    print(f"data: {spec.name}, {len(data.train_y)} train / {len(data.valid_y)} valid images, "
          f"loaded in {load_s:.2f} s; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| setting | device | train img/s | s/epoch | data prep % | validation % | params |")
    print("|---|---|---|---|---|---|---|")
    for name, kw in SETTINGS.items():
        cfg = BPEConfig(epochs=args.epochs, data_fraction=args.fraction, **kw)
        train_and_evaluate(ARCH, cfg.replace(epochs=1), data, device=args.device)  # warm-up
        r = train_and_evaluate(ARCH, cfg, data, device=args.device)
        train_s = r.seconds - r.eval_seconds
        imgs = r.epochs_run * (len(data.train_y) // cfg.batch_size) * cfg.batch_size
        print(f"| {name} | {r.device} | {imgs / train_s:.0f} | {train_s / r.epochs_run:.2f} | "
              f"{100 * r.data_seconds / r.seconds:.1f} | {100 * r.eval_seconds / r.seconds:.1f} | {r.num_params} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB")
    if torch.cuda.is_available():
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
