"""A MIP-found setting on held-out architectures, next to what a user would pick instead.

    python experiments/mip_heldout.py --mip results/mip_nb201/bpe.json --archs 100 --seed 1 --jobs 2 \
        [--random results/mip_nb201/random_best.json] [--hybrid results/mip_hybrid/bpe.json]

Draws ``--archs`` NAS-Bench-201 archs (seeded, among those the truth table has a value for)
that the MIP run did not use, and measures on them, against the same truth metric: the found
setting, the hand-picked ``experiments/configs/nb201_c8_n1_16px_e10.json``, every training-free
scorer, and (``--random``) the best setting that random search over the same knobs found with
the same number of trained settings (``experiments/mip_random.py``), (``--hybrid``) the hybrid a
MIP run with the ``hybrid`` knob found (``--knobs cpu-hybrid``: the rank blend of a setting and a
scorer; an older ``bpe.json`` whose config holds ``"hybrid"`` is read as that blend), and votes of
scorers.  Prints a Markdown table (rho with its bootstrap interval, tau, seconds per arch) and
whether the found settings rank better than the best training-free scorer (intervals apart), and
draws the correlation-vs-cost frontier; every proxy training and every score is cached.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.config import BPEConfig
from bpe.data import DatasetSpec
from bpe.estimators import create_estimator, estimator_from_spec
from bpe.evaluate import evaluate_estimator, write_results
from bpe.mip.job import sample_truth_archs
from bpe.parallel import Runner
from bpe.scoring import frontier_plot
from bpe.truth import load_truth

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent
TRAINING_FREE = ("meco", "swap_reg", "swap", "zico", "naswot", "jacob_cov", "epe_nas", "synflow", "snip", "grad_norm",
                 "fisher", "params", "flops", "vote:swap_reg+naswot+synflow", "vote:meco+swap_reg+zico")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mip", required=True, help="bpe.json written by `bpe mip`")
    parser.add_argument("--random", default=None, help="bpe.json of the random-search baseline")
    parser.add_argument("--hybrid", default=None, help="bpe.json of a MIP run with the hybrid knob")
    parser.add_argument("--archs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scorers", default=",".join(TRAINING_FREE))
    parser.add_argument("--out-dir", default="results/mip_heldout")
    parser.add_argument("--rows", default="found,hybrid,random,e10,scorers",
                        help="which rows to measure (the sample is the same whichever): found, hybrid, random, e10, "
                             "scorers")
    parser.add_argument("--disjoint-from", type=int, nargs="*", default=[],
                        help="also leave out the held-out samples of these seeds (for a second, disjoint sample)")
    args = parser.parse_args()

    doc = json.loads(Path(args.mip).read_text())
    m = doc["measured"]
    truth = load_truth(str(reference_data_dir() / "nb201" / "nb201_groundtruth.csv"))
    metric = truth.check_metric(m["metric"])
    tuned = list(m["archs"])  # every arch any given setting was chosen on stays out of the held-out sample
    for path in (args.hybrid, args.random):
        if path:
            other = json.loads(Path(path).read_text())["measured"]
            if other["metric"] != m["metric"]:
                raise SystemExit(f"{path} was measured against {other['metric']}, {args.mip} against {m['metric']}")
            tuned += [a for a in other["archs"] if a not in tuned]
    exclude = list(m["archs"])
    for other in args.disjoint_from:
        exclude += sample_truth_archs(truth, metric, args.archs, other, exclude=m["archs"])
    exclude += [a for a in tuned if a not in exclude]
    archs = sample_truth_archs(truth, metric, args.archs, args.seed, exclude=exclude)
    dataset = DatasetSpec("cifar10", str(reference_data_dir() / "cifar10"))
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()))
    out = Path(args.out_dir) / f"seed{args.seed}"

    rows = []
    wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
    entries = []
    if "found" in wanted:
        entries.append(("MIP-found (" + Path(args.mip).name + ")", estimator_from_spec(args.mip, dataset=dataset)))
    if args.hybrid and "hybrid" in wanted:
        entries.append(("MIP-found hybrid (" + Path(args.hybrid).name + ")",
                        estimator_from_spec(args.hybrid, dataset=dataset)))
    if args.random and "random" in wanted:
        entries.append(("random search, same #settings", estimator_from_spec(args.random, dataset=dataset)))
    if "e10" in wanted:
        e10 = BPEConfig.from_json(HERE / "configs" / "nb201_c8_n1_16px_e10.json")
        entries.append(("hand-picked e10", create_estimator("bpe", config=e10, dataset=dataset)))
    if "scorers" in wanted:
        for name in [s for s in args.scorers.split(",") if s]:
            entries.append((name, estimator_from_spec(name, dataset=dataset)))
    for label, est in entries:
        print(f"{label}: {est.describe()}", flush=True)
        result = evaluate_estimator(est, truth, archs, metric=metric, runner=runner, seed=args.seed)
        stem = label.split(" ")[0].lower() + ("_hybrid" if "hybrid" in label else "")
        write_results(result, out / f"{stem}_{est.name}.json".replace(":", "_").replace("+", "_"), plot=False)
        rows.append((label, est.describe(), result.to_dict()))

    others = f" and from the held-out samples of seeds {args.disjoint_from}" if args.disjoint_from else ""
    print(f"\n{args.archs} held-out archs (seed {args.seed}, disjoint from the {len(m['archs'])} MIP used{others}), "
          f"truth {metric}\n")
    print("| estimator | setting | Spearman ρ [95% CI] | Kendall τ | s/arch |")
    print("|---|---|---|---|---|")
    for label, desc, r in rows:
        lo, hi = r["spearman_ci95"]
        print(f"| {label} | {desc} | {r['spearman']:.3f} [{lo:.2f}, {hi:.2f}] | {r['kendall']:.3f} | "
              f"{r['seconds_per_arch']:.2f} |")
    trained = [(label, r) for label, _, r in rows if label.startswith("MIP-found")]
    free = [(label, r) for label, _, r in rows if label in args.scorers.split(",") or label.startswith("vote")]
    if trained and free:
        best_label, best = max(free, key=lambda lr: lr[1]["spearman"])
        print(f"\nbest training-free: {best_label} rho {best['spearman']:.3f} "
              f"[{best['spearman_ci95'][0]:.2f}, {best['spearman_ci95'][1]:.2f}] at {best['seconds_per_arch']:.2f} s/arch")
        for label, r in trained:
            verdict = ("ranks better (intervals apart)" if r["spearman_ci95"][0] > best["spearman_ci95"][1] else
                       "does NOT rank better" if r["spearman"] <= best["spearman"] else
                       "is higher but within the intervals")
            print(f"{label}: rho {r['spearman']:.3f} ({r['spearman'] - best['spearman']:+.3f}) at "
                  f"{r['seconds_per_arch']:.1f} s/arch ({r['seconds_per_arch'] / best['seconds_per_arch']:.0f}x the "
                  f"scorer's CPU): {verdict}")
    points = [{"label": label.split(" (")[0], "spearman": r["spearman"], "seconds_per_arch": r["seconds_per_arch"],
               "kind": "training-free" if (label, r) in free else "bpe"} for label, _, r in rows]
    plot = frontier_plot(points, out / "frontier.png",
                         title=f"{args.archs} held-out NB201 archs (seed {args.seed}) vs {metric}")
    print(f"wrote {plot}")


if __name__ == "__main__":
    main()
