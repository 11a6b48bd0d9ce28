"""``bpe score``: score archs with one or more estimators into a CSV (library:
:func:`bpe.scoring.score_job`)."""

from __future__ import annotations

import argparse

from bpe.cli.common import (
    add_data_args,
    add_run_args,
    add_seed_arg,
    dataset_from_args,
    nonneg,
    positive,
    runner_from_args,
)


def register(sub, parents) -> None:
    p = sub.add_parser(
        "score", parents=parents,
        help="score many archs with one or more estimators (training-free scorers, BPE configs)",
        description="Score N seeded archs (or all) and write a CSV: an 'arch' column and one column per estimator "
                    "(a config file's column is its stem).",
    )
    p.add_argument("--estimator", required=True,
                   help="comma-separated names (naswot,synflow,...), presets or BPEConfig JSON files; "
                        "vote:NAME,NAME,... (last) or vote:NAME+NAME is the rank-average of those scorers")
    add_data_args(p, holdout=True)
    p.add_argument("--archs", default="100",
                   help="number of archs (default: 100), 'all', or a file of archs (one per line, # comments, or a "
                        "CSV with an arch/arch_str/net_str/index column)")
    add_seed_arg(p)
    p.add_argument("--batch-size", type=positive, default=None, help="scorer mini-batch (default: the method's own)")
    p.add_argument("--repeats", type=positive, default=None, help="mini-batches averaged per arch (default: 1)")
    p.add_argument("--init-seed", type=nonneg, default=None, help="seed of weight init and batch choice (default: 0)")
    p.add_argument("--channels", type=positive, default=None,
                   help="scored network's channels (default: the space's fully trained network; NB201 16, DARTS 36)")
    p.add_argument("--layers", type=positive, default=None,
                   help="scored network's layers (default: the space's fully trained network; NB201 17, DARTS 20)")
    p.add_argument("--cells-per-stage", type=positive, default=None,
                   help="NB201's shorthand for --layers 3N+2 (default: 5)")
    p.add_argument("--image-size", type=positive, default=None, help="scored input size in pixels (default: 32)")
    p.add_argument("--truth", default=None, help="needed only for --estimator oracle")
    add_run_args(p)
    p.add_argument("--out", default="results/scores.csv",
                   help="NAME.csv (or .json, .png: the same stem), or a folder/; writes NAME.csv, its NAME.json "
                        "sidecar and NAME.png (how the estimators agree)")
    p.add_argument("--no-plot", action="store_true", help="no PNG (a PNG of an earlier run is removed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bpe.scoring import SECONDS_SUFFIX, score_job

    options = {"batch_size": args.batch_size, "repeats": args.repeats, "seed": args.init_seed,
               "channels": args.channels, "layers": args.layers, "cells_per_stage": args.cells_per_stage,
               "image_size": args.image_size}
    frame, paths, estimators, labels = score_job(
        args.estimator, dataset=dataset_from_args(args), archs=args.archs,
        seed=args.seed, runner=runner_from_args(args), out=args.out, space=args.space, device=args.device,
        truth_spec=args.truth, options=options, plot=not args.no_plot)
    print(f"scored {len(frame)} archs of {args.space} on {args.dataset} with "
          + ", ".join(f"{label} = {est.describe()}" for est, label in zip(estimators, labels)))
    for label in labels:
        print(f"{label}: {frame[label + SECONDS_SUFFIX].mean():.3f} s/arch, {int(frame[label].isna().sum())} failed")
    print("wrote " + ", ".join(map(str, paths)))
    return 0
