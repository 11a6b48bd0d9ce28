"""Baseline for a live MIP run: random search over the same knob space, measuring as many
settings as MIP trained, on the same architectures, with the same cap rule.

    python experiments/mip_random.py --mip results/mip_nb201/bpe.json --jobs 2

Writes ``random_best.json`` beside the MIP file (same format, loadable as an estimator) and
prints the best setting found and its rho on MIP's architecture sample.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.mip import MIPSettings, random_settings_search
from bpe.mip.export import mip_document
from bpe.mip.job import live_evaluator_from_document
from bpe.mip.search import MIPResult, choose
from bpe.outputs import atomic_write_text, json_text
from bpe.parallel import Runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mip", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="the data folder, if not where the MIP run had it")
    args = parser.parse_args()
    doc = json.loads(Path(args.mip).read_text())
    m = doc["measured"]
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()))
    ev = live_evaluator_from_document(doc, runner=runner, data_dir=args.data_dir)
    n = doc["mip"]["n_settings_measured"]
    cap = doc["objective"]["max_cost"]
    results = random_settings_search(ev, n, seed=args.seed, max_cost=cap, parallel=args.jobs)
    best = choose(results, cap)
    settings = MIPSettings(per_round=n, max_cost=cap, seed=args.seed)
    rdoc = mip_document(MIPResult(chosen=best, trajectory=results, rounds=[], fixed={}, cost_model={}, spent=0.0,
                                  stop_reason="random search", settings=settings, knobs=doc["knobs"]),
                        provenance={k: m.get(k) for k in ("cost_unit", "truth", "metric", "dataset", "data_dir", "archs",
                                                       "arch_seed")})
    out = Path(args.mip).with_name("random_best.json")
    atomic_write_text(out, json_text(rdoc))
    print(f"random search, {n} settings: best {best.name} rho {best.spearman:.3f} at {best.cost_per_arch:.1f} s/arch; "
          f"MIP chose rho {m['spearman']:.3f} at {m['cost_per_arch']:.1f} s/arch; wrote {out}")


if __name__ == "__main__":
    main()
