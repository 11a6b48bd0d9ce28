"""Can any estimator meet #25's DARTS target on a fold's held-out cells, and could MIP's
confirmation tell it apart from the cheapest finalist with the labels it is allowed?

The target on a fold: Spearman rho on its 50 held-out cells >= the recorded BPE-2 (``test32``)
there, at no more cost per cell than BPE-1 (``test5``); the floor: >= the recorded BPE-1 there.
This script reads the BPE paper's own 37 recorded proxy-training settings (GPU trainings of the
same 100 cells, ``../shared/data/bpe_paper``) and reports, per fold, each setting's rho on the
held-out cells beside its GPU cost relative to BPE-1 (the paper's GPU-hours; settings timed on a
2080Ti are converted to V100 time by nothing: their ratio is shown as recorded, which flatters
them), then the cheapest recorded setting that reaches the target.  With ``--mip`` it also lists
each MIP run's confirmation comparisons: how wide a paired interval the confirmation cells give,
so how much better than the cheapest finalist a dearer one must rank to be kept, and about how
many cells of the same evidence would decide each comparison at its measured difference
(:func:`bpe.mip.families.archs_to_decide`).

    python experiments/darts_target_feasibility.py \\
        --fold "1=experiments/mip/darts_heldout50.txt" \\
        --fold "2=experiments/mip/darts_fold1_labelled50.txt" \\
        --mip experiments/mip/darts_mip50_az.json --mip experiments/mip/darts_mip50_fold2.json \\
        --out experiments/mip/darts_target_feasibility.md

Nothing is trained: the figures are lookups and rank correlations (seconds on any machine).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bpe.archlists import read_arch_list
from bpe.machine import machine_line
from bpe.metrics import rank_stats
from bpe.mip.families import archs_to_decide
from bpe.outputs import atomic_write_text
from bpe.truth.bpe_paper import BPEPaperBenchmark

from _paths import reference_data_dir

#: The paper's estimators the target and floor are stated in.
BPE1, BPE2 = "test5", "test32"


def fold_table(bench: BPEPaperBenchmark, name: str, cells: list[str],
               live: dict | None = None) -> tuple[list[str], dict[str, float]]:
    """Markdown lines of one fold: every recorded setting on ``cells``, cheapest first (and, with
    ``live``, a recorded setting trained on this machine by ``experiments/darts_bpe_live.py``)."""
    truths = [bench.query(c) for c in cells]
    base_hours = float(bench.setting_info(BPE1)["gpu_hours_per_net"])
    rows = []
    for setting in bench.settings():
        info = bench.setting_info(setting)
        stats = rank_stats([bench.query(c, setting) for c in cells], truths)
        rows.append((float(info["gpu_hours_per_net"]) / base_hours, setting, info, stats))
    rows.sort(key=lambda r: r[0])
    rho = {setting: stats.spearman for _, setting, _, stats in rows}
    floor, target = rho[BPE1], rho[BPE2]
    reach = [r for r in rows if r[3].spearman >= target]
    within = [r for r in rows if r[0] <= 1.0]
    best_within = max(within, key=lambda r: r[3].spearman)
    lines = [f"## Fold {name}: {len(cells)} held-out cells", "",
             f"Floor (recorded BPE-1, `{BPE1}`): rho **{floor:.3f}**; target (recorded BPE-2, `{BPE2}`): rho "
             f"**{target:.3f}** at no more cost per cell than BPE-1.", ""]
    if live is not None:
        scored = dict(zip(live["cells"], live["ours"]))
        here = [c for c in cells if scored.get(c) is not None]
        stats = rank_stats([scored[c] for c in here], [bench.query(c) for c in here])
        if len(here) < 3:
            lines += [f"- `{live['setting']}` trained live on this machine: not on these cells."]
        else:
            lines += [f"- `{live['setting']}` trained live on this machine ({live['estimator']}; "
                      f"{live['cpu_seconds_per_cell']:.0f} CPU-s/cell): rho **{stats.spearman:.3f}** "
                      f"[{stats.spearman_ci95[0]:.2f}, {stats.spearman_ci95[1]:.2f}] on {len(here)} of these cells "
                      f"({'at or above' if stats.spearman >= floor else 'below'} the floor, "
                      f"{'at or above' if stats.spearman >= target else 'below'} the target)."]
    lines += [
             f"- Best recorded setting at <= BPE-1's cost: `{best_within[1]}` rho {best_within[3].spearman:.3f} "
             f"({best_within[0]:.2f}x BPE-1's GPU time).",
             "- Cheapest recorded setting reaching the target: " + (
                 f"`{reach[0][1]}` rho {reach[0][3].spearman:.3f} at **{reach[0][0]:.2f}x** BPE-1's GPU time"
                 if reach else "none"),
             f"- Recorded settings at <= 1.3x BPE-1's time reaching the target: "
             f"{sum(1 for r in reach if r[0] <= 1.3)} of {sum(1 for r in rows if r[0] <= 1.3)}; reaching the floor: "
             f"{sum(1 for r in rows if r[0] <= 1.3 and r[3].spearman >= floor)}.", "",
             "| setting | epochs | batch | layers | channels | px | bits | GPU time / BPE-1's (GPU) | rho [95% CI] "
             "| floor | target |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for ratio, setting, info, stats in rows:
        lines.append(f"| `{setting}` | {info['epochs']} | {info['batch_size']} | {info['layers']} | {info['channels']} "
                     f"| {info['image_size']} | {info['float_bits']} | {ratio:.2f} ({info['gpu']}) | "
                     f"{stats.spearman:.3f} [{stats.spearman_ci95[0]:.2f}, {stats.spearman_ci95[1]:.2f}] | "
                     f"{'yes' if stats.spearman >= floor else ''} | {'yes' if stats.spearman >= target else ''} |")
    return lines + [""], {"floor": floor, "target": target}


def confirmation_lines(path: str) -> list[str]:
    """A MIP run's confirmation comparisons: the paired intervals its confirmation cells gave."""
    doc = json.loads(Path(path).read_text())
    decision = doc.get("confirmation") or {}
    lines = [f"### `{path}`", "",
             "| dearer finalist vs the one kept | rho difference [95% CI] | width | cells | evidence "
             "| cells that would decide it at this difference |",
             "|---|---|---|---|---|---|"]
    for c in decision.get("comparisons", []):
        lo, hi = c.get("ci95") or [None, None]
        if lo is None or c.get("difference") is None:
            continue
        needed = archs_to_decide(c)
        lines.append(f"| {c['dearer'][:60]} vs {c['kept'][:60]} | {c['difference']:+.3f} [{lo:+.2f}, {hi:+.2f}] | "
                     f"{hi - lo:.2f} | {c['n_archs']} | {c.get('evidence', '')} | "
                     f"{'never (it ranks lower)' if needed is None else f'about {needed}'} |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(reference_data_dir() / "bpe_paper"))
    parser.add_argument("--fold", action="append", required=True, metavar="NAME=FILE",
                        help="a fold's held-out cells (one genotype per line); repeatable")
    parser.add_argument("--mip", action="append", default=[], help="a MIP run's bpe.json (its confirmation)")
    parser.add_argument("--live", default=None,
                        help="the JSON of experiments/darts_bpe_live.py (a recorded setting trained here): its rho "
                             "on each fold's cells")
    parser.add_argument("--out", required=True, help="Markdown file to write")
    args = parser.parse_args()
    folds = []
    for spec in args.fold:
        name, sep, file = spec.partition("=")
        if not sep or not file:
            raise SystemExit(f"--fold takes NAME=FILE, got {spec!r}")
        folds.append((name, file))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bench = BPEPaperBenchmark(args.records)
    live = json.loads(Path(args.live).read_text()) if args.live else None
    lines = ["# The DARTS target of #25 against the BPE paper's own recorded settings", "",
             machine_line() + " (lookups only: nothing here depends on the machine)", ""]
    for name, file in folds:
        cells = read_arch_list(file, "darts")
        table, _ = fold_table(bench, name, cells, live)
        lines += table
    if args.mip:
        lines += ["## What MIP's confirmation can tell apart", ""]
        for path in args.mip:
            lines += confirmation_lines(path)
    atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
