"""Development study of the learned blend's model (``bpe.estimators.learned``): which model ranks
unseen NB201 cells best from 70 labelled ones, on scores no reported figure uses.

    python experiments/learned_model_dev.py --draws 20 --out experiments/mip/learned_model_dev.md

Features: NASLib's zero-cost scores of the 9,445 NB201 cells without unreachable ops
(``nb201/zero_cost_cifar10.csv``) and the cells' graph features; the archs of the reported MIP
runs and their held-out samples are left out, so choosing the model here does not tune it on
the archs its figures are measured on.  Each draw: 70 labelled cells (the search archs of a
100-arch MIP run), 1,000 other cells to rank against ``v11_cifar10valid_valid``.  Prints, per
model and feature set, the mean, standard deviation and minimum Spearman rho over the draws.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bpe.estimators.learned import empirical_cdf, fit_model, rank_targets
from bpe.machine import machine_line
from bpe.outputs import atomic_write_text
from bpe.spaces import get_space

from _paths import PROJECT_ROOT, reference_data_dir

#: The feature sets compared (NASLib names); the first is the MIP default's kind.
FEATURE_SETS = {"nwot,jacov,synflow,params,flops": ["nwot", "jacov", "synflow", "params", "flops"],
                "nwot,jacov": ["nwot", "jacov"],
                "all 13": ["epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params",
                           "plain", "snip", "synflow", "zen"]}
#: Archs the reported runs used (left out of the development pool).
USED = ["experiments/mip/nb201_sh100.json", "experiments/mip/nb201_families100_heldout_seed1.txt",
        "experiments/mip/nb201_families100_heldout_seed2.txt"]


def used_archs() -> set[str]:
    out: set[str] = set()
    for name in USED:
        path = PROJECT_ROOT / name
        out |= set(json.loads(path.read_text())["measured"]["archs"]) if path.suffix == ".json" else set(
            path.read_text().split())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--labels", type=int, default=70)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--out", default=None, help="also write the table here (Markdown)")
    args = parser.parse_args()
    data = reference_data_dir() / "nb201"
    zc = pd.read_csv(data / "zero_cost_cifar10.csv")
    truth = pd.read_csv(data / "nb201_groundtruth.csv").set_index("arch_str")["v11_cifar10valid_valid"]
    zc = zc[~zc["net_str"].isin(used_archs())].reset_index(drop=True)
    y = truth.loc[zc["net_str"]].to_numpy(float)
    cell = np.asarray(get_space("nb201").graph_features(list(zc["net_str"]))[1], dtype=float).reshape(len(zc), -1)
    rows = []
    for label, columns in FEATURE_SETS.items():
        x = zc[columns].to_numpy(float)
        results: dict[str, list[float]] = {}
        for draw in range(args.draws):
            order = np.random.default_rng(100 + draw).permutation(len(zc))
            train, test = order[:args.labels], order[args.labels:args.labels + args.test]
            targets = rank_targets(y[train])
            for j, name in enumerate(columns):
                results.setdefault(f"best single scorer ({name})", []).append(spearmanr(x[test, j], y[test])[0])
            results.setdefault("rank-average of the scorers", []).append(
                spearmanr(empirical_cdf(x[train], x[test]).mean(axis=1), y[test])[0])
            for kind in ("extra-trees", "trees+ridge"):
                for with_cell in (False, True):
                    a, b = (np.hstack([x[i], cell[i]]) if with_cell else x[i] for i in (train, test))
                    for leaf in (1, 3):
                        model = fit_model(a, targets, {"kind": kind, "n_estimators": 200, "min_samples_leaf": leaf,
                                                       "seed": 0}, n_scores=len(columns))
                        results.setdefault(f"{kind}{' + cell' if with_cell else ''}, leaf {leaf}", []).append(
                            spearmanr(model.predict(b), y[test])[0])
        singles = {k: v for k, v in results.items() if k.startswith("best single")}
        best_single = max(singles, key=lambda k: np.mean(singles[k]))
        for name, rhos in results.items():
            if name.startswith("best single") and name != best_single:
                continue
            rows.append((label, name, float(np.mean(rhos)), float(np.std(rhos)), float(np.min(rhos))))
    lines = [f"Learned-blend model study: {args.labels} labelled NB201 cells, {args.test} others ranked, "
             f"{args.draws} seeded draws, against v11_cifar10valid_valid (NASLib zero-cost scores; {len(zc)} cells "
             f"after leaving out the reported runs' archs). {machine_line()}.",
             "", "| features | model | mean rho | sd | min |", "|---|---|---|---|---|"]
    for label, name, mean, sd, low in rows:
        lines.append(f"| {label} | {name} | {mean:.3f} | {sd:.3f} | {low:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
