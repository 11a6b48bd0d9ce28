"""Speed of simulated (oracle) search: the README's NB201 search table — random search, REA and
REINFORCE, 500 runs each, reward ``v11_cifar10valid_valid`` from the NB201 table, 12 x recorded
seconds per epoch charged per new arch, 12,000 simulated seconds — timed, with checksums of the
results, so a speed change can be checked not to change any result.

    python benchmarks/oracle_search_speed.py [--runs 500] [--repeat 1]

Prints the wall (and CPU) seconds of the 1,500 runs (``sample_based_experiment``, what ``bpe search``
runs; the table is loaded once before the clock starts; on a shared machine the CPU seconds are
the steadier figure) and two sha256 checksums: ``runs`` over every run's algorithm, seed, chosen
arch, best score (bit for bit) and spend, ``history`` over every ask of every run (arch, score,
status, repeat, spend after it).  With the defaults it also says whether they match the recorded
ones (``RECORDED``: the results of the code before the search loop was made faster).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

from bpe.estimators import create_estimator
from bpe.machine import machine_line
from bpe.truth.table import TableBenchmark
from search_algos.budget import parse_budget
from search_algos.orchestrate import sample_based_experiment

ALGORITHMS = ("random", "rea", "reinforce")

#: Checksums of the default run (500 runs per algorithm, seed 0, ../shared/data's NB201 table).
RECORDED = {"runs": "ab34f750e3f85422e5dbbb36ba086904415219daf0428efacd3f0df9f4a4c0c1",
            "history": "4e590b0e468ff1b9119bca41469fd5dd7eaf069ae0e6773df4a59f5e804e11ab"}


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _hex(value: float | None) -> str:
    return "None" if value is None else float(value).hex()


def checksums(all_results: dict) -> dict[str, str]:
    """sha256 of the per-run results and of the full histories (floats compared bit for bit)."""
    runs, history = hashlib.sha256(), hashlib.sha256()
    for name, results in all_results.items():
        for r in results:
            runs.update(f"{name}|{r.seed}|{r.arch}|{_hex(r.score)}|{r.spent.evaluations}|"
                        f"{_hex(r.spent.simulated_seconds)}|{r.stopped_by}\n".encode())
            for s in r.history:
                history.update(f"{s.arch}|{_hex(s.score)}|{s.status}|{s.error}|{s.repeat}|{s.evaluations}|"
                               f"{_hex(s.simulated_seconds)}\n".encode())
    return {"runs": runs.hexdigest(), "history": history.hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="runs per algorithm (default 500: the README table)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="time this many repetitions, report each")
    parser.add_argument("--truth", default=None,
                        help="NB201 table (default ../shared/data/nb201/nb201_groundtruth.csv)")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    default_truth = reference_data_dir() / "nb201" / "nb201_groundtruth.csv"
    path = Path(args.truth) if args.truth else default_truth
    start = time.perf_counter()
    truth = TableBenchmark(path)
    print(f"table loaded in {time.perf_counter() - start:.2f} s")
    budget = parse_budget("12000s-simulated")
    for _ in range(args.repeat):
        estimator = create_estimator("oracle", benchmark=truth, metric="v11_cifar10valid_valid", epochs=12)
        start, cpu = time.perf_counter(), time.process_time()
        experiment, all_results = sample_based_experiment(
            ALGORITHMS, lambda e=estimator: e, budget, runs=args.runs, seed=args.seed, truth=truth, progress=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        sums = checksums(all_results)
        n = sum(len(r) for r in all_results.values())
        print(f"{n} runs in {seconds:.2f} s ({cpu:.2f} s CPU)  "
              f"checksum runs {sums['runs'][:16]}  history {sums['history'][:16]}")
    if args.runs == 500 and args.seed == 0 and path == default_truth:
        print("same results as recorded" if sums == RECORDED else
              f"RESULTS DIFFER from the recorded ones (runs {RECORDED['runs'][:16]}, "
              f"history {RECORDED['history'][:16]})")
    for algo, s in experiment.summary.items():
        acc = s.true_accuracy
        print(f"  {algo}: cifar10_test {acc['cifar10_test']['mean']:.4f} ± {acc['cifar10_test']['std']:.4f}, "
              f"{s.mean_evaluations:.1f} evaluations/run")


if __name__ == "__main__":
    main()
