"""A MIP run's finalists (the best setting, scorer, blend and learned blend it compared on its
confirmation archs) and its export, on held-out archs it never saw, beside other estimators
(training-free scorers, a benchmark's recorded settings), with the paired difference to a baseline.

    python experiments/mip_finalists_heldout.py --mip results/mip_families/bpe.json \
        --archs results/mip_families/heldout_seed1.txt --jobs 2 --out results/mip_families/heldout_seed1.md
    python experiments/mip_finalists_heldout.py --mip results/mip_darts/bpe.json --archs heldout_cells.txt \
        --baseline recorded:test5 --compare recorded:test32,recorded:test23,meco,naswot,synflow,params,flops \
        --out results/mip_darts/heldout.md

``--baseline`` and ``--compare`` take registered scorers or ``recorded:METRIC`` (a metric of the
run's truth looked up per arch: the BPE paper's recorded settings, e.g. ``test5`` = BPE-1).

``--archs`` lists the held-out archs (one per line); it must share none with the run's labelled
archs (``measured.archs``).  Each finalist is rebuilt from the run's trajectory
(:func:`bpe.mip.export.export_spec`), so a blend keeps the weights fitted on the search archs.
Every training and score is cached.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bpe.archlists import read_arch_list
from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.estimators import estimator_from_spec
from bpe.evaluate import evaluate_estimator
from bpe.machine import machine_line
from bpe.metrics import paired_bootstrap_difference
from bpe.mip.evaluators import SettingResult
from bpe.mip.export import export_spec
from bpe.outputs import atomic_write_text
from bpe.parallel import Runner
from bpe.truth import load_truth

from _paths import reference_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mip", required=True)
    parser.add_argument("--archs", required=True, help="file of held-out archs")
    parser.add_argument("--baseline", default="meco", help="scorer or recorded:METRIC (the paired difference's)")
    parser.add_argument("--compare", default="", help="comma-separated scorers or recorded:METRIC, shown too")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", required=True, help="Markdown table to write")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    doc = json.loads(Path(args.mip).read_text())
    m = doc["measured"]
    space = m.get("space", "nb201")
    archs = read_arch_list(args.archs, space)
    if set(archs) & set(m["archs"]):
        raise SystemExit(f"{args.archs} shares {len(set(archs) & set(m['archs']))} archs with the run's labelled archs")
    truth = load_truth(m["truth"], space=space)
    dataset = DatasetSpec(m["dataset"]["name"], str(reference_data_dir() / m["dataset"]["name"]))
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()))
    by_name = {t["name"]: t for t in doc["trajectory"]}
    entries = []
    for f in doc["confirmation"]["finalists"]:
        t = by_name[f["name"]]
        result = SettingResult(**{k: t[k] for k in SettingResult.__dataclass_fields__ if k in t})
        spec_path = Path(args.out).with_name(f"{Path(args.out).stem}_finalist_{f['family']}.json")
        atomic_write_text(spec_path, json.dumps({"kind": "bpe-mip", "estimator": export_spec(result),
                                                 "config": export_spec(result).get("config")}))
        label = f"{f['family']}{' (exported)' if doc['confirmation']['chosen'] == len(entries) else ''}"
        entries.append((label, f["name"], str(spec_path)))
    for spec in [s for s in args.compare.split(",") if s] + [args.baseline]:
        entries.append((("baseline: " if spec == args.baseline else "") + spec, spec, spec))
    rows, scores = [], {}
    for label, name, spec in entries:
        if spec.startswith("recorded:"):  # a recorded setting: the truth's own metric, looked up
            est = estimator_from_spec("oracle", truth=truth, metric=spec.split(":", 1)[1], space=space)
        else:
            est = estimator_from_spec(spec, dataset=dataset, truth=truth, metric=m["metric"], space=space)
        r = evaluate_estimator(est, truth, archs, metric=m["metric"], runner=runner, seed=0).to_dict()
        scores[label] = [rec["score"] for rec in r["records"]]
        truths = [rec["truth"] for rec in r["records"]]
        rows.append((label, name, r))
        print(f"{label}: rho {r['spearman']:.3f} [{r['spearman_ci95'][0]:.2f}, {r['spearman_ci95'][1]:.2f}] "
              f"{r['seconds_per_arch']:.3g} s/arch", flush=True)
    base = scores[entries[-1][0]]
    lines = [f"{machine_line()}", "",
             f"{len(archs)} held-out archs ({args.archs}), none of the run's {len(m['archs'])} labelled archs; truth "
             f"{m['metric']}; paired bootstrap (1,000 resamples) of rho minus {args.baseline}'s on the same archs.", "",
             f"| candidate | estimator | rho [95% CI] | tau | s/arch | rho - {args.baseline} [95% CI] |",
             "|---|---|---|---|---|---|"]
    for label, name, r in rows:
        d = paired_bootstrap_difference(scores[label], base, truths)
        lines.append(f"| {label} | {name} | {r['spearman']:.3f} [{r['spearman_ci95'][0]:.2f}, "
                     f"{r['spearman_ci95'][1]:.2f}] | {r['kendall']:.3f} | {r['seconds_per_arch']:.3g} | "
                     f"{d['difference']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
