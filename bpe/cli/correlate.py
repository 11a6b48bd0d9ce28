"""``bpe correlate``: rank correlations of score tables and evaluations, recomputed against one
ground truth, plus the cost/quality frontier plot (library: :func:`bpe.scoring.correlate_job`)."""

from __future__ import annotations

import argparse


def register(sub, parents) -> None:
    p = sub.add_parser(
        "correlate", parents=parents,
        help="Kendall/Spearman/top-k of score tables and evaluations, recomputed against a ground truth",
        description="Recompute every statistic from the per-arch scores against --truth/--metric (default: each "
                    "evaluation file's own truth and metric, stated per row).",
    )
    p.add_argument("--scores", nargs="*", default=[], help="scores CSVs from `bpe score`")
    p.add_argument("--evaluations", nargs="*", default=[], help="results JSONs from `bpe evaluate`")
    p.add_argument("--truth", default=None, help="PATH.csv or nb201:PATH.pth (default: each evaluation's own table)")
    p.add_argument("--metric", default=None, help="truth column (default: each evaluation's own, else the table's)")
    p.add_argument("--space", default="nb201")
    p.add_argument("--out", default="results/correlations.json",
                   help="NAME.json (or .png: the same stem), or a folder/; writes NAME.json and NAME.png")
    p.add_argument("--no-plot", action="store_true", help="no PNG (a PNG of an earlier run is removed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bpe.scoring import correlate_job

    doc, paths = correlate_job(scores=args.scores, evaluations=args.evaluations, truth_spec=args.truth,
                               metric=args.metric, out=args.out, space=args.space, plot=not args.no_plot)
    print("| estimator | truth (metric) | Kendall τ | Spearman ρ [95% CI] | top-10% precision | s/arch | n |")
    print("|---|---|---|---|---|---|---|")
    for name, row in doc.rows.items():
        r = row.ranking
        lo, hi = (f"{v:.2f}" if v is not None and v == v else "n/a" for v in r.spearman_ci95)
        seconds = row.seconds_per_arch
        print(f"| {name} | {row.truth_source} ({row.metric}) | {r.kendall:.3f} | {r.spearman:.3f} [{lo}, {hi}] "
              f"| {r.top10pct_precision:.2f} | {seconds if seconds is None else f'{seconds:.3f}'} | {r.n_archs} |")
        if r.warning:
            print(f"  warning: {r.warning}")
    print("wrote " + ", ".join(map(str, paths)))
    return 0
