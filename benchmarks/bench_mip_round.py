"""Wall time of one live MIP round from a fresh cache: the figure the training loop's speed buys.

    python benchmarks/bench_mip_round.py [--dataset digits] [--archs 20] [--per-round 3] [--jobs 2]

Runs ``bpe mip``'s live search (the library's ``mip_live``) for one round (``--rounds 1``) with
the command's defaults unless told otherwise, in a temporary cache, so every training of the
round, the reference trainings of a ``reference`` truth included, is timed.  With the defaults it
is the Quickstart's MIP (``--dataset digits --truth reference --archs 20 --per-round 3 --jobs 2``)
cut to its first round; ``--dataset cifar10 --truth nb201`` runs it on CIFAR-10 against the
NAS-Bench-201 table.  Run it from two checkouts (before and after a change to the loop) to compare:
``PYTHONPATH=<checkout> python benchmarks/bench_mip_round.py``.  Prints the wall time, the
number of settings and trainings, and each setting's rho (the results must agree within noise).
"""

from __future__ import annotations

import argparse
import inspect
import os
import tempfile
import time
from pathlib import Path

import bpe
from bpe.cache import EvalCache
from bpe.data import DatasetSpec
from bpe.mip.job import mip_live
from bpe.mip.knobs import load_knobs
from bpe.mip.search import MIPSettings
from bpe.parallel import Runner

try:  # an older checkout (the "before" of a comparison) may predate the machine line
    from bpe.machine import machine_line
except ImportError:  # pragma: no cover - only for old checkouts
    def machine_line() -> str:
        import platform

        import torch

        return (f"machine: {platform.processor() or platform.machine()}; {os.cpu_count()} cores; torch "
                f"{torch.__version__} (CPU kernels: {torch.backends.cpu.get_cpu_capability()}); bpe.machine absent")


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=("digits", "cifar10"))
    parser.add_argument("--truth", default="reference", help="reference, or nb201 (the NAS-Bench-201 table)")
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds-per-arch", type=float, default=None,
                        help="skip settings predicted above this cost (as bpe mip's option)")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    try:  # what this checkout chose for this machine (later checkouts probe it; none chooses bf16 unasked)
        from bpe.runtime import cpu_layout, layout_name

        print(f"CPU layout: {layout_name(cpu_layout())} (probed); precision: each setting's own knob", flush=True)
    except ImportError:  # pragma: no cover - only for old checkouts
        print("CPU layout: this checkout's fixed rule (no probe); precision: each setting's own knob", flush=True)
    data = reference_data_dir()
    dataset = DatasetSpec("cifar10", str(data / "cifar10")) if args.dataset == "cifar10" else DatasetSpec("digits")
    truth = str(data / "nb201" / "nb201_groundtruth.csv") if args.truth == "nb201" else args.truth
    preset = "digits" if args.dataset == "digits" else "cpu"
    knobs = load_knobs(preset, preset=preset)
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(jobs=args.jobs, cache=EvalCache(Path(tmp) / "cache"), progress=False)
        # the same work in every checkout: the round alone (no families, confirmation or halving,
        # which later checkouts add after the rounds)
        extra = {}
        if "families" in inspect.signature(mip_live).parameters:
            from bpe.mip.families import FamilySettings

            extra = {"families": FamilySettings(scorers=(), confirm_fraction=0.0, learned=False), "halving": None}
        start = time.perf_counter()
        doc, _ = mip_live(knobs=knobs, dataset=dataset, truth_spec=truth, metric=None, n_archs=args.archs,
                          arch_seed=0, settings=MIPSettings(per_round=args.per_round, rounds=1, seed=args.seed,
                                               max_cost=args.max_seconds_per_arch,
                                               skip_over_cap=args.max_seconds_per_arch is not None),
                          runner=runner, out=Path(tmp) / "bpe.json", plot=False, **extra)
        wall = time.perf_counter() - start
        trainings = sum(1 for _ in (Path(tmp) / "cache").rglob("*.json")) - sum(
            1 for _ in (Path(tmp) / "cache").rglob("fingerprint.json"))
    doc = getattr(doc, "document", doc)  # a MIPReport (a dict before the job returned one)
    results = doc["trajectory"]  # every setting measured, in order
    print(f"bpe {Path(bpe.__file__).parent}: one MIP round on {args.dataset} ({args.truth} truth), {args.archs} archs, "
          f"{len(results)} settings, {trainings} trainings, {args.jobs} jobs: {wall:.1f} s wall")
    for r in results:
        print(f"  {r['name']}: rho {r['spearman']:.3f}, {r['cost_per_arch']:.2f} s/arch")


if __name__ == "__main__":
    main()
