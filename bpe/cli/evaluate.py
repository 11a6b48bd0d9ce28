"""``bpe evaluate``: score a seeded sample of archs and correlate with a ground truth
(library: :func:`bpe.evaluate.evaluate_job`)."""

from __future__ import annotations

import argparse
import sys

from bpe.cli.common import add_data_args, add_run_args, add_seed_arg, dataset_from_args, nonneg, runner_from_args
from bpe.errors import BPEError

#: Estimated reference training above which a non-interactive run needs --yes.
CONFIRM_SECONDS = 600.0


def register(sub, parents) -> None:
    p = sub.add_parser(
        "evaluate", parents=parents,
        help="score a seeded sample of archs and correlate with a ground truth",
        description="Score N seeded archs with an estimator and report Spearman/Kendall against a ground truth.",
    )
    p.add_argument("--estimator", required=True,
                   help="BPEConfig JSON file (or a bpe.json from `bpe mip`), preset (bpe, bpe-1, bpe-2), 'oracle', "
                        "or a registered estimator name")
    add_data_args(p)
    add_truth_args(p)
    p.add_argument("--archs", default="20",
                   help="number of archs (default: 20), 'all', or a file of archs (one per line, # comments, or a "
                        "CSV with an arch/arch_str/net_str/index column)")
    add_seed_arg(p)
    add_run_args(p)
    p.add_argument("--out", default="results/evaluate.json",
                   help="NAME.json (or .csv/.png: the same stem), or a folder/; writes NAME.json, NAME.csv and "
                        "NAME.png (default: results/evaluate.json)")
    p.add_argument("--no-plot", action="store_true", help="no PNG (a PNG of an earlier run is removed)")
    p.add_argument("--noise-archs", type=nonneg, default=5,
                   help="a trained estimator's first K archs are trained again with the next seed to measure its "
                        "seed-to-seed noise, reported beside rho (default: 5; 0 skips)")
    p.set_defaults(func=run)


def add_truth_args(p: argparse.ArgumentParser) -> None:
    """``--truth``, ``--metric``, ``--reference-config``, ``--allow-mismatch``, ``--yes``."""
    p.add_argument("--truth", default="reference",
                   help="PATH.csv (a benchmark table), nb201:PATH.pth (official file) or 'reference' (archs "
                        "trained here under a larger budget; default; its cost is shown before it starts)")
    p.add_argument("--metric", default=None, help="truth column/metric (default: the source's default)")
    p.add_argument("--reference-config", default=None,
                   help="BPEConfig JSON for --truth reference (default: a per-dataset reference budget)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="compare with a truth measured on another dataset than --dataset")
    p.add_argument("--yes", action="store_true",
                   help=f"start a reference training estimated above {CONFIRM_SECONDS / 60:.0f} minutes without asking")


def confirm_reference(args: argparse.Namespace):
    """The ``confirm(plan)`` callback: print the reference training plan; above
    :data:`CONFIRM_SECONDS` ask on a terminal, or require ``--yes``."""

    def confirm(plan) -> None:  # a bpe.truth.reference.TrainingPlan
        cfg = plan.config
        minutes = plan.seconds / 60
        print(f"reference truth: training {plan.n_to_train} of {plan.n_archs} archs ({cfg.epochs} epochs, "
              f"C{cfg.channels} L{cfg.layers}, {cfg.image_size}px, data {cfg.data_fraction}), "
              f"estimated {minutes:.1f} CPU-minutes ({plan.seconds_per_arch:.2g} s/arch) before --jobs; timed here: "
              f"{plan.assumed.describe()}")
        if plan.seconds <= CONFIRM_SECONDS or args.yes:
            return
        if not sys.stdin.isatty():
            raise BPEError(f"the reference training is estimated at {minutes:.0f} minutes; pass --yes to start it, "
                           "or give a benchmark table with --truth PATH.csv")
        if input("start it? [y/N] ").strip().lower() not in ("y", "yes"):
            raise BPEError("reference training not started")

    return confirm


def run(args: argparse.Namespace) -> int:
    from bpe.config import load_config
    from bpe.evaluate import evaluate_job

    runner = runner_from_args(args)
    result, paths = evaluate_job(
        args.estimator, dataset=dataset_from_args(args), truth_spec=args.truth, metric=args.metric,
        archs=args.archs, seed=args.seed, runner=runner, out=args.out, plot=not args.no_plot, space=args.space,
        device=args.device, reference_config=load_config(args.reference_config) if args.reference_config else None,
        allow_mismatch=args.allow_mismatch, confirm=confirm_reference(args), noise_archs=args.noise_archs)
    print(f"estimator: {result.estimator_description}")
    print(f"dataset {result.dataset or 'n/a (not read)'}, truth {result.truth_source} ({result.metric}); "
          f"{result.n_sampled} archs, seed {args.seed}, {args.jobs} job(s)")
    ranking = result.ranking
    lo, hi = ranking.spearman_ci95
    print(f"spearman {ranking.spearman:.4f} [95% CI {lo:.3f}, {hi:.3f}]  kendall {ranking.kendall:.4f}  "
          f"n={ranking.n_archs}  failed={result.n_failed}  {result.seconds_per_arch:.2f} s/arch  "
          f"(wall {result.wall_seconds:.1f} s)")
    recost = result.recost
    if recost is not None:
        print(f"cost: recorded {recost.recorded_seconds_per_arch:.3g} s/arch on {recost.recorded_cpu}; "
              f"estimated here {recost.estimated_here_seconds_per_arch:.3g} s/arch on {recost.this_cpu} (timed steps); "
              f"measured here {result.seconds_per_arch:.3g} s/arch")
        if recost.warning:
            print(f"warning: {recost.warning}")
    noise = result.seed_noise
    if noise is not None:
        print(f"seed noise: on {noise.n_archs} archs trained with seeds {list(noise.seeds)}, scores differ by "
              f"{noise.mean_abs_diff:.3g} on average; the scores' spread over all archs is {noise.score_std:.3g} "
              f"(noise/spread {noise.noise_to_spread:.2f}; near 1 or above, the ranking is mostly noise)")
    for label, text in (("warning", ranking.warning), ("note", result.note)):
        if text:
            print(f"{label}: {text}")
    if result.truth_seconds_per_arch and not result.note:
        ratio = result.truth_seconds_per_arch / max(result.seconds_per_arch, 1e-9)
        print(f"the ground truth cost {result.truth_seconds_per_arch:.2f} s/arch: the estimator is {ratio:.1f}x cheaper")
    print("wrote " + ", ".join(map(str, paths)))
    return 0
