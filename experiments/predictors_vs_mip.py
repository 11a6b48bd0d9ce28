"""Predictors fitted on labelled archs against MIP's export and the best training-free scorers,
on the same held-out NB201 archs; and on the DARTS space's 100 cells by cross-validation.

    python experiments/predictors_vs_mip.py --mip experiments/mip/nb201_sh100_az.json \
        --out experiments/mip/predictors_vs_mip.md

NB201 (CIFAR-10, ``v11_cifar10valid_valid``): each predictor is fitted on N = 40, 100 and 400
labelled archs, all disjoint from the two held-out samples (``--heldout``): the first 40 and all
100 of the MIP run's labelled archs (the same labels MIP used), and those 100 plus 300 more
drawn with seed 0 from the rest.  ``graf``: extra-trees on the cells' graph features
(``bpe predictor --model graf``); ``graf + scorers``: the same with the values of the scorers
MIP's export reads (``--scorers``, default: the export's members) as features too, GRAF's
own setting; ``renas``: the pairwise-ranking network (``bpe predictor``, 300 epochs).  MIP's
export (100 labels) and the scorers are read from the same held-out tables' archs through the
cache (``--compare``).  DARTS (the BPE paper's 100 cells, their fully
trained accuracy): 5-fold cross-validation, seeded; Spearman of the pooled out-of-fold
predictions (each cell predicted by a model that never saw it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bpe.archlists import read_arch_list
from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.estimators import estimator_from_spec
from bpe.estimators.learned import fit_rows, predict_rows
from bpe.estimators.renas import RankingPredictor
from bpe.machine import machine_line
from bpe.metrics import bootstrap_ci, spearman
from bpe.outputs import atomic_write_text
from bpe.parallel import Runner
from bpe.predictors import graf_spec, member_rows, scorer_features
from bpe.spaces import get_space
from bpe.truth import load_truth

from _paths import reference_data_dir

HELDOUT = ("experiments/mip/nb201_families100_heldout_seed1.txt", "experiments/mip/nb201_families100_heldout_seed2.txt")


def fit_predict(model: str, train: list[str], targets: list[float], test: list[str], *, space: str,
                seed: int, members: list = (), runner: Runner | None = None) -> tuple[list[float], float]:
    """(predictions for ``test``, fit seconds) of a ``graf`` or ``renas`` predictor fitted on
    ``train``; ``graf`` reads ``members``' scores (through ``runner``) beside the cell's features."""
    if model == "graf":
        rows, columns = member_rows(members, train, runner), member_rows(members, test, runner)
        start = time.perf_counter()
        spec = graf_spec(train, targets, seed=seed, space=space)
        fitted = fit_rows(rows, spec["archs"], spec["targets"], model=spec["model"], cell=True, space=space)
        seconds = time.perf_counter() - start
        return predict_rows(fitted, columns, test, cell=True, space=space), seconds
    start = time.perf_counter()
    predictor = RankingPredictor("pairwise", seed=seed, epochs=300, space=space).fit(train, np.asarray(targets))
    seconds = time.perf_counter() - start
    return [float(v) for v in predictor.predict(test)], seconds


def cell(values: list[float], truth: list[float], seed: int) -> str:
    rho = spearman(values, truth)
    lo, hi = bootstrap_ci(values, truth, method="spearman", n_boot=1000, seed=seed)
    return f"{rho:.3f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mip", default="experiments/mip/nb201_sh100_az.json")
    parser.add_argument("--heldout", nargs=2, default=list(HELDOUT))
    parser.add_argument("--compare", default="az_nas,meco", help="training-free scorers on the held-out archs")
    parser.add_argument("--scorers", default=None,
                        help="the graf + scorers predictor's scorers (default: the members of MIP's export)")
    parser.add_argument("--darts-scorers", help="the DARTS graf + scorers predictor's scorers (at C16 L8)",
                        default="az_expressivity,az_progressivity,az_trainability,meco,jacob_cov,naswot,synflow,flops,params")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    data = reference_data_dir()
    truth = load_truth(str(data / "nb201" / "nb201_groundtruth.csv"), space="nb201")
    metric = "v11_cifar10valid_valid"
    doc = json.loads(Path(args.mip).read_text())
    labelled = list(doc["measured"]["archs"])
    samples = [[str(a) for a in read_arch_list(p, space="nb201")] for p in args.heldout]
    used = set(labelled).union(*samples)
    rest = [str(a) for a in get_space("nb201").enumerate_archs() if str(a) not in used]
    extra = [rest[i] for i in np.random.default_rng(args.seed).permutation(len(rest))[:300]]
    pools = {40: labelled[:40], 100: labelled, 400: labelled + extra}
    truths = [truth.query_many(s, metric) for s in samples]
    names = args.scorers.split(",") if args.scorers else [m["name"] for m in doc["estimator"].get("members", [])]
    lines = [f"# Predictors against MIP's export, NB201 CIFAR-10 ({metric})", "", machine_line(), "",
             f"Held-out samples: {', '.join(args.heldout)} (100 archs each, disjoint from every training arch). "
             f"Spearman rho [95% bootstrap CI]. graf + scorers reads {', '.join(names)} "
             "(scored on CIFAR-10, the held-out archs' scores are not part of the fit seconds).", "",
             "| estimator | labels | rho, held-out A | rho, held-out B | fit s (CPU) |", "|---|---|---|---|---|"]
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=False)
    dataset = DatasetSpec("cifar10", data_dir=str(data / "cifar10"))
    members = scorer_features(names, dataset=dataset, space="nb201", device="cpu")
    variants = (("graf predictor", "graf", []), ("graf + scorers predictor", "graf", members),
                ("renas predictor", "renas", []))
    for n, pool in pools.items():
        targets = truth.query_many(pool, metric)
        for label, model, features in variants:
            cells, seconds = [], 0.0
            for sample, t in zip(samples, truths):
                pred, s = fit_predict(model, pool, targets, sample, space="nb201", seed=args.seed, members=features,
                                      runner=runner)
                cells.append(cell(pred, t, args.seed))
                seconds = s
            lines.append(f"| {label} | {n} | {cells[0]} | {cells[1]} | {seconds:.1f} |")
            print(lines[-1], flush=True)
    specs = [("MIP's export (" + doc["measured"].get("family", "?") + ")", args.mip, len(labelled))]
    specs += [(name, name, 0) for name in args.compare.split(",") if name]
    for label, spec, n in specs:
        est = estimator_from_spec(spec, dataset=dataset, space="nb201", device="cpu")
        cells = []
        for sample, t in zip(samples, truths):
            records = runner.run(est, sample, desc=label)
            cells.append(cell([r.score if r.ok else None for r in records], t, args.seed))
        lines.append(f"| {label} | {n} | {cells[0]} | {cells[1]} | – |")
        print(lines[-1], flush=True)
    bpe_truth = load_truth(str(data / "bpe_paper"), space="darts")
    cells_ = [str(a) for a in bpe_truth.archs()]
    y = np.asarray(bpe_truth.query_many(cells_, bpe_truth.check_metric(None)), dtype=float)
    order = np.random.default_rng(args.seed).permutation(len(cells_))
    folds = [sorted(order[i::5].tolist()) for i in range(5)]
    lines += ["", f"DARTS space, the BPE paper's {len(cells_)} cells, 5-fold cross-validation (80 training cells per fold), "
              "pooled out-of-fold Spearman rho [95% CI]:", "", "| predictor | rho |", "|---|---|"]
    darts_members = scorer_features(args.darts_scorers.split(","), dataset=dataset, space="darts", device="cpu")
    for label, model, features in (("graf", "graf", []), (f"graf + scorers ({args.darts_scorers})", "graf", darts_members),
                                   ("renas", "renas", [])):
        oof = np.full(len(cells_), np.nan)
        for part in folds:
            train = [i for i in range(len(cells_)) if i not in set(part)]
            pred, _ = fit_predict(model, [cells_[i] for i in train], list(y[train]), [cells_[i] for i in part],
                                  space="darts", seed=args.seed, members=features, runner=runner)
            oof[part] = pred
        lines.append(f"| {label} | {cell(list(oof), list(y), args.seed)} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
