"""The ``bpe`` command line.  Each subcommand parses arguments and calls one library function;
only this module prints.  Bad input exits with code 2 and one line naming the problem."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from bpe import __version__
from bpe.errors import BPEError

__all__ = ["main", "build_parser"]

log = logging.getLogger("bpe")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from bpe.data import DATASETS

    p.add_argument("--space", default="nb201", help="search space (default: nb201)")
    p.add_argument("--dataset", default="digits", choices=DATASETS,
                   help="dataset to train/score on (default: digits, shipped with scikit-learn)")
    p.add_argument("--data-dir", default=None,
                   help="array folder (train_x.npy, ...) or torchvision root; CIFAR is downloaded when absent")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda (default: auto)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    from bpe.parallel import BACKENDS

    p.add_argument("--jobs", type=int, default=1, help="parallel workers (default: 1)")
    p.add_argument("--backend", default="loky", choices=BACKENDS,
                   help="joblib backend: loky (local processes), dask or ray (default: loky)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler or Ray address; without it a local cluster of --jobs workers is started")
    p.add_argument("--cache-dir", default=None, help="evaluation cache (default: $BPE_CACHE_DIR or ~/.cache/bpe/evals)")
    p.add_argument("--no-cache", action="store_true", help="recompute everything and store nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="bpe", description="Budgeted performance estimators for NAS.")
    parser.add_argument("--version", action="version", version=f"bpe {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser(
        "evaluate",
        help="score a seeded sample of archs and correlate with a ground truth",
        description="Score N seeded archs with an estimator and report Spearman/Kendall against a ground truth.",
    )
    ev.add_argument("--estimator", required=True,
                    help="BPEConfig JSON file, preset (bpe-1, bpe-2), 'oracle', or a registered estimator name")
    _add_data_args(ev)
    ev.add_argument("--truth", default="reference",
                    help="PATH.csv (table), nb201:PATH.pth (official file) or 'reference' (trained here; default)")
    ev.add_argument("--metric", default=None, help="truth column/metric (default: the source's default)")
    ev.add_argument("--reference-config", default=None,
                    help="BPEConfig JSON for --truth reference (default: a per-dataset reference budget)")
    ev.add_argument("--archs", default="20",
                    help="number of archs sampled without replacement (default: 20), or a file of archs "
                         "(one per line or a CSV with an 'arch' column)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the arch sample (default: 0)")
    _add_run_args(ev)
    ev.add_argument("--out", default="results/evaluate.json",
                    help="results JSON; a CSV and a PNG are written beside it (default: results/evaluate.json)")
    ev.add_argument("--no-plot", action="store_true", help="do not write the PNG scatter plot")
    ev.set_defaults(func=cmd_evaluate)

    sc = sub.add_parser(
        "score",
        help="score many archs with one or more estimators (training-free scorers, BPE configs)",
        description="Score N seeded archs (or all) and write a CSV: an 'arch' column and one column per estimator.",
    )
    sc.add_argument("--estimator", required=True,
                    help="comma-separated names (naswot,synflow,...), presets or BPEConfig JSON files")
    _add_data_args(sc)
    sc.add_argument("--archs", default="100", help="number of archs sampled without replacement, 'all', or a file of archs (one per line or a CSV with an 'arch' column)")
    sc.add_argument("--seed", type=int, default=0, help="seed of the arch sample (default: 0)")
    sc.add_argument("--batch-size", type=int, default=None, help="scorer mini-batch (default: the method's own)")
    sc.add_argument("--repeats", type=int, default=None, help="mini-batches averaged per arch (default: 1)")
    sc.add_argument("--init-seed", type=int, default=None, help="seed of weight init and batch choice (default: 0)")
    sc.add_argument("--channels", type=int, default=None, help="scored network's channels (default: 16)")
    sc.add_argument("--cells-per-stage", type=int, default=None, help="scored network's cells per stage (default: 5)")
    sc.add_argument("--image-size", type=int, default=None, help="scored input size in pixels (default: 32)")
    sc.add_argument("--truth", default=None, help="needed only for --estimator oracle")
    _add_run_args(sc)
    sc.add_argument("--out", default="results/scores.csv", help="scores CSV (a JSON sidecar is written beside it)")
    sc.set_defaults(func=cmd_score)

    co = sub.add_parser(
        "correlate",
        help="Kendall/Spearman/top-k of score tables against a ground truth, plus the cost/quality frontier plot",
    )
    co.add_argument("--scores", nargs="*", default=[], help="scores CSVs from `bpe score`")
    co.add_argument("--evaluations", nargs="*", default=[], help="results JSONs from `bpe evaluate` (BPE settings)")
    co.add_argument("--truth", required=True, help="PATH.csv or nb201:PATH.pth")
    co.add_argument("--metric", default=None, help="truth column (default: the table's default)")
    co.add_argument("--space", default="nb201")
    co.add_argument("--out", default="results/correlations.json", help="table JSON; a PNG frontier plot is written beside it")
    co.set_defaults(func=cmd_correlate)

    se = sub.add_parser(
        "search",
        help="run search algorithms with any estimator under a budget; report true accuracies",
        description="Run R seeded searches per algorithm; per run the chosen arch, its score, the budget spent, "
                    "and (with a truth table) its NB201 accuracies; a summary and a best-so-far PNG.",
    )
    se.add_argument("--algo", required=True,
                    help="comma-separated sample-based drivers (random, rea, reinforce), or one one-shot method "
                         "(darts = darts-v1, darts-v2, gdas) whose supernet trains under the --estimator BPEConfig")
    se.add_argument("--estimator", required=True,
                    help="'oracle' (truth-table lookup with simulated cost), a scorer name, a preset or a BPEConfig JSON")
    _add_data_args(se)
    se.add_argument("--truth", default=None, help="PATH.csv or nb201:PATH.pth: oracle rewards and the reported true accuracies")
    se.add_argument("--metric", default="v11_cifar10valid_valid", help="oracle reward column (default: v11_cifar10valid_valid)")
    se.add_argument("--oracle-epochs", type=int, default=12, help="epochs charged per oracle evaluation (default: 12)")
    se.add_argument("--budget", default=None,
                    help="N (evaluations), Ns (wall seconds) or Ns-simulated; combine with ','. "
                         "Required for sample-based drivers; one-shot methods are budgeted by their BPEConfig")
    se.add_argument("--prescreen", default=None,
                    help="two-stage search (with --algo random): score --pool random archs with this cheap estimator, "
                         "then spend the rest of the budget on the best of them with --estimator")
    se.add_argument("--pool", type=int, default=100, help="archs scored by --prescreen (default: 100)")
    se.add_argument("--algo-opt", action="append", default=[], metavar="[ALGO.]KEY=VALUE",
                    help="driver option, repeatable (e.g. rea.population=20, reinforce.learning_rate=0.01, "
                         "gdas.arch_learning_rate=0.003); without ALGO. it goes to every --algo that has it")
    se.add_argument("--runs", type=int, default=1, help="independent runs per algorithm (default: 1)")
    se.add_argument("--seed", type=int, default=0, help="seed of the first run (run r uses seed + r)")
    _add_run_args(se)
    se.add_argument("--out", default="results/search.json", help="results JSON; a PNG is written beside it")
    se.set_defaults(func=cmd_search)

    mi = sub.add_parser(
        "mip",
        help="Minimum Importance Pruning: find the cheapest proxy setting that ranks like the truth",
        description="Find a proxy-training setting by Minimum Importance Pruning and write it as bpe.json "
                    "(usable as --estimator bpe.json). Live: trains a fixed seeded arch sample under each "
                    "setting. Tabular (--tabular DIR): looks settings up in recorded data.",
    )
    mi.add_argument("--tabular", default=None, metavar="DIR",
                    help="recorded settings (settings.csv, accuracies.csv, ground_truth.csv), e.g. the BPE paper's")
    _add_data_args(mi)
    mi.add_argument("--truth", default="reference",
                    help="live: PATH.csv, nb201:PATH.pth or 'reference' (trained here; default)")
    mi.add_argument("--metric", default=None, help="truth column/metric (default: the source's default)")
    mi.add_argument("--reference-config", default=None, help="BPEConfig JSON for --truth reference")
    mi.add_argument("--archs", type=int, default=40, help="live: archs in the fixed sample (default: 40)")
    mi.add_argument("--arch-seed", type=int, default=0, help="live: seed of the arch sample (default: 0)")
    mi.add_argument("--knobs", default=None,
                    help="knob grids: a preset (cpu, paper, digits) or a JSON file (default: digits for the digits "
                         "dataset, else cpu)")
    mi.add_argument("--base-config", default=None,
                    help="BPEConfig (preset or JSON) for the fields that are not knobs (default: the knob preset's)")
    mi.add_argument("--rounds", type=int, default=None, help="most rounds (default: until one knob is left)")
    mi.add_argument("--per-round", type=int, default=None, help="settings per round (default: 4 live, 5 tabular)")
    mi.add_argument("--initial", type=int, default=None, help="settings in the first round (default: 2 x --per-round)")
    mi.add_argument("--min-agreement", type=float, default=0.5,
                    help="prune only when this share of the forests agree on the least important knob (default: 0.5)")
    mi.add_argument("--importance", default="fanova", help="fanova (default), mdi or permutation")
    mi.add_argument("--forest-seeds", type=int, default=10, help="forests per importance estimate (default: 10)")
    mi.add_argument("--prune-rule", default="within-noise", help="within-noise (default) or cheapest")
    mi.add_argument("--max-seconds-per-arch", type=float, default=None,
                    help="live: cap on the chosen setting's seconds per arch (settings predicted above it are skipped)")
    mi.add_argument("--max-cost", type=float, default=None,
                    help="tabular: cap on the chosen setting's recorded cost per arch (e.g. GPU-hours per net)")
    mi.add_argument("--over-cap", default=None, choices=["skip", "explore"],
                    help="measure settings predicted above the cap ('explore') or not ('skip'); "
                         "default: skip live, explore tabular")
    mi.add_argument("--budget", default=None,
                    help="live: total wall time (e.g. 3h, 90m, 600s); tabular: most lookups (default: no limit)")
    mi.add_argument("--seed", type=int, default=0, help="seed of the setting sampler (default: 0)")
    _add_run_args(mi)
    mi.add_argument("--out", default="results/bpe.json",
                    help="the found setting (default: results/bpe.json); <stem>_importance.png and "
                         "<stem>_frontier.png are written beside it")
    mi.add_argument("--no-plot", action="store_true", help="do not write the PNG plots")
    mi.set_defaults(func=cmd_mip)

    pr = sub.add_parser("predictor", help="train and evaluate the pairwise-ranking (ReNAS-style) predictor")
    pr_sub = pr.add_subparsers(dest="predictor_command", required=True)
    for name, helptext in (("fit", "train on N seeded archs and save the predictor (use it as --estimator PATH.pt)"),
                           ("evaluate", "train on N seeded archs, report Kendall/Spearman on all remaining archs")):
        p = pr_sub.add_parser(name, help=helptext)
        p.add_argument("--space", default="nb201")
        p.add_argument("--truth", default=None, help="PATH.csv or nb201:PATH.pth: targets from a table (with --metric)")
        p.add_argument("--metric", default="v11_cifar10valid_valid")
        p.add_argument("--targets", default=None,
                       help="fit only: your own targets, a `bpe evaluate` results JSON (its scores) or a `bpe score` CSV (with --column)")
        p.add_argument("--column", default=None, help="score column of a --targets CSV")
        p.add_argument("--train-size", type=int, default=156, help="training archs (default: 156, 1%% of NB201)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--loss", default="pairwise", choices=["pairwise", "mse"])
        p.add_argument("--epochs", type=int, default=300, help="maximum epochs (default: 300)")
        p.add_argument("--out", required=True, help="predictor file (fit) or results JSON (evaluate)")
        p.set_defaults(func=cmd_predictor)

    cfg = sub.add_parser("config", help="print or validate a BPEConfig (preset name or JSON file)")
    cfg.add_argument("config", help="preset (bpe-1, bpe-2) or JSON file to validate")
    cfg.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field (repeatable)")
    cfg.add_argument("--out", default=None, help="also write the validated JSON here")
    cfg.set_defaults(func=cmd_config)

    arch = sub.add_parser("arch", help="validate, describe or sample architectures")
    arch_sub = arch.add_subparsers(dest="arch_command", required=True)
    check = arch_sub.add_parser("check", help="validate arch strings and print canonical form and size")
    check.add_argument("archs", nargs="+")
    check.add_argument("--space", default="nb201")
    check.add_argument("--channels", type=int, default=16)
    check.add_argument("--cells-per-stage", type=int, default=5)
    check.set_defaults(func=cmd_arch_check)
    samp = arch_sub.add_parser("sample", help="print N archs sampled uniformly without replacement")
    samp.add_argument("n", type=int)
    samp.add_argument("--seed", type=int, default=0)
    samp.add_argument("--space", default="nb201")
    samp.set_defaults(func=cmd_arch_sample)

    truth = sub.add_parser("truth", help="ground-truth utilities")
    truth_sub = truth.add_subparsers(dest="truth_command", required=True)
    conv = truth_sub.add_parser("convert", help="convert the official NB201 file to a compact CSV table")
    conv.add_argument("source", help="nb201:PATH.pth")
    conv.add_argument("--out", required=True)
    conv.set_defaults(func=cmd_truth_convert)
    return parser


# -- commands -------------------------------------------------------------------------
def _runner(args: argparse.Namespace):
    from bpe.cache import EvalCache, default_cache_dir
    from bpe.parallel import Runner

    cache = None if args.no_cache else EvalCache(args.cache_dir or default_cache_dir())
    return Runner(jobs=args.jobs, backend=args.backend, scheduler=args.scheduler, cache=cache,
                  progress=not args.quiet)


def _check_out(path: str) -> Path:
    out = Path(path)
    if out.exists() and out.is_dir():
        raise BPEError(f"--out {out} is a directory; give a file name such as {out / 'results.json'}")
    return out  # the folder is created when the results are written (atomically)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from bpe.benchmarks import load_truth
    from bpe.config import load_config
    from bpe.data import DatasetSpec
    from bpe.estimators import estimator_from_spec
    from bpe.evaluate import evaluate_estimator, write_results

    out = _check_out(args.out)
    runner = _runner(args)
    archs = _parse_archs(args.archs, args.space, args.seed)
    if len(archs) < 2:
        raise BPEError(f"--archs must give at least 2 archs to compute a rank correlation, got {len(archs)}")
    dataset = DatasetSpec(args.dataset, args.data_dir)
    dataset.fingerprint()  # fails early on a missing data dir
    ref_config = load_config(args.reference_config) if args.reference_config else None
    truth = load_truth(args.truth, dataset=dataset, space=args.space, device=args.device, reference_config=ref_config)
    metric = truth.check_metric(args.metric)
    estimator = estimator_from_spec(args.estimator, dataset=dataset, truth=truth, metric=metric,
                                    space=args.space, device=args.device)
    if args.estimator != "oracle":
        from bpe.data import load_arrays

        load_arrays(dataset)  # a missing or corrupt data file is reported before any work
    print(f"estimator: {estimator.describe()}")
    print(f"truth: {args.truth} ({metric}); {len(archs)} archs, seed {args.seed}, {args.jobs} job(s)")
    result = evaluate_estimator(estimator, truth, archs, metric=metric, runner=runner, seed=args.seed)
    result.update(space=args.space, dataset=args.dataset, truth_source=args.truth)
    paths = write_results(result, out, plot=not args.no_plot)
    lo, hi = result["spearman_ci95"]
    print(
        f"spearman {result['spearman']:.4f} [95% CI {lo:.3f}, {hi:.3f}]  kendall {result['kendall']:.4f}  "
        f"n={result['n_pairs']}  failed={result['n_failed']}  {result['seconds_per_arch']:.2f} s/arch  "
        f"(wall {result['wall_seconds']:.1f} s)"
    )
    if result["truth_seconds_per_arch"]:
        ratio = result["truth_seconds_per_arch"] / max(result["seconds_per_arch"], 1e-9)
        print(f"the ground truth cost {result['truth_seconds_per_arch']:.2f} s/arch: the estimator is {ratio:.1f}x cheaper")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def cmd_mip(args: argparse.Namespace) -> int:
    from bpe.mip.job import mip_live, mip_tabular, parse_duration
    from bpe.mip.search import MIPSettings

    tabular = args.tabular is not None
    for flag, value in (("--seed", args.seed), ("--arch-seed", args.arch_seed)):
        if value < 0:
            raise BPEError(f"{flag} must be >= 0, got {value}")
    if not tabular and args.archs < 3:
        raise BPEError(f"--archs must be at least 3 to compute a rank correlation with an interval, got {args.archs}")
    if tabular and args.max_seconds_per_arch is not None:
        raise BPEError("--max-seconds-per-arch is for live runs; a tabular run's cap is --max-cost (the records' unit)")
    if not tabular and args.max_cost is not None:
        raise BPEError("--max-cost is for --tabular runs; a live run's cap is --max-seconds-per-arch")
    budget = None
    if args.budget is not None:
        if tabular:
            try:
                budget = int(args.budget)
            except ValueError:
                raise BPEError(f"a tabular budget is a number of lookups, got '{args.budget}'") from None
        else:
            budget = parse_duration(args.budget)
    over_cap = args.over_cap or ("explore" if tabular else "skip")
    settings = MIPSettings(
        per_round=args.per_round if args.per_round is not None else (5 if tabular else 4),
        initial=args.initial, min_agreement=args.min_agreement,
        rounds=args.rounds, importance=args.importance, forest_seeds=args.forest_seeds,
        prune_rule=args.prune_rule, max_cost=args.max_cost if tabular else args.max_seconds_per_arch,
        skip_over_cap=over_cap == "skip", budget=budget, seed=args.seed,
    )

    def event(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    if tabular:
        doc, paths = mip_tabular(folder=args.tabular, settings=settings, out=args.out, plot=not args.no_plot,
                                 on_event=event)
    else:
        from bpe.config import load_config
        from bpe.data import DatasetSpec
        from bpe.mip.knobs import load_knobs

        base = load_config(args.base_config) if args.base_config else None
        preset = "digits" if args.dataset == "digits" else "cpu"
        knobs = load_knobs(args.knobs or preset, preset=preset, base=base)
        dataset = DatasetSpec(args.dataset, args.data_dir)
        ref_config = load_config(args.reference_config) if args.reference_config else None
        runner = _runner(args)
        print(f"MIP over {len(knobs)} knobs ({', '.join(knobs.names)}) on {args.archs} archs of {args.space}, "
              f"{args.dataset}, truth {args.truth}; {settings.per_round} settings per round, {args.jobs} job(s)")
        doc, paths = mip_live(knobs=knobs, dataset=dataset, truth_spec=args.truth, metric=args.metric,
                              n_archs=args.archs, arch_seed=args.arch_seed, settings=settings, runner=runner,
                              out=args.out, space=args.space, device=args.device, reference_config=ref_config,
                              plot=not args.no_plot, on_event=event)
    m = doc["measured"]
    order = [r["pruned"] for r in doc["rounds"] if r.get("pruned")]
    print(f"pruning order: {', '.join(order) or '(none)'}; stopped: {doc['mip']['stop_reason']}")
    model = doc["cost_model"]
    if model.get("loo_median_relative_error") is not None:
        print(f"cost model: leave-one-out error {model['loo_median_relative_error']:.0%} (median), "
              f"{model['loo_max_relative_error']:.0%} (max) over {model['n_settings']} measured settings")
    if m is None:
        print("no measured setting is within the cap; nothing to export (see the trajectory in the file)")
    else:
        lo, hi = (f"{v:.3f}" if v is not None else "n/a" for v in m["spearman_ci95"])
        print(f"chosen: {m['name']}  spearman {m['spearman']:.4f} [95% CI {lo}, {hi}]  kendall "
              f"{m['kendall']:.4f}  cost/arch {m['cost_per_arch']:.4g} {m['cost_unit']}  "
              f"({doc['mip']['n_settings_measured']} settings measured)")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _parse_archs(text: str, space: str, seed: int) -> list[str]:
    from bpe.evaluate import sample_archs
    from bpe.spaces import get_space

    if text == "all":
        return [str(a) for a in get_space(space).enumerate_archs()]
    try:
        n = int(text)
    except ValueError:
        if Path(text).is_file():
            return _read_arch_list(Path(text), space)
        if "/" in text or "." in text:
            raise BPEError(f"--archs: the file {text} does not exist (give a number, 'all' or an existing file of archs)") from None
        raise BPEError(f"--archs takes a number, 'all' or a file of archs (one per line, or a CSV with an "
                       f"'arch' column), got '{text}'") from None
    return sample_archs(space, n, seed)


#: Column names an arch list CSV may use (ours, the NB201 table's, NAS-Bench-Suite-Zero's).
ARCH_COLUMNS = ("arch", "arch_str", "net_str")


def _read_arch_list(path: Path, space: str) -> list[str]:
    """Archs listed in ``path``: a CSV with an ``arch`` (or ``arch_str``/``net_str``) column, or
    one arch per line; each is validated."""
    from bpe.spaces import get_space

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise BPEError(f"cannot read the arch list {path} ({err}); give a text file, one arch per line") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and "," in lines[0]:  # a CSV: arch strings themselves hold no commas
        import pandas as pd

        try:
            frame = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError) as err:
            raise BPEError(f"cannot read {path} as CSV ({err})") from None
        column = next((c for c in ARCH_COLUMNS if c in frame.columns), None)
        if column is None:
            raise BPEError(f"{path} has no arch column ({'/'.join(ARCH_COLUMNS)}); its columns: {', '.join(map(str, frame.columns))}")
        lines = ["" if pd.isna(a) else str(a).strip() for a in frame[column]]
    if not lines:
        raise BPEError(f"{path} lists no architectures; put one arch string per line")
    parse = get_space(space).parse
    archs = []
    for i, line in enumerate(lines, 1):
        try:
            archs.append(str(parse(line)))
        except BPEError as err:
            raise BPEError(f"{path}, entry {i}: {err}") from None
    return archs


def cmd_score(args: argparse.Namespace) -> int:
    from bpe.benchmarks import load_truth
    from bpe.data import DatasetSpec, load_arrays
    from bpe.estimators import estimator_from_spec
    from bpe.scoring import score_archs, write_scores

    out = _check_out(args.out)
    runner = _runner(args)
    archs = _parse_archs(args.archs, args.space, args.seed)
    dataset = DatasetSpec(args.dataset, args.data_dir)
    truth = load_truth(args.truth, space=args.space) if args.truth else None
    names = [n.strip() for n in args.estimator.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise BPEError(f"--estimator needs distinct comma-separated names, got '{args.estimator}'")
    options = {"batch_size": args.batch_size, "repeats": args.repeats, "seed": args.init_seed,
               "channels": args.channels, "cells_per_stage": args.cells_per_stage, "image_size": args.image_size}
    for key, value in options.items():
        if value is not None and value < (0 if key == "seed" else 1):
            raise BPEError(f"--{key.replace('_', '-')} must be {'>= 0' if key == 'seed' else 'positive'}, got {value}")
    estimators = [estimator_from_spec(n, dataset=dataset, truth=truth, space=args.space, device=args.device,
                                      options=options) for n in names]
    load_arrays(dataset)  # a missing or corrupt data file is reported before any work
    print(f"scoring {len(archs)} archs with {', '.join(e.describe() for e in estimators)}")
    frame = score_archs(estimators, archs, runner=runner)
    for est in estimators:
        failed = int(frame[est.name].isna().sum())
        print(f"{est.name}: {frame[est.name + '_seconds'].mean():.3f} s/arch, {failed} failed")
    print("wrote " + ", ".join(map(str, write_scores(frame, out, estimators=estimators))))
    return 0


def cmd_correlate(args: argparse.Namespace) -> int:
    from bpe.benchmarks import load_truth
    from bpe.cache import atomic_write_text
    from bpe.scoring import correlate_scores, evaluation_point, frontier_plot, read_scores

    if not args.scores and not args.evaluations:
        raise BPEError("give --scores CSV files and/or --evaluations JSON files to correlate")
    out = _check_out(args.out)
    truth = load_truth(args.truth, space=args.space)
    metric = truth.check_metric(args.metric)
    frames = [read_scores(p) for p in args.scores]
    evaluations = []
    for path in args.evaluations:
        try:
            evaluations.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as err:
            raise BPEError(f"cannot read evaluation results {path} ({err}); pass JSON files from `bpe evaluate`") from None
    table: dict[str, dict] = {}
    for frame in frames:
        table.update(correlate_scores(frame, truth, metric))
    points = [{"label": name, "spearman": r["spearman"], "seconds_per_arch": r["seconds_per_arch"],
               "kind": "training-free"} for name, r in table.items()]
    for result in evaluations:
        point = evaluation_point(result)
        points.append(point)
        table[point["label"]] = {k: result.get(k) for k in ("spearman", "kendall", "spearman_ci95", "kendall_ci95",
                                                           "top10pct_precision", "regret", "n_pairs", "seconds_per_arch")}
    plot = frontier_plot(points, out.with_suffix(".png"), title=f"ground truth: {metric}")
    atomic_write_text(out, json.dumps({"metric": metric, "estimators": table}, indent=2, default=str) + "\n")
    print(f"| estimator | Kendall τ | Spearman ρ [95% CI] | top-10% precision | s/arch | n |")
    print("|---|---|---|---|---|---|")
    for name, r in table.items():
        lo, hi = r.get("spearman_ci95") or (math.nan, math.nan)
        print(f"| {name} | {r['kendall']:.3f} | {r['spearman']:.3f} [{lo:.2f}, {hi:.2f}] | "
              f"{r.get('top10pct_precision', math.nan):.2f} | {r['seconds_per_arch']:.3f} | {r['n_pairs']} |")
    print(f"wrote {out}, {plot}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from bpe.benchmarks import load_truth
    from bpe.cache import atomic_write_text
    from bpe.data import DatasetSpec
    from bpe.estimators import estimator_from_spec

    try:
        from search_algos.base import get_algorithm_class
        from search_algos.budget import parse_budget
        from search_algos.orchestrate import sample_based_experiment, summary_table
        from search_algos.runs import best_so_far_plot
    except ImportError as err:  # pragma: no cover - installed together
        raise BPEError(f"the search drivers are not installed ({err}); reinstall bpe") from None

    out = _check_out(args.out)
    if args.runs < 1:
        raise BPEError(f"--runs must be >= 1, got {args.runs}")
    algos = [a.strip() for a in args.algo.split(",") if a.strip()]
    from search_algos.oneshot import ONESHOT_ALIASES

    if any(a in ONESHOT_ALIASES for a in algos):
        if len(algos) != 1:
            raise BPEError("a one-shot method (darts, darts-v2, gdas) runs alone: pass it as the only --algo")
        return _oneshot_search(args, ONESHOT_ALIASES[algos[0]], out)
    if args.budget is None:
        raise BPEError("sample-based search needs --budget: N (evaluations), Ns (wall seconds) or Ns-simulated")
    budget = parse_budget(args.budget)
    if not algos:
        raise BPEError(f"--algo needs at least one algorithm, got '{args.algo}'")
    for algo in algos:
        get_algorithm_class(algo)  # an unknown name is reported (with a suggestion) before any work
    from search_algos.base import create_algorithm

    options = _algorithm_options(args.algo_opt, algos)
    for algo, opts in options.items():
        create_algorithm(algo, **opts)  # out-of-range options fail here, before any work
    truth = load_truth(args.truth, space=args.space) if args.truth else None
    if args.estimator == "oracle" and truth is None:
        raise BPEError("--estimator oracle needs --truth PATH.csv (the table it looks rewards up in)")
    if budget.simulated_seconds is not None and args.estimator != "oracle":
        raise BPEError("a simulated-seconds budget needs --estimator oracle (only a benchmark records training time)")
    dataset = DatasetSpec(args.dataset, args.data_dir)
    estimator = estimator_from_spec(args.estimator, dataset=dataset, truth=truth, metric=args.metric,
                                    space=args.space, device=args.device)
    if args.estimator == "oracle":
        estimator.epochs = args.oracle_epochs
    if args.estimator == "oracle" or estimator.cheap:
        factory = lambda: estimator  # noqa: E731 - lookups need no cache
    else:
        from bpe.estimators.cached import CachedEstimator

        runner = _runner(args)
        cached = CachedEstimator(estimator, runner.cache)
        factory = lambda: cached  # noqa: E731
    prescreen = None
    if args.prescreen:
        if algos != ["random"]:
            raise BPEError("--prescreen makes a two-stage random search: use it with --algo random only")
        if args.pool < 1:
            raise BPEError(f"--pool must be >= 1, got {args.pool}")
        prescreen = estimator_from_spec(args.prescreen, dataset=dataset, truth=truth, metric=args.metric,
                                        space=args.space, device=args.device)
    print(f"{', '.join(algos)} x {args.runs} runs, estimator {estimator.describe()}, budget {budget.describe()}"
          + (f", options {options}" if options else "")
          + (f", prescreen {prescreen.describe()} on {args.pool} archs" if prescreen else ""))
    result, all_results = sample_based_experiment(
        algos, factory, budget, runs=args.runs, seed=args.seed, space=args.space,
        jobs=1 if args.estimator == "oracle" else args.jobs, truth=truth, prescreen=prescreen, pool=args.pool,
        algorithm_options=options, progress=not args.quiet)
    atomic_write_text(out, json.dumps(result, indent=2, default=str) + "\n")
    paths = [out]
    if truth is not None and "v11_cifar10_test" in truth.metrics:
        axis, limit = (("simulated_seconds", budget.simulated_seconds) if budget.simulated_seconds else
                       ("evaluations", budget.evaluations) if budget.evaluations else ("seconds", budget.seconds))
        paths.append(best_so_far_plot(all_results, truth, out.with_suffix(".png"), axis=axis, limit=limit))
    print(summary_table(result["summary"]))
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _key_values(items: Sequence[str], flag: str, example: str) -> list[tuple[str, object]]:
    """``KEY=VALUE`` items -> (key, value) pairs; values are read as JSON when they parse (numbers,
    true/false, quoted strings), as numbers when they look like one (``.01``), else kept as text."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key.endswith("."):
            raise BPEError(f"{flag} takes {example}, got '{item}'")
        pairs.append((key, _parse_value(value.strip())))
    return pairs


def _algorithm_options(items: Sequence[str], algos: Sequence[str],
                       known: Callable[[str], dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``--algo-opt [ALGO.]KEY=VALUE`` items -> options per algorithm, checked against
    ``known(algo)`` (option -> default; the registered driver's options by default).  Without
    ``ALGO.`` an option goes to every --algo that has it (at least one must)."""
    from search_algos.base import algorithm_options, check_options

    known = known or algorithm_options

    options: dict[str, dict[str, Any]] = {}
    for key, value in _key_values(items, "--algo-opt", "[ALGO.]KEY=VALUE (e.g. rea.population=20)"):
        algo, dot, name = key.rpartition(".")
        if dot:
            if algo not in algos:
                raise BPEError(f"--algo-opt '{key}' names {algo}, which is not among --algo {','.join(algos)}")
            targets = [algo]
        else:
            targets = [a for a in algos if name in known(a)] or list(algos[:1])
        for target in targets:
            options.setdefault(target, {})[name] = value
    return {algo: check_options(algo, opts, known(algo)) for algo, opts in options.items()}


def _oneshot_search(args: argparse.Namespace, method: str, out: Path) -> int:
    from bpe.benchmarks import load_truth
    from bpe.cache import atomic_write_text
    from bpe.config import PRESETS, load_config
    from bpe.data import DatasetSpec, prepare_split
    from search_algos.orchestrate import oneshot_experiment, summary_table

    if not (args.estimator.endswith(".json") or args.estimator in PRESETS):
        raise BPEError(f"{method} trains a supernet: --estimator must be a BPEConfig JSON file or a preset (bpe-1, bpe-2)")
    from search_algos.oneshot import oneshot_options

    from search_algos.oneshot import ONESHOT_ALIASES

    names = [a for a, m in ONESHOT_ALIASES.items() if m == method]  # darts.x and darts-v1.x mean the same
    per_name = _algorithm_options(args.algo_opt, names, lambda _: oneshot_options())
    options = {k: v for opts in per_name.values() for k, v in opts.items()}
    config = load_config(args.estimator)
    truth = load_truth(args.truth, space=args.space) if args.truth else None
    dataset = DatasetSpec(args.dataset, args.data_dir)
    data = prepare_split(dataset, config.data_fraction)
    print(f"{method} x {args.runs} runs, supernet trained under {config.to_dict()}"
          + (f", options {options}" if options else ""))

    def report(r: int, row: dict[str, Any]) -> None:
        acc = row["true_accuracy"]
        print(f"run {r}: {row['arch']}  ({row['seconds']:.0f} s, supernet valid acc {row['score']:.2f}"
              + (f", cifar10 test {acc['cifar10_test']:.2f}" if acc else "") + ")")

    result = oneshot_experiment(method, config, data, runs=args.runs, seed=args.seed, device=args.device,
                                truth=truth, on_run=report, progress=not args.quiet, options=options)
    atomic_write_text(out, json.dumps(result, indent=2, default=str) + "\n")
    print(summary_table(result["summary"]))
    print(f"wrote {out}")
    return 0


def _predictor_targets(args: argparse.Namespace) -> tuple[list[str], list[float]]:
    """(archs, targets) from --truth/--metric or from --targets."""
    from bpe.benchmarks import load_truth
    from bpe.spaces import get_space

    if args.targets:
        path = Path(args.targets)
        if not path.is_file():
            raise BPEError(f"targets file {path} does not exist")
        if path.suffix == ".json":
            try:
                records = json.loads(path.read_text())["records"]
            except (ValueError, KeyError) as err:
                raise BPEError(f"{path} is not a `bpe evaluate` results JSON ({err})") from None
            pairs = [(r["arch"], r["score"]) for r in records if r.get("score") is not None]
        else:
            from bpe.scoring import estimator_columns, read_scores

            frame = read_scores(path)
            columns = estimator_columns(frame)
            column = args.column or (columns[0] if len(columns) == 1 else None)
            if column not in frame.columns:
                raise BPEError(f"pass --column, one of {', '.join(columns)}")
            pairs = list(zip(frame["arch"], frame[column]))
        return [str(a) for a, _ in pairs], [float(t) for _, t in pairs]
    if not args.truth:
        raise BPEError("give --truth PATH.csv (with --metric) or --targets FILE for the training targets")
    truth = load_truth(args.truth, space=args.space)
    metric = truth.check_metric(args.metric)
    archs = truth.archs() if hasattr(truth, "archs") else [str(a) for a in get_space(args.space).enumerate_archs()]
    return archs, truth.query_many(archs, metric)


def cmd_predictor(args: argparse.Namespace) -> int:
    from bpe.cache import atomic_write_text
    from bpe.estimators.renas import RankingPredictor, holdout_evaluation

    out = _check_out(args.out)
    archs, targets = _predictor_targets(args)
    if args.predictor_command == "fit":
        import numpy as np

        usable = [i for i, t in enumerate(targets) if t is not None and math.isfinite(t)]
        if args.train_size > len(usable):
            raise BPEError(f"--train-size {args.train_size} exceeds the {len(usable)} archs with targets")
        idx = np.random.default_rng(args.seed).permutation(usable)[: args.train_size]
        predictor = RankingPredictor(args.loss, seed=args.seed, epochs=args.epochs).fit(
            [archs[i] for i in idx], [targets[i] for i in idx])
        predictor.save(out)
        print(f"trained a {args.loss} predictor on {len(idx)} archs ({len(predictor.history_)} epochs); wrote {out}")
        print(f"use it with: bpe search --estimator {out} ...  or  bpe evaluate --estimator {out} ...")
        return 0
    result = holdout_evaluation(archs, targets, train_size=args.train_size, seed=args.seed, loss=args.loss,
                                epochs=args.epochs)
    result.pop("predictor")
    result.update(metric=args.metric, truth=args.truth)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(f"{args.loss} predictor, {result['train_size']} training archs (seed {args.seed}): "
          f"kendall {result['kendall']:.4f}, spearman {result['spearman']:.4f} on {result['n_test']} remaining archs; "
          f"fit {result['fit_seconds']:.1f} s, scoring them {result['predict_seconds']:.2f} s")
    print(f"wrote {out}")
    return 0


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return float(text)  # '.01' is not JSON but clearly a number
        except ValueError:
            return text


def cmd_config(args: argparse.Namespace) -> int:
    from bpe.config import BPEConfig, load_config

    config = load_config(args.config)
    if args.set:
        changes = dict(_key_values(args.set, "--set", "KEY=VALUE (e.g. epochs=20)"))
        config = BPEConfig.from_dict({**config.to_dict(), **changes}, source="--set")
    text = config.to_json()
    if args.out:
        from bpe.cache import atomic_write_text

        atomic_write_text(_check_out(args.out), text)
    print(text, end="")
    return 0


def cmd_arch_check(args: argparse.Namespace) -> int:
    from bpe.spaces import get_space

    mod = get_space(args.space)
    for text in args.archs:
        arch = mod.parse(text)
        net = mod.build(arch, channels=args.channels, cells_per_stage=args.cells_per_stage, num_classes=10)
        params = sum(p.numel() for p in net.parameters()) / 1e6
        print(f"{arch}\tindex {arch.index}\t{params:.6f} M params (C={args.channels}, N={args.cells_per_stage})")
    return 0


def cmd_arch_sample(args: argparse.Namespace) -> int:
    from bpe.spaces import get_space

    mod = get_space(args.space)
    if not 1 <= args.n <= mod.NUM_ARCHS:
        raise BPEError(f"N must be in 1..{mod.NUM_ARCHS} (the size of {args.space}), got {args.n}")
    for arch in mod.sample(args.n, args.seed):
        print(arch)
    return 0


def cmd_truth_convert(args: argparse.Namespace) -> int:
    from bpe.benchmarks import load_truth

    if not args.source.startswith("nb201:"):
        raise BPEError("truth convert reads the official file: pass nb201:PATH.pth")
    path = load_truth(args.source).to_table(_check_out(args.out))
    print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bpe`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except BPEError as err:
        print(f"bpe: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bpe: interrupted; finished evaluations are cached, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
