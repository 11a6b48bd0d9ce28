"""``bpe mip``: Minimum Importance Pruning, live or on recorded settings (library:
:func:`bpe.mip.job.mip_live` and :func:`bpe.mip.job.mip_tabular`)."""

from __future__ import annotations

import argparse

from bpe.cli.common import add_data_args, add_run_args, dataset_from_args, nonneg, positive, runner_from_args
from bpe.mip.families import DEFAULT_SCORERS, SEARCH_RHO, FamilySettings


def register(sub, parents) -> None:
    p = sub.add_parser(
        "mip", parents=parents,
        help="Minimum Importance Pruning: find the cheapest proxy setting that ranks like the truth",
        description="Find a proxy-training setting by Minimum Importance Pruning and write it as bpe.json "
                    "(usable as --estimator bpe.json). Live: trains a fixed seeded arch sample under each "
                    "setting. Tabular (--tabular DIR): looks settings up in recorded data.",
    )
    p.add_argument("--tabular", default=None, metavar="DIR",
                   help="recorded settings (settings.csv, accuracies.csv, ground_truth.csv), e.g. the BPE paper's")
    add_data_args(p)
    p.add_argument("--truth", default="reference", help="live: PATH.csv, nb201:PATH.pth or 'reference' (trained here; default)")
    p.add_argument("--metric", default=None, help="truth column/metric (default: the source's default)")
    p.add_argument("--reference-config", default=None, help="BPEConfig JSON for --truth reference")
    p.add_argument("--yes", action="store_true", help="start a long reference training without asking")
    p.add_argument("--archs", default="40",
                   help="live: the labelled archs: N (a seeded sample of those the truth has), 'all', or a file "
                        "listing them, as in every command (default: 40)")
    p.add_argument("--arch-seed", type=nonneg, default=0, help="live: seed of the arch sample (default: 0)")
    p.add_argument("--knobs", default=None,
                   help="knob grids: a preset (cpu, cpu-hybrid, darts-cpu, paper, digits) or a JSON file (default: "
                        "digits for the digits dataset, darts-cpu for --space darts, else cpu)")
    p.add_argument("--base-config", default=None,
                   help="BPEConfig (preset or JSON) for the fields that are not knobs (default: the knob preset's)")
    p.add_argument("--rounds", type=positive, default=None, help="most rounds (default: until one knob is left)")
    p.add_argument("--per-round", type=int, default=None, help="settings per round (default: 4 live, 5 tabular)")
    p.add_argument("--initial", type=int, default=None, help="settings in the first round (default: 2 x --per-round)")
    p.add_argument("--min-agreement", type=float, default=0.5,
                   help="prune only when this share of the forests agree on the least important knob (default: 0.5)")
    p.add_argument("--importance", default="fanova", help="fanova (default), mdi, permutation or ped-anova (optuna-dashboard's)")
    p.add_argument("--forest-seeds", type=int, default=10, help="forests per importance estimate (default: 10)")
    p.add_argument("--prune-rule", default="within-noise", help="within-noise (default) or cheapest")
    p.add_argument("--max-seconds-per-arch", type=float, default=None,
                   help="live: cap on the chosen setting's seconds per arch (settings predicted above it are skipped)")
    p.add_argument("--max-cost", type=float, default=None,
                   help="tabular: cap on the chosen setting's recorded cost per arch (e.g. GPU-hours per net)")
    p.add_argument("--over-cap", default=None, choices=["skip", "explore"],
                   help="measure settings predicted above the cap ('explore') or not ('skip'); "
                        "default: skip live, explore tabular")
    p.add_argument("--budget", default=None,
                   help="live: total wall time (e.g. 3h, 90m, 600s); tabular: most lookups (default: no limit)")
    p.add_argument("--seed", type=nonneg, default=0, help="seed of the setting sampler (default: 0)")
    p.add_argument("--baseline", default=None,
                   help="live: a training-free scorer (e.g. meco) scored on the same archs first; the chosen setting "
                        "is worth its cost only where its rho interval lies above the scorer's")
    p.add_argument("--confirm", type=float, default=0.3, metavar="SHARE",
                   help="live: share of the --archs held out to confirm the export: the families' finalists are "
                        "compared there and a dearer one is kept only when it ranks better beyond noise (default: 0.3; "
                        "0: no confirmation)")
    p.add_argument("--scorers", default=",".join(DEFAULT_SCORERS),
                   help=f"live: training-free scorers measured as candidates beside the settings, and blended with "
                        f"them (an assembly such as az_nas is a candidate only) (default: {','.join(DEFAULT_SCORERS)}; "
                        "'none' for settings only)")
    p.add_argument("--halving", default="auto", metavar="N",
                   help="live: successive halving over the search archs: every setting starts on the first N of "
                        "them, the better half at each rung is measured on twice as many, the chosen one on all "
                        "(default: auto, a quarter of them with 40 search archs or more; 'off': every setting on all)")
    add_run_args(p)
    p.add_argument("--out", default="results/bpe.json",
                   help="NAME.json, or a folder/ (default: results/bpe.json); NAME_importance.png and "
                        "NAME_frontier.png are written beside it")
    p.add_argument("--no-plot", action="store_true", help="no PNG plots (plots of an earlier run are removed)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage the run is recorded in, a trial per candidate; "
                   "a rerun of the same inputs resumes from it (default: sqlite:///NAME.db beside NAME.json; "
                   "'none': no study)")
    p.add_argument("--study-name", help="study name in --storage (default: mip- and a digest of the run's inputs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bpe.mip.job import mip_live, mip_settings, mip_tabular, parse_halving, refuse_live_only

    tabular = args.tabular is not None
    if tabular:  # live-only options would be ignored: refuse them before any work
        refuse_live_only(args.tabular, {
            "--truth": (args.truth, "reference"), "--metric": (args.metric, None), "--archs": (args.archs, "40"),
            "--arch-seed": (args.arch_seed, 0), "--knobs": (args.knobs, None), "--base-config": (args.base_config, None),
            "--reference-config": (args.reference_config, None), "--dataset": (args.dataset, "digits"),
            "--data-dir": (args.data_dir, None), "--space": (args.space, "nb201"), "--baseline": (args.baseline, None),
            "--confirm": (args.confirm, 0.3), "--scorers": (args.scorers, ",".join(DEFAULT_SCORERS)),
            "--halving": (args.halving, "auto")})
    settings = mip_settings(
        tabular=tabular, per_round=args.per_round, initial=args.initial, min_agreement=args.min_agreement,
        rounds=args.rounds, importance=args.importance, forest_seeds=args.forest_seeds, prune_rule=args.prune_rule,
        max_seconds_per_arch=args.max_seconds_per_arch, max_cost=args.max_cost, over_cap=args.over_cap,
        budget=args.budget, seed=args.seed, baseline=args.baseline)

    def event(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    if tabular:
        report, paths = mip_tabular(folder=args.tabular, settings=settings, out=args.out, plot=not args.no_plot,
                                 on_event=event, storage=args.storage, study_name=args.study_name)
    else:
        from bpe.cli.evaluate import confirm_reference
        from bpe.config import load_config
        from bpe.mip.knobs import load_knobs

        base = load_config(args.base_config) if args.base_config else None
        preset = "digits" if args.dataset == "digits" else "darts-cpu" if args.space == "darts" else "cpu"
        knobs = load_knobs(args.knobs or preset, preset=preset, base=base)
        print(f"MIP over {len(knobs)} knobs ({', '.join(knobs.names)}) on {args.archs} archs of {args.space}, "
              f"{args.dataset}, truth {args.truth}; {settings.per_round} settings per round, {args.jobs} job(s)")
        report, paths = mip_live(
            knobs=knobs, dataset=dataset_from_args(args), truth_spec=args.truth, metric=args.metric,
            n_archs=args.archs, arch_seed=args.arch_seed, settings=settings, runner=runner_from_args(args),
            out=args.out, space=args.space, device=args.device,
            reference_config=load_config(args.reference_config) if args.reference_config else None,
            plot=not args.no_plot, on_event=event, confirm=confirm_reference(args),
            families=FamilySettings.from_flags(args.scorers, args.confirm, args.arch_seed),
            halving=parse_halving(args.halving), storage=args.storage, study_name=args.study_name)
    print(f"pruning order: {', '.join(report.pruning_order) or '(none)'}; stopped: {report.stop_reason}")
    if (error := report.cost_model_error) is not None:
        print(f"cost model: leave-one-out error {error.median:.0%} (median), {error.max:.0%} (max) over "
              f"{error.n_settings} measured settings")
    m = report.chosen
    if m is None:
        print("no measured setting is within the cap; nothing to export (see the trajectory in the file)")
    else:
        lo, hi = (f"{v:.3f}" if v is not None else "n/a" for v in m.spearman_ci95)
        print(f"chosen [{m.family}]: {m.name}  spearman {m.spearman:.4f} [95% CI {lo}, {hi}]  "
              f"kendall {m.kendall:.4f} on {m.n_archs} search archs ({SEARCH_RHO.get(m.family, 'tuned on them')})"
              f"  cost/arch {m.cost_per_arch:.4g} {m.cost_unit}  ({report.n_settings_measured} settings measured)")
        if m.confirmation_spearman is not None:
            clo, chi = (f"{v:.3f}" if v is not None else "n/a" for v in m.confirmation_spearman_ci95)
            print(f"forecast: spearman {m.confirmation_spearman:.4f} [95% CI {clo}, {chi}] on "
                  f"{m.confirmation_n_archs} confirmation archs it was not chosen on")
    if (b := report.baseline) is not None:
        lo, hi = (f"{v:.3f}" if v is not None else "n/a" for v in b.spearman_ci95)
        rho = "n/a" if b.spearman is None else f"{b.spearman:.4f}"
        verdict = ("worth its cost (its interval lies above)" if b.worth else
                   f"NOT worth its cost ({b.n_above} setting(s) within the cap lie above)"
                   if b.worth is False else f"not judged: {b.reason}")
        print(f"baseline {b.name}: spearman {rho} [95% CI {lo}, {hi}] at {b.cost_per_arch:.3g} "
              f"s/arch; the chosen setting is {verdict}")
    storage = m.study_storage if m is not None else None  # the storage, to watch or compare the run
    print("wrote " + ", ".join(map(str, paths)) + (f"; optuna-dashboard {storage}" if storage else ""))
    return 0
