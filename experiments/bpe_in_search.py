"""The found estimator inside real searches on NAS-Bench-201: random search, REA and REINFORCE
with the MIP-found ``bpe.json`` against the same algorithms with the oracle, at the same number
of evaluations, and the speed-up against full training measured on this machine.

    python experiments/bpe_in_search.py --bpe experiments/mip/nb201_cpu60.json --budget 25 --runs 3 --jobs 2

Three parts, all through the evaluation cache (a rerun, or an arch another run already trained,
costs nothing; a cached evaluation is still charged its recorded seconds):

1. every algorithm, ``--runs`` seeds, ``--budget`` evaluations, the found setting trained for
   real on ``$BPE_DATA_DIR/cifar10``; each run keeps the archs it evaluated and what each cost;
2. the same algorithms, seeds and number of evaluations with the oracle (the table's 200-epoch
   ``v11_cifar10valid_valid``), and again over ``--oracle-runs`` seeds for a steadier mean; and
   with the best training-free scorer (``--scorer``, MeCo), the comparison every table carries;
3. full training on this machine: ``--timing-archs`` archs spanning the space's MACs (smallest,
   middle, largest of a seeded sample) trained ``--timing-epochs`` epochs under the NAS-Bench-201
   protocol (``experiments/configs/nb201_full_protocol.json``: C=16, N=5, 32 px, the 25k train
   split, batch 256), one thread each like every search evaluation.  The full-training cost of an
   evaluation is 200 epochs at the timed archs' mean seconds per epoch plus one validation pass
   (the range uses their fastest and slowest epoch); a run's is that times the archs it evaluated.
   Speed-up = full-training cost of a run's evaluations / CPU seconds the run actually spent.

Prints the table (found arch's NB201 accuracies, mean ± std over seeds; the oracle rows; the
published rows; CPU cost, full-training cost, speed-up and drop) and the arithmetic; writes
``summary.json``, ``table.md`` and ``search_cost.png`` to ``--out-dir`` beside each part's JSON.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from bpe.cache import EvalCache, default_cache_dir
from bpe.config import load_config
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.estimators.proxy import ProxyTrainingEstimator
from bpe.flops import count_macs
from bpe.outputs import atomic_write_text, json_text, run_provenance
from bpe.parallel import Runner
from bpe.plotting import new_figure, save_figure
from bpe.spaces import get_space
from search_algos.jobs import search_job
from search_algos.orchestrate import ACCURACY_KEYS
from search_algos.runs import PUBLISHED

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent
FULL_EPOCHS = 200
NAMES = {"random": "random search", "rea": "REA", "reinforce": "REINFORCE"}


def macs_of(space: Any, arch: str, config: Any) -> int:
    """MACs of one forward pass of ``arch`` built at ``config``'s size, one image."""
    net = space.build(space.parse(arch), num_classes=10, **space.net_size(channels=config.channels,
                                                                        layers=config.layers))
    return count_macs(net, (1, 3, config.image_size, config.image_size))


def timing_archs(space: Any, n: int, seed: int, config: Any, sample: int = 60) -> list[str]:
    """``n`` archs spanning the MACs of a seeded sample: its smallest, largest and evenly between."""
    archs = [str(a) for a in space.sample(sample, seed)]
    macs = np.array([macs_of(space, a, config) for a in archs])
    order = np.argsort(macs, kind="stable")
    picks = sorted({int(round(q * (len(archs) - 1))) for q in np.linspace(0.0, 1.0, n)})
    return [archs[order[i]] for i in picks]


def full_training_model(records: list[Any], macs: list[int], epochs: int) -> dict[str, Any]:
    """Seconds per training epoch of the timed archs (their mean, min and max) and their mean
    validation pass, with the measured rows for the table."""
    rows = []
    for rec, m in zip(records, macs):
        if not rec.ok:
            raise BPEError(f"a full-protocol timing run failed ({rec.error}); fix it before extrapolating")
        eval_s = float(rec.info["eval_seconds"])
        rows.append({"arch": rec.arch, "macs": int(m), "seconds": rec.cost.seconds, "eval_seconds": eval_s,
                     "epoch_seconds": (rec.cost.seconds - eval_s) / epochs, "params": rec.info["num_params"],
                     "threads": rec.info["threads"], "valid_accuracy": rec.score})
    epoch = [r["epoch_seconds"] for r in rows]
    return {"epoch_seconds": float(np.mean(epoch)), "epoch_seconds_min": float(min(epoch)),
            "epoch_seconds_max": float(max(epoch)), "eval_seconds": float(np.mean([r["eval_seconds"] for r in rows])),
            "measured": rows}


def full_seconds(model: dict[str, Any], which: str = "epoch_seconds") -> float:
    """Full-training CPU seconds of one arch: ``FULL_EPOCHS`` epochs (the timed archs' mean, or
    ``which`` = ``epoch_seconds_min``/``_max``) plus one validation pass."""
    return FULL_EPOCHS * model[which] + model["eval_seconds"]


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(statistics.fmean(values)), float(statistics.pstdev(values)) if len(values) > 1 else 0.0


def accuracy_cells(runs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    return {k: mean_std([r["true_accuracy"][k] for r in runs]) for k in ACCURACY_KEYS}


def fmt(cell: tuple[float, float]) -> str:
    return f"{cell[0]:.2f} ± {cell[1]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bpe", default="experiments/mip/nb201_cpu60.json", help="the found setting (bpe.json)")
    parser.add_argument("--algos", default="random,rea,reinforce")
    parser.add_argument("--budget", type=int, default=25, help="evaluations per run (every algorithm)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--oracle-runs", type=int, default=100)
    parser.add_argument("--scorer", default="meco", help="the best training-free scorer on NB201, searched alike")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-config", default=str(HERE / "configs" / "nb201_full_protocol.json"))
    parser.add_argument("--timing-archs", type=int, default=3)
    parser.add_argument("--timing-epochs", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out-dir", default="results/bpe_in_search")
    args = parser.parse_args()
    data = reference_data_dir()
    out = Path(args.out_dir)
    algos = [a for a in args.algos.split(",") if a]
    dataset = DatasetSpec("cifar10", str(data / "cifar10"))
    truth_path = str(data / "nb201" / "nb201_groundtruth.csv")
    full_config = load_config(args.full_config)
    timing_config = full_config.replace(epochs=args.timing_epochs)
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=True)
    common = dict(algos=algos, dataset=dataset, truth_spec=truth_path, metric="v11_cifar10valid_valid",
                  budget_spec=str(args.budget), seed=args.seed, runner=runner, device="cpu", on_start=print)

    print("## 1. searches with the found setting", flush=True)
    found = search_job(estimator_spec=args.bpe, runs=args.runs, out=out / "search-bpe.json",
                       keep_evaluated=True, **common)[0].to_dict()
    print("## 2. the same searches with the oracle", flush=True)
    oracle = search_job(estimator_spec="oracle", runs=args.runs, out=out / "search-oracle.json", **common)[0].to_dict()
    oracle_many = search_job(estimator_spec="oracle", runs=args.oracle_runs,
                             out=out / f"search-oracle-{args.oracle_runs}.json", **common)[0].to_dict()

    print(f"## 2b. the same searches with the best training-free scorer ({args.scorer})", flush=True)
    scored = search_job(estimator_spec=args.scorer, runs=args.runs, out=out / f"search-{args.scorer}.json",
                        **common)[0].to_dict()

    print("## 3. full training on this machine", flush=True)
    space = get_space("nb201")
    picked = timing_archs(space, args.timing_archs, args.seed, full_config)
    estimator = ProxyTrainingEstimator(timing_config, dataset, space="nb201", device="cpu")
    records = runner.run(estimator, picked, desc=f"NB201 protocol, {args.timing_epochs} epochs")
    model = full_training_model(records, [macs_of(space, a, full_config) for a in picked], args.timing_epochs)
    rows = []
    for algo in algos:
        bpe_runs = [r for r in found["runs"] if r["algorithm"] == algo]
        ora_runs = [r for r in oracle["runs"] if r["algorithm"] == algo]
        many_runs = [r for r in oracle_many["runs"] if r["algorithm"] == algo]
        scorer_runs = [r for r in scored["runs"] if r["algorithm"] == algo]
        spent = [r["spent"]["seconds"] for r in bpe_runs]
        evaluated = [len(r["evaluated"]) for r in bpe_runs]
        full = [n * full_seconds(model) for n in evaluated]
        speedups = [f / s for f, s in zip(full, spent)]
        low = [n * full_seconds(model, "epoch_seconds_min") / s for n, s in zip(evaluated, spent)]
        high = [n * full_seconds(model, "epoch_seconds_max") / s for n, s in zip(evaluated, spent)]
        acc, acc_oracle, acc_many = accuracy_cells(bpe_runs), accuracy_cells(ora_runs), accuracy_cells(many_runs)
        rows.append({
            "algorithm": algo, "bpe": acc, "oracle_same_seeds": acc_oracle, f"oracle_{args.oracle_runs}": acc_many,
            "published": PUBLISHED.get(algo), "scorer": accuracy_cells(scorer_runs),
            "scorer_cpu_seconds": mean_std([r["spent"]["seconds"] for r in scorer_runs]),
            "evaluations": mean_std([r["n_evaluations"] for r in bpe_runs]),
            "cpu_seconds": mean_std(spent), "full_training_seconds": mean_std(full),
            "speedup": mean_std(speedups), "speedup_range": [float(np.mean(low)), float(np.mean(high))],
            "drop_vs_oracle_same_seeds": acc_oracle["cifar10_test"][0] - acc["cifar10_test"][0],
            f"drop_vs_oracle_{args.oracle_runs}": acc_many["cifar10_test"][0] - acc["cifar10_test"][0],
            "runs": [{"seed": r["seed"], "arch": r["arch"], "cifar10_test": r["true_accuracy"]["cifar10_test"],
                      "cpu_seconds": s, "full_training_seconds": f, "evaluations": r["n_evaluations"]}
                     for r, s, f in zip(bpe_runs, spent, full)],
        })

    table = render_table(rows, args)
    print(table)
    print("\nfull training on this machine (NB201 protocol, one thread, timed for "
          f"{args.timing_epochs} epochs):")
    for m in model["measured"]:
        print(f"  {m['arch']}  {m['macs'] / 1e6:.1f} M MACs: {m['epoch_seconds']:.0f} s/epoch, validation pass "
              f"{m['eval_seconds']:.0f} s")
    per_eval = full_seconds(model)
    print(f"  one full training = {FULL_EPOCHS} x {model['epoch_seconds']:.0f} s + {model['eval_seconds']:.0f} s = "
          f"{per_eval:,.0f} s ({per_eval / 3600:.1f} CPU-hours; {FULL_EPOCHS} x {model['epoch_seconds_min']:.0f}-"
          f"{model['epoch_seconds_max']:.0f} s for the fastest and slowest timed arch)")
    for row in rows:
        n = np.mean([r["evaluations"] for r in row["runs"]])
        print(f"  {row['algorithm']}: {n:.0f} evaluations x {per_eval:,.0f} s = {row['full_training_seconds'][0]:,.0f} s "
              f"against {row['cpu_seconds'][0]:,.0f} s spent: {row['speedup'][0]:,.0f}x")
    summary = {"bpe": args.bpe, "scorer": args.scorer, "budget_evaluations": args.budget, "runs": args.runs,
               "oracle_runs": args.oracle_runs, "full_protocol": full_config.to_dict(),
               "full_training_model": model, "full_epochs": FULL_EPOCHS, "rows": rows,
               "provenance": run_provenance()}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json", json_text(summary))
    atomic_write_text(out / "table.md", table + "\n")
    plot(rows, out / "search_cost.png", args.scorer)
    print(f"wrote {out / 'summary.json'}, {out / 'table.md'}, {out / 'search_cost.png'}")


def render_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    many = f"oracle_{args.oracle_runs}"
    lines = ["| algorithm | estimator | " + " | ".join(ACCURACY_KEYS) + " | CPU s/run | full-training CPU s/run "
             "| speed-up (range) | C10-test drop vs oracle (same seeds / all seeds) |",
             "|---|---|" + "---|" * (len(ACCURACY_KEYS) + 4)]
    for row in rows:
        name = NAMES.get(row["algorithm"], row["algorithm"])
        cpu, full, sp = row["cpu_seconds"], row["full_training_seconds"], row["speedup"]
        lines.append(f"| {name} | found BPE ({args.runs} seeds) | " + " | ".join(fmt(row["bpe"][k]) for k in ACCURACY_KEYS)
                     + f" | {cpu[0]:,.0f} | {full[0]:,.0f} | {sp[0]:,.0f}x ({row['speedup_range'][0]:,.0f}-"
                   f"{row['speedup_range'][1]:,.0f}) | "
                     f"{row['drop_vs_oracle_same_seeds']:+.2f} / {row['drop_vs_' + many]:+.2f} |")
        lines.append(f"| {name} | oracle, same seeds | " + " | ".join(fmt(row["oracle_same_seeds"][k]) for k in ACCURACY_KEYS)
                     + f" | | {full[0]:,.0f} | 1x | |")
        lines.append(f"| {name} | {args.scorer} (training-free, {args.runs} seeds) | "
                     + " | ".join(fmt(row["scorer"][k]) for k in ACCURACY_KEYS)
                     + f" | {row['scorer_cpu_seconds'][0]:,.0f} | | | |")
        lines.append(f"| {name} | oracle, {args.oracle_runs} seeds | " + " | ".join(fmt(row[many][k]) for k in ACCURACY_KEYS)
                     + " | | | | |")
        if row["published"]:
            lines.append(f"| {name} | published (12,000 s budget) | "
                         + " | ".join(fmt(row["published"][k]) for k in ACCURACY_KEYS) + " | | | | |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, scorer: str) -> Path:
    """CPU hours per run (log) against the found arch's CIFAR-10 test accuracy: each algorithm with
    the found BPE (its real cost), with the oracle (the full-training cost of the same evaluations)
    and with the training-free ``scorer`` (its real cost)."""
    fig, ax = new_figure((7.0, 4.6))
    for i, row in enumerate(rows):
        color = f"C{i}"
        name = NAMES.get(row["algorithm"], row["algorithm"])
        nudge = 1.0 + 0.08 * (i - (len(rows) - 1) / 2)  # keep equal costs apart on the log axis
        cpu, full = nudge * row["cpu_seconds"][0] / 3600, nudge * row["full_training_seconds"][0] / 3600
        b, o = row["bpe"]["cifar10_test"], row["oracle_same_seeds"]["cifar10_test"]
        ax.errorbar([cpu], [b[0]], yerr=[b[1]], fmt="o", color=color, capsize=3, label=f"{name}, found BPE")
        ax.errorbar([full], [o[0]], yerr=[o[1]], fmt="s", color=color, mfc="none", capsize=3,
                    label=f"{name}, full training (oracle)")
        m = row["scorer"]["cifar10_test"]
        ax.errorbar([nudge * max(row["scorer_cpu_seconds"][0], 1e-3) / 3600], [m[0]], yerr=[m[1]], fmt="^",
                    color=color, mfc="none", capsize=3, label=f"{name}, {scorer} (training-free)")
        ax.plot([cpu, full], [b[0], o[0]], color=color, lw=0.8, ls=":")
        ax.annotate(f"{row['speedup'][0]:,.0f}x", ((cpu * full) ** 0.5, (b[0] + o[0]) / 2 + 0.12 * i), color=color,
                    fontsize=8, ha="center", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("CPU hours per search on this machine (log)")
    ax.set_ylabel("found arch, NB201 CIFAR-10 test (%)")
    ax.set_title("Search with the found BPE vs with full training", fontsize=10)
    ax.legend(fontsize=6, loc="lower right", ncol=1)
    return save_figure(fig, path)


if __name__ == "__main__":
    try:
        main()
    except BPEError as err:
        raise SystemExit(f"bpe_in_search: error: {err}") from None
