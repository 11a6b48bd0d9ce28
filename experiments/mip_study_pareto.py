"""The Pareto front of a MIP run's Optuna study, drawn by Optuna itself (the plot
``optuna-dashboard`` shows in its Pareto-front panel), for the docs.

    bpe mip --tabular ../shared/data/bpe_paper --max-cost 0.6 --out results/mip_paper/bpe.json
    python experiments/mip_study_pareto.py --storage sqlite:///results/mip_paper/bpe.db \
        --out experiments/mip/paper_records_study_pareto.png
"""

from __future__ import annotations

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")
import optuna  # noqa: E402

from bpe.plotting import save_figure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="the run's storage URL")
    parser.add_argument("--study", default=None, help="study name (default: the storage's only study)")
    parser.add_argument("--out", required=True, help="PNG path")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = args.study or optuna.get_all_study_summaries(args.storage)[0].study_name
    study = optuna.load_study(study_name=name, storage=args.storage)
    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore")
        ax = optuna.visualization.matplotlib.plot_pareto_front(study, target_names=["Spearman rho", "cost per arch"])
    ax.set_title(f"{name}: {len(study.trials)} trials, {len(study.best_trials)} on the Pareto front")
    print(f"wrote {save_figure(ax.figure, args.out)}")


if __name__ == "__main__":
    main()
