"""The search half of the BPE paper's DARTS-space experiment, on this CPU: REA over the whole
DARTS space with BPE-1 as the estimator; writes the found cell, and times the DARTS final-training
protocol on it, so that a user with a GPU finishes the experiment with one command.

    python experiments/darts_search_half.py [--budget 12] [--population 5] [--seed 0]

The estimator is ``experiments/configs/darts_bpe1_df0.1.json``: the paper's BPE-1 (10 epochs,
batch 128, lr 0.03, 6 layers, 8 channels, 16 px, fp32) under its recipe (auxiliary head 0.4,
drop-path 0.2, weight decay 3e-4) on 10% of our 25k/25k CIFAR-10 split (for CPU time; on the
paper's own 30 cells this proxy ranks at rho 0.50 against full training, see the README).  Every
training goes through the cache, so a rerun resumes.

The final protocol is ``experiments/configs/darts_final_600ep.json`` (DARTS: 600 epochs, batch 96,
lr 0.025 cosine, weight decay 3e-4, 36 channels, 20 layers, cutout 16, auxiliary 0.4, drop-path
0.2, gradient clipping 5), trained on all 50k train images and reported on the 10k test set
(``--holdout test``).  Its cost here is measured on ``--timing-steps`` real steps of the found cell
(after a warm-up step) and extrapolated (steps per epoch x epochs).  Writes ``found_cell.txt``, ``search.json`` and
``summary.json`` to ``--out-dir`` and prints the command that finishes the experiment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.config import load_config
from bpe.data import DatasetSpec, prepare_split
from bpe.errors import BPEError
from bpe.outputs import atomic_write_text, json_text, run_provenance
from bpe.parallel import Runner
from bpe.spaces import get_space
from bpe.spaces.darts.model import count_parameters
from bpe.training import steps_per_epoch, train_and_evaluate
from search_algos.jobs import search_job

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent
CIFAR10_TRAIN = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", default=str(HERE / "configs" / "darts_bpe1_df0.1.json"))
    parser.add_argument("--final", default=str(HERE / "configs" / "darts_final_600ep.json"))
    parser.add_argument("--algo", default="rea")
    parser.add_argument("--budget", default="12", help="evaluations (or Ns CPU seconds)")
    parser.add_argument("--population", type=int, default=5, help="REA population (tournament 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing-steps", type=int, default=4)
    parser.add_argument("--out-dir", default="results/darts_search_half")
    args = parser.parse_args()
    out = Path(args.out_dir)
    data_dir = reference_data_dir() / "cifar10"
    dataset = DatasetSpec("cifar10", str(data_dir))
    final = load_config(args.final)
    space = get_space("darts")
    space.check_config(final)

    result, _ = search_job(algos=[args.algo], estimator_spec=args.estimator, dataset=dataset, truth_spec=None,
                           metric="accuracy", budget_spec=args.budget, runs=1, seed=args.seed, space="darts",
                           runner=Runner(jobs=1, cache=EvalCache(default_cache_dir()), progress=True),
                           out=out / "search.json", device="cpu", on_start=print, keep_evaluated=True,
                           option_items=[f"rea.population={args.population}"] if args.algo == "rea" else [])
    run = result.to_dict()["runs"][0]
    cell = run["arch"]
    if cell is None:
        raise BPEError("the search found no cell (every evaluation failed); see search.json")
    atomic_write_text(out / "found_cell.txt", f"# {args.algo} + {Path(args.estimator).name}, seed {args.seed}, "
                                               f"{run['n_evaluations']} evaluations\n{cell}\n")
    params = count_parameters(space.build(space.parse(cell), num_classes=10,
                                          **space.net_size(channels=final.channels, layers=final.layers)))

    # time real steps of the final protocol on the found cell (one thread, like every evaluation),
    # after a one-step run that warms up the allocator and kernels
    batch = final.batch_size

    def probe(n_steps: int):
        fraction = min(1.0, (n_steps + 0.5) * batch / (CIFAR10_TRAIN / 2))  # of the 25k search split
        data = prepare_split(dataset, fraction)
        run = train_and_evaluate(cell, final.replace(epochs=1, data_fraction=fraction), data, space="darts",
                                 device="cpu", num_threads=1)
        return run, data

    probe(1)
    timed, data = probe(args.timing_steps)
    if timed.status != "ok":
        raise BPEError(f"the timing run failed: {timed.error}")
    steps = steps_per_epoch(len(data.train_y), batch)
    step_s = (timed.seconds - timed.eval_seconds) / steps
    final_steps = steps_per_epoch(CIFAR10_TRAIN, batch) * final.epochs
    final_cpu_s = step_s * final_steps
    command = (f"bpe score --space darts --archs {out / 'found_cell.txt'} --estimator {args.final} --dataset cifar10 "
               f"--data-dir DIR --holdout test --device auto --out {out / 'final.csv'}")
    summary = {"cell": cell, "search": {"algorithm": args.algo, "estimator": args.estimator, "budget": args.budget,
                                        "seed": args.seed, "evaluations": run["n_evaluations"],
                                        "cpu_seconds": run["spent"]["seconds"], "proxy_score": run["score"]},
               "params_millions_at_final_size": params / 1e6,
               "final_protocol": final.to_dict(),
               "timing": {"steps": steps, "batch": batch, "seconds_per_step": step_s, "threads": 1,
                          "final_steps": final_steps, "final_cpu_seconds": final_cpu_s},
               "finish_with": command, "provenance": run_provenance()}
    atomic_write_text(out / "summary.json", json_text(summary))
    print(f"found cell ({run['n_evaluations']} evaluations, {run['spent']['seconds']:.0f} CPU s, "
          f"proxy accuracy {run['score']:.2f}):\n  {cell}")
    print(f"at the final size ({final.channels} channels, {final.layers} layers): {params / 1e6:.3f} M parameters")
    print(f"final protocol on this CPU: {step_s:.2f} s per step of {batch} (one thread, {steps} steps timed) x "
          f"{final_steps:,} steps ({final.epochs} epochs x {steps_per_epoch(CIFAR10_TRAIN, batch)}) = "
          f"{final_cpu_s / 86400:.1f} CPU-days")
    print(f"finish on a GPU with:\n  {command}\n(its 'score' column is the test accuracy; error = 100 - score)")
    print(f"wrote {out / 'found_cell.txt'}, {out / 'search.json'}, {out / 'summary.json'}")


if __name__ == "__main__":
    try:
        main()
    except BPEError as err:
        raise SystemExit(f"darts_search_half: error: {err}") from None
