"""Stability of MIP's export across runs: each run's exported estimator (``bpe.json``) on the
same held-out archs, with its family, its search and confirmation rho, and the spread.

    python experiments/mip_seeds_heldout.py --mip results/mip_sh/bpe.json results/mip_sh_seed1/bpe.json \\
        results/mip_sh_seed2/bpe.json --archs experiments/mip/nb201_families100_heldout_seed1.txt \\
        experiments/mip/nb201_families100_heldout_seed2.txt --jobs 2 --out experiments/mip/nb201_sh_seeds.md

Every held-out arch list must share none with any run's labelled archs.  Each export is scored
through the cache (a rerun recomputes nothing); rho is Spearman against the run's truth metric
with its 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bpe.archlists import read_arch_list
from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.estimators import estimator_from_spec
from bpe.evaluate import evaluate_estimator
from bpe.machine import machine_line
from bpe.outputs import atomic_write_text
from bpe.parallel import Runner
from bpe.truth import load_truth

from _paths import reference_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mip", nargs="+", required=True, help="the runs' bpe.json files")
    parser.add_argument("--archs", nargs="+", required=True, help="held-out arch lists (one per line)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", required=True, help="Markdown table to write")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    docs = [(path, json.loads(Path(path).read_text())) for path in args.mip]
    space = docs[0][1]["measured"].get("space", "nb201")
    samples = [(path, read_arch_list(path, space)) for path in args.archs]
    for path, doc in docs:
        for name, archs in samples:
            shared = set(archs) & set(doc["measured"]["archs"])
            if shared:
                raise SystemExit(f"{name} shares {len(shared)} archs with the labelled archs of {path}")
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()))
    rows, held = [], {name: [] for name, _ in samples}
    for path, doc in docs:
        m = doc["measured"]
        truth = load_truth(m["truth"], space=space)
        dataset = DatasetSpec(m["dataset"]["name"], str(reference_data_dir() / m["dataset"]["name"]))
        est = estimator_from_spec(path, dataset=dataset, truth=truth, metric=m["metric"], space=space)
        cells = []
        for name, archs in samples:
            r = evaluate_estimator(est, truth, archs, metric=m["metric"], runner=runner, seed=0).to_dict()
            held[name].append(r["spearman"])
            cells.append(f"{r['spearman']:.3f} [{r['spearman_ci95'][0]:.2f}, {r['spearman_ci95'][1]:.2f}]")
            print(f"{path} on {name}: rho {r['spearman']:.3f} {r['seconds_per_arch']:.3g} s/arch", flush=True)
        conf = m.get("confirmation_spearman")
        rows.append(f"| {doc['mip'].get('seed')} | {m.get('family', 'proxy')} | {m['name']} | {m['spearman']:.3f} | "
                    + (f"{conf:.3f}" if conf is not None else "–") + " | " + " | ".join(cells)
                    + f" | {r['seconds_per_arch']:.3g} |")
    families = {doc["measured"].get("family", "proxy") for _, doc in docs}
    lines = [machine_line(), "",
             f"{len(docs)} MIP runs ({', '.join(p for p, _ in docs)}), each export on the same held-out archs "
             f"({', '.join(f'{n}: {len(a)}' for n, a in samples)}), none of them labelled in any run.", "",
             "| sampler seed | family | exported estimator | rho, search archs | rho, confirmation | "
             + " | ".join(f"rho held-out {Path(n).stem} [95% CI]" for n, _ in samples) + " | s/arch |",
             "|---|---|---|---|---|" + "---|" * len(samples) + "---|", *rows, "",
             "Spread (max - min) of the held-out rho over the runs: "
             + ", ".join(f"{Path(n).stem} {np.max(v) - np.min(v):.3f}" for n, v in held.items())
             + f"; families exported: {', '.join(sorted(families))}."]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
