"""Throughput of the training-free scorers on this machine: archs scored per second and peak
memory, on NB201 networks at the benchmark size (C=16, N=5, 32 px), each scorer at its own
reference batch size.  Each scorer runs in a fresh process so its peak memory is its own.

    python benchmarks/bench_scorers.py [--archs 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bpe.machine import machine_line

SCORERS = ["naswot", "synflow", "snip", "grad_norm", "jacob_cov", "epe_nas", "fisher", "grasp", "params", "flops"]


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def one(name: str, archs: int, device: str, data_dir: str) -> dict:
    import torch

    from bpe.data import DatasetSpec, prepare_split
    from bpe.estimators import create_estimator
    from bpe.spaces import nb201

    spec = DatasetSpec("cifar10", data_dir) if Path(data_dir).is_dir() else DatasetSpec("digits")
    prepare_split(spec, 1.0)
    est = create_estimator(name, dataset=spec, device=device)
    sample = nb201.sample(archs + 1, 0)
    est.evaluate(sample[0])  # warm-up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for arch in sample[1:]:
        est.evaluate(arch)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"scorer": name, "batch": est._batch_size(), "archs_per_s": archs / seconds,
            "s_per_arch": seconds / archs, "peak_rss_mib": peak / 1024, "rss_growth_mib": (peak - base) / 1024,
            "threads": torch.get_num_threads(), "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scorers", default=",".join(SCORERS))
    default = reference_data_dir() / "cifar10"
    parser.add_argument("--data-dir", default=str(default))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    if args.one:
        print(json.dumps(one(args.one, args.archs, args.device, args.data_dir)))
        return
    print("| scorer | batch | archs/s | s/arch | peak RSS MiB | device, threads |")
    print("|---|---|---|---|---|---|")
    for name in args.scorers.split(","):
        proc = subprocess.run([sys.executable, __file__, "--one", name, "--archs", str(args.archs),
                               "--device", args.device, "--data-dir", args.data_dir],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {r['scorer']} | {r['batch']} | {r['archs_per_s']:.2f} | {r['s_per_arch']:.3f} | "
              f"{r['peak_rss_mib']:.0f} | {r['device']}, {r['threads']} |")


if __name__ == "__main__":
    main()
