"""``bpe search``: seeded searches with any estimator under a budget (library:
:func:`search_algos.jobs.search_job`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bpe.cli.common import add_data_args, add_run_args, dataset_from_args, nonneg, positive, runner_from_args
from bpe.errors import BPEError

if TYPE_CHECKING:  # the drivers are imported inside the command only
    from search_algos.experiment import OneShotRun


def register(sub, parents) -> None:
    p = sub.add_parser(
        "search", parents=parents,
        help="run search algorithms with any estimator under a budget; report true accuracies",
        description="Run R seeded searches per algorithm; per run the chosen arch, its score, the budget spent, "
                    "and (with a truth table) its NB201 accuracies; a summary and a best-so-far PNG.",
    )
    p.add_argument("--algo", required=True,
                   help="comma-separated sample-based drivers (random, rea, reinforce) and multi-fidelity methods "
                        "(hyperband, sha: archs trained epoch by epoch under the --estimator BPEConfig, the worst "
                        "pruned at each rung), or one one-shot method (darts = darts-v1, darts-v2, gdas) whose "
                        "supernet trains under the --estimator BPEConfig")
    p.add_argument("--estimator", required=True,
                   help="'oracle' (truth-table lookup with simulated cost), a scorer name, a preset or a BPEConfig JSON")
    add_data_args(p)
    p.add_argument("--truth", default=None, help="PATH.csv or nb201:PATH.pth: oracle rewards and the reported true accuracies")
    p.add_argument("--metric", default="v11_cifar10valid_valid", help="oracle reward column (default: v11_cifar10valid_valid)")
    p.add_argument("--oracle-epochs", type=positive, default=12, help="epochs charged per oracle evaluation (default: 12)")
    p.add_argument("--budget", default=None,
                   help="N (evaluations), Ns (wall seconds) or Ns-simulated; combine with ','. "
                        "Required for sample-based drivers; one-shot methods are budgeted by their BPEConfig")
    p.add_argument("--prescreen", default=None,
                   help="two-stage search (with --algo random): score --pool random archs with this cheap estimator, "
                        "then spend the rest of the budget on the best of them with --estimator")
    p.add_argument("--pool", type=positive, default=100, help="archs scored by --prescreen (default: 100)")
    p.add_argument("--algo-opt", action="append", default=[], metavar="[ALGO.]KEY=VALUE",
                   help="driver option, repeatable (e.g. rea.population=20, reinforce.learning_rate=0.01, "
                        "hyperband.reduction_factor=3, hyperband.min_epochs=1, gdas.arch_learning_rate=0.003); "
                        "without ALGO. it goes to every --algo that has it")
    p.add_argument("--runs", type=positive, default=1, help="independent runs per algorithm (default: 1)")
    p.add_argument("--seed", type=nonneg, default=0, help="seed of the first run (run r uses seed + r)")
    add_run_args(p)
    p.add_argument("--out", default="results/search.json",
                   help="NAME.json (or .png: the same stem), or a folder/; writes NAME.json and NAME.png")
    p.add_argument("--no-plot", action="store_true", help="no PNG (a PNG of an earlier run is removed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    try:
        from search_algos.jobs import search_job
        from search_algos.orchestrate import summary_table
    except ImportError as err:  # pragma: no cover - installed together
        raise BPEError(f"the search drivers are not installed ({err}); reinstall bpe") from None

    def report(r: int, run: OneShotRun) -> None:
        if run.status == "failed":
            print(f"run {r}: failed after {run.seconds:.0f} s: {run.error}")
            return
        test = run.cifar10_test
        print(f"run {r}: {run.arch}  ({run.seconds:.0f} s, supernet valid acc {run.score:.2f}"
              + (f", cifar10 test {test:.2f}" if test is not None else "") + ")")

    experiment, paths = search_job(
        algos=args.algo.split(","), estimator_spec=args.estimator, dataset=dataset_from_args(args),
        truth_spec=args.truth, metric=args.metric, budget_spec=args.budget, runs=args.runs, seed=args.seed,
        runner=runner_from_args(args), out=args.out, space=args.space, device=args.device,
        oracle_epochs=args.oracle_epochs, prescreen_spec=args.prescreen, pool=args.pool, option_items=args.algo_opt,
        progress=not args.quiet, on_start=print, on_run=report, plot=not args.no_plot)
    print(summary_table(experiment.summary))
    for algo, row in experiment.summary.items():
        if row.published_not_comparable:
            print(f"{algo}: published row not shown, this run differs: {'; '.join(row.published_not_comparable)}")
        if row.published_note:
            print(f"{algo}: {row.published_note}")
    print("wrote " + ", ".join(map(str, paths)))
    return 0
