"""Minimum Importance Pruning on the BPE paper's records (37 settings x 100 DARTS cells).

    python experiments/mip_tabular.py [--seeds 20] [--random-seeds 1000]

Prints Markdown tables: (1) each setting's rho recomputed against the reported one; (2) MIP
under per-net caps of 0.1 and 0.6 GPU-hours: the chosen setting, its rho, the pruning order,
how many settings MIP looked up before it found the chosen one, against random sampling of
the recorded settings (mean over seeds, same cap, until a setting at least as good is found);
(3) how stable the pruning decisions are: agreement across forest seeds, across sampler
seeds, across importance methods and across two disjoint halves of the architectures.
Writes ``results/mip_tabular/bpe_cap<C>.json`` with plots.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

from bpe.mip import MIPSettings, TabularEvaluator, read_tabular_records, run_mip
from bpe.mip.job import mip_tabular

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent


def records_dir() -> Path:
    """``$BPE_DATA_DIR/bpe_paper`` or ``../shared/data/bpe_paper`` beside the project."""
    return reference_data_dir() / "bpe_paper"


def random_lookups(evaluator: TabularEvaluator, target: float, cap: float, seeds: int) -> tuple[float, float]:
    """Mean (and std) number of recorded settings a uniform random order looks up before one with
    cost <= ``cap`` and rho >= ``target``."""
    cands = evaluator.candidates()
    rho = np.array([evaluator.evaluate(c)[0].spearman for c in cands])
    cost = np.array([evaluator.recorded_cost(c) for c in cands])
    hit = (rho >= target - 1e-12) & (cost <= cap)
    counts = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(cands))
        counts.append(int(np.flatnonzero(hit[order])[0]) + 1)
    return float(np.mean(counts)), float(np.std(counts))


def order_of(result) -> list[str]:
    return [r.pruned for r in result.rounds if r.pruned]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="sampler seeds for the stability table")
    parser.add_argument("--random-seeds", type=int, default=1000, help="seeds of the random-sampling baseline")
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--out-dir", default="results/mip_tabular")
    args = parser.parse_args()
    records = read_tabular_records(records_dir())
    ev = TabularEvaluator(records)

    print("## Recomputed rho (Spearman of accuracies.csv against ground_truth.csv)\n")
    diffs = []
    for c in ev.candidates():
        r = ev.evaluate(c)[0]
        diffs.append(abs(r.spearman - records.settings.loc[c.record, "spearman_reported"]))
    print(f"{len(diffs)} settings; max |recomputed - spearman_reported| = {max(diffs):.5f}\n")

    print("## MIP (fANOVA, within-noise pruning, seed 0) against random sampling of the records\n")
    print("| cap (GPU-h/net) | chosen | rho [95% CI] | cost | pruning order | lookups to chosen | "
          f"random: lookups for rho >= chosen (mean ± std, {args.random_seeds} seeds) | total lookups |")
    print("|---|---|---|---|---|---|---|---|")
    for cap in (0.1, 0.6):
        settings = MIPSettings(per_round=args.per_round, max_cost=cap, skip_over_cap=False)
        report, _ = mip_tabular(folder=records_dir(), settings=settings, out=Path(args.out_dir) / f"bpe_cap{cap}.json")
        doc = report.document
        m = doc["measured"]
        mean, std = random_lookups(ev, m["spearman"], cap, args.random_seeds)
        order = [r["pruned"] for r in doc["rounds"] if r.get("pruned")]
        print(f"| {cap} | {m['name']} | {m['spearman']:.3f} [{m['spearman_ci95'][0]:.2f}, {m['spearman_ci95'][1]:.2f}] "
              f"| {m['cost_per_arch']} | {' → '.join(order)} | {m['lookups_to_chosen']} | {mean:.1f} ± {std:.1f} "
              f"| {m['lookups']} |")

    print("\n## Stability of the pruning decisions\n")
    base = run_mip(ev, MIPSettings(per_round=args.per_round, max_cost=0.6, skip_over_cap=False), progress=False,
                   on_event=lambda _: None)
    agree = [r.agreement for r in base.rounds if r.pruned]
    print("Agreement across 10 forest seeds, per round (share of forests whose least important knob is the one "
          "pruned): " + ", ".join(f"{a:.0%}" for a in agree) + "\n")

    print(f"Pruning order over {args.seeds} sampler seeds (cap 0.6): position at which each knob is pruned\n")
    positions = collections.defaultdict(list)
    last_two = collections.Counter()
    for seed in range(args.seeds):
        res = run_mip(ev, MIPSettings(per_round=args.per_round, max_cost=0.6, skip_over_cap=False, seed=seed),
                      progress=False, on_event=lambda _: None)
        order = order_of(res)
        for i, k in enumerate(order):
            positions[k].append(i + 1)
        last_two[" + ".join(sorted(k for k in ev.knobs.names if k not in order[:-1]))] += 1
    print("| knob | mean position (1 = pruned first) | min | max |")
    print("|---|---|---|---|")
    for k, pos in sorted(positions.items(), key=lambda kv: np.mean(kv[1])):
        print(f"| {k} | {np.mean(pos):.2f} | {min(pos)} | {max(pos)} |")
    print(f"\nlast two knobs standing: {dict(last_two)}\n")

    print(f"## Over {args.seeds} sampler seeds: MIP (measuring settings above the cap or skipping those the cost "
          f"model predicts above it) against random sampling with the same number of lookups\n")
    print("| cap | sampler | mean rho of the chosen setting | share with rho >= target | mean lookups to the chosen "
          "| mean lookups in all |")
    print("|---|---|---|---|---|---|")
    cands = ev.candidates()
    all_rho = np.array([ev.evaluate(c)[0].spearman for c in cands])
    all_cost = np.array([ev.recorded_cost(c) for c in cands])
    for cap, target in ((0.1, 0.49), (0.6, 0.62)):
        for mode in ("explore", "skip"):
            chosen, to_chosen, total = [], [], []
            for seed in range(args.seeds):
                res = run_mip(ev, MIPSettings(per_round=args.per_round, max_cost=cap, skip_over_cap=mode == "skip",
                                              seed=seed), progress=False, on_event=lambda _: None)
                chosen.append(res.chosen.spearman)
                to_chosen.append(res.trajectory.index(res.chosen) + 1)
                total.append(len(res.trajectory))
            chosen = np.array(chosen)
            print(f"| {cap} | MIP, {mode} | {chosen.mean():.3f} | {np.mean(chosen >= target):.0%} | "
                  f"{np.mean(to_chosen):.1f} | {np.mean(total):.1f} |")
            best = []
            for seed in range(args.random_seeds):
                pick = np.random.default_rng(seed).permutation(len(cands))[: int(round(np.mean(total)))]
                ok = [all_rho[i] for i in pick if all_cost[i] <= cap]
                best.append(max(ok) if ok else np.nan)
            best = np.array(best)
            print(f"| {cap} | random, {int(round(np.mean(total)))} lookups | {np.nanmean(best):.3f} | "
                  f"{np.mean(best >= target):.0%} | – | {int(round(np.mean(total)))} |")
    print()

    print("Importance methods (seed 0, cap 0.6): pruning order\n")
    for method in ("fanova", "mdi", "permutation"):
        res = run_mip(ev, MIPSettings(per_round=args.per_round, max_cost=0.6, skip_over_cap=False, importance=method),
                      progress=False, on_event=lambda _: None)
        print(f"- {method}: {' → '.join(order_of(res))}; chosen {res.chosen.name} rho {res.chosen.spearman:.3f}")

    print("\nTwo disjoint halves of the 100 architectures (seeded split), cap 0.6, seed 0:\n")
    perm = np.random.default_rng(0).permutation(len(records.truth))
    for name, idx in (("half A", perm[:50]), ("half B", perm[50:])):
        half = read_tabular_records(records_dir())
        half.accuracies, half.truth = half.accuracies.iloc[idx], half.truth[idx]
        res = run_mip(TabularEvaluator(half), MIPSettings(per_round=args.per_round, max_cost=0.6, skip_over_cap=False),
                      progress=False, on_event=lambda _: None)
        agreement = ", ".join(f"{r.agreement:.0%}" for r in res.rounds if r.pruned)
        print(f"- {name}: {' → '.join(order_of(res))}; chosen {res.chosen.name} rho {res.chosen.spearman:.3f} "
              f"(agreement per round: {agreement})")


if __name__ == "__main__":
    main()
