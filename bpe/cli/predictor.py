"""``bpe predictor fit|evaluate``: the pairwise-ranking (ReNAS-style) predictor and the
graph-feature (GRAF-style) one, optionally with scorers' values as features (library:
:mod:`bpe.predictors`)."""

from __future__ import annotations

import argparse

from bpe.cli.common import add_data_args, add_run_args, dataset_from_args, nonneg, positive, runner_from_args
from bpe.errors import BPEError


def register(sub, parents) -> None:
    p = sub.add_parser("predictor", parents=parents,
                       help="train and evaluate a ranking predictor (ReNAS-style network or GRAF-style trees)")
    commands = p.add_subparsers(dest="predictor_command", required=True)
    for name, helptext in (("fit", "train on N seeded archs and save the predictor (use it as --estimator PATH.pt or .json)"),
                           ("evaluate", "train on N seeded archs, report Kendall/Spearman on the remaining archs")):
        c = commands.add_parser(name, parents=parents, help=helptext)
        add_data_args(c)
        c.add_argument("--truth", default=None, help="PATH.csv or nb201:PATH.pth: targets from a table (with --metric)")
        c.add_argument("--metric", default="v11_cifar10valid_valid")
        c.add_argument("--targets", default=None,
                       help="fit only: your own targets, a `bpe evaluate` results JSON (its scores) or a `bpe score` "
                            "CSV (with --column)")
        c.add_argument("--column", default=None, help="score column of a --targets CSV")
        c.add_argument("--train-size", type=int, default=156, help="training archs (default: 156, 1%% of NB201)")
        c.add_argument("--seed", type=nonneg, default=0)
        c.add_argument("--model", default="renas", choices=["renas", "graf"],
                       help="renas: pairwise-ranking network (default); graf: extra-trees on the cell's graph features "
                            "(and --scorers' values)")
        c.add_argument("--scorers", default="",
                       help="graf only: registered scorers whose values are features too, comma-separated (e.g. "
                            "meco,az_expressivity,naswot); scored on --dataset (pass the one the truth was "
                            "measured on, e.g. cifar10 for NB201), through the cache")
        if name == "evaluate":
            c.add_argument("--test-size", type=positive, default=None,
                           help="rank only the first N held-out archs of the seeded order (default: all; with "
                                "--scorers every one is scored)")
        add_run_args(c)
        c.add_argument("--loss", default="pairwise", choices=["pairwise", "mse"], help="renas only")
        c.add_argument("--epochs", type=positive, default=300, help="maximum epochs, >= 1 (default: 300)")
        c.add_argument("--out", required=True,
                       help="predictor file NAME.pt (fit) or results NAME.json (evaluate), or a folder/")
        c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bpe.predictors import fit_job, holdout_job, predictor_targets

    archs, targets = predictor_targets(space=args.space, truth_spec=args.truth, metric=args.metric,
                                       targets_path=args.targets, column=args.column)
    scorers = [s for s in args.scorers.split(",") if s.strip() and s.strip() != "none"]
    if not scorers and (args.jobs != 1 or args.backend != "loky" or args.scheduler):
        raise BPEError("--jobs, --backend and --scheduler score --scorers' values; without --scorers there is "
                       "nothing to run in parallel: drop them")
    features = {"scorers": scorers, "dataset": dataset_from_args(args), "device": args.device,
                "runner": runner_from_args(args) if scorers and args.model == "graf" else None}
    if args.predictor_command == "fit":
        predictor, out = fit_job(archs, targets, train_size=args.train_size, seed=args.seed, loss=args.loss,
                                 epochs=args.epochs, out=args.out, space=args.space, model=args.model, **features)
        print(f"trained a {predictor.describe() if args.model == 'graf' else args.loss + ' predictor'} on "
              f"{args.train_size} archs; wrote {out}")
        print(f"use it with: bpe search --estimator {out} ...  or  bpe evaluate --estimator {out} ...")
        return 0
    result, out = holdout_job(archs, targets, train_size=args.train_size, seed=args.seed, loss=args.loss,
                              epochs=args.epochs, out=args.out, space=args.space, model=args.model,
                              test_size=args.test_size, **features,
                              provenance={"metric": args.metric, "truth": args.truth, "space": args.space})
    print(f"{args.model if args.model == 'graf' else args.loss} predictor, {result.train_size} training archs "
          f"(seed {args.seed}): "
          f"kendall {result.kendall:.4f}, spearman {result.spearman:.4f} on {result.n_test} remaining archs; "
          f"fit {result.fit_seconds:.1f} s, scoring them {result.predict_seconds:.2f} s"
          + (f" (+ {result.scoring_seconds:.1f} s for {', '.join(result.scorers)})" if result.scorers else ""))
    print(f"wrote {out}")
    return 0
