"""How stable a live MIP run's pruning decisions are: across forest seeds, and across two
disjoint architecture samples.

    python experiments/mip_stability.py --mip experiments/mip/nb201_cpu60.json --jobs 2

Re-measures every setting the run trained on two disjoint, seeded halves of its architecture
sample (all trainings come from the cache: nothing is trained again when the run's cache is
there), then replays each round's importance computation on each half and on the whole sample
with the run's own method and forest seeds.  Prints, per round, the least important knob on
each sample, the share of forest seeds agreeing with it, and whether the halves agree.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from bpe.cache import EvalCache, default_cache_dir
from bpe.mip.evaluators import Proposal
from bpe.mip.importance import knob_importance
from bpe.mip.job import live_evaluator_from_document
from bpe.mip.knobs import DERIVED_KNOBS
from bpe.parallel import Runner


def _measure(evaluator, trajectory):
    """rho of every trajectory entry on ``evaluator``'s archs (one training per setting)."""
    by_training: dict[tuple, list[int]] = {}
    for i, entry in enumerate(trajectory):
        key = tuple(sorted((k, v) for k, v in entry["setting"].items() if k not in DERIVED_KNOBS))
        by_training.setdefault(key, []).append(i)
    rho = [math.nan] * len(trajectory)
    for ids in by_training.values():
        setting = trajectory[ids[0]]["setting"]
        variants = [{k: v for k, v in trajectory[i]["setting"].items() if k in DERIVED_KNOBS} for i in ids]
        results = evaluator.evaluate(Proposal(setting), variants=[v for v in variants if v])
        for i, result in zip(ids, results):
            rho[i] = result.spearman
    return rho


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mip", required=True, help="bpe.json of a live MIP run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="the data folder, if not where the run had it")
    args = parser.parse_args()

    doc = json.loads(Path(args.mip).read_text())
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()))
    archs = doc["measured"]["archs"]
    order = np.random.default_rng(args.split_seed).permutation(len(archs))
    half = len(archs) // 2
    samples = {"all": archs, "A": [archs[i] for i in order[:half]], "B": [archs[i] for i in order[half:]]}
    trajectory = doc["trajectory"]
    rho = {}
    for name, sample in samples.items():
        evaluator = live_evaluator_from_document(doc, runner=runner, archs=sample, data_dir=args.data_dir)
        rho[name] = _measure(evaluator, trajectory)
    knobs = evaluator.knobs
    seeds = list(range(doc["mip"]["forest_seeds"]))
    method = doc["mip"]["importance"]

    print(f"{len(archs)} archs split into two halves of {half} and {len(archs) - half} (seed {args.split_seed}); "
          f"{method}, {len(seeds)} forest seeds")
    pairs = [(a, b) for a, b in zip(rho["A"], rho["B"]) if math.isfinite(a) and math.isfinite(b)]
    diff = [abs(a - b) for a, b in pairs]
    print(f"rho of the same setting on the two halves: mean |difference| {np.mean(diff):.3f}, "
          f"max {np.max(diff):.3f}; correlation of the settings' rho across halves "
          f"{np.corrcoef([a for a, _ in pairs], [b for _, b in pairs])[0, 1]:.3f}")
    print()
    print("| round | free knobs | pruned by the run | least (all, agreement) | least (half A, agreement) "
          "| least (half B, agreement) | halves agree |")
    print("|---|---|---|---|---|---|---|")
    seen: list[int] = []
    agree = total = 0
    for rnd in doc["rounds"]:
        seen += rnd["measured"]
        free = rnd["free"]
        cells = []
        least = {}
        for name in ("all", "A", "B"):
            settings = [trajectory[i]["setting"] for i in seen]
            values = [rho[name][i] for i in seen]
            usable = [s for s, r in zip(settings, values) if math.isfinite(r)]
            varied = [k for k in free if len({s[k] for s in usable}) >= 2]
            if len(varied) < 2:
                cells.append("(fewer than 2 varied)")
                continue
            imp = knob_importance(knobs, settings, values, method=method, seeds=seeds)
            least[name] = imp.least(varied)
            cells.append(f"{least[name]} ({imp.agreement(varied):.0%})")
        same = "A" in least and "B" in least and least["A"] == least["B"]
        if "A" in least and "B" in least:
            total += 1
            agree += same
        print(f"| {rnd['round']} | {len(free)} | {rnd['pruned'] or '-'} | " + " | ".join(cells)
              + f" | {'yes' if same else 'no'} |")
    print()
    print(f"the two halves pick the same least important knob in {agree} of {total} rounds")


if __name__ == "__main__":
    main()
