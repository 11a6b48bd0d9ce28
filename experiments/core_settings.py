"""Core issue, must-show 3: several proxy settings on the same seeded NB201 archs on CIFAR-10,
against the NB201 table's ``v11_cifar10valid_valid``.  Prints a Markdown table.

    python experiments/core_settings.py --archs 50 --seed 0 --jobs 2

Each setting runs ``bpe evaluate`` (results cached, so a rerun resumes); JSON/CSV/PNG per
setting land in ``results/core_settings/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bpe.cli import main as bpe_main
from bpe.data import reference_data_dir

HERE = Path(__file__).resolve().parent


def data_dir() -> Path:
    """``$BPE_DATA_DIR`` or ``../shared/data`` next to the project."""
    return reference_data_dir(HERE.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--configs", nargs="*", default=sorted(str(p) for p in (HERE / "configs").glob("nb201_*.json")))
    parser.add_argument("--metric", default="v11_cifar10valid_valid")
    parser.add_argument("--out-dir", default="results/core_settings")
    args = parser.parse_args()

    data = data_dir()
    rows = []
    for config in args.configs:
        out = Path(args.out_dir) / (Path(config).stem + ".json")
        code = bpe_main([
            "evaluate", "--estimator", config, "--space", "nb201", "--dataset", "cifar10",
            "--data-dir", str(data / "cifar10"), "--truth", str(data / "nb201" / "nb201_groundtruth.csv"),
            "--metric", args.metric, "--archs", str(args.archs), "--seed", str(args.seed),
            "--jobs", str(args.jobs), "--device", "cpu", "--out", str(out), "--quiet",
        ])
        if code:
            raise SystemExit(code)
        r = json.loads(out.read_text())
        c = r["estimator"]["config"]
        rows.append((Path(config).stem, c["epochs"], c["channels"], c["cells_per_stage"], c["image_size"],
                     c["data_fraction"], r["spearman"], r["spearman_ci95"], r["kendall"], r["seconds_per_arch"],
                     r["n_pairs"]))
    print(f"\n{args.archs} NB201 archs (seed {args.seed}), CIFAR-10 (train on a class-balanced fraction of a "
          f"25k/25k split), truth {args.metric}\n")
    print("| setting | epochs | C | N | px | data | Spearman [95% CI] | Kendall | CPU s/arch | n |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, e, ch, n, px, f, rho, ci, tau, sec, npairs in sorted(rows, key=lambda r: (r[9], r[0])):
        print(f"| {name} | {e} | {ch} | {n} | {px} | {f:g} | {rho:.3f} [{ci[0]:.2f}, {ci[1]:.2f}] | {tau:.3f} | {sec:.1f} | {npairs} |")


if __name__ == "__main__":
    main()
