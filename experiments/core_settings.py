"""Several proxy-training settings ranked on the same seeded NB201 archs on CIFAR-10.

    python experiments/core_settings.py --archs 100 --seed 0 --jobs 2
    python experiments/core_settings.py --archs experiments/configs/nb201_seed0_second100.txt --jobs 2

Each BPEConfig in ``experiments/configs/nb201_*.json`` (or ``--configs``) trains the same
``--archs`` NAS-Bench-201 archs (a number: the first N of the seed's permutation; or an arch-list
file) on a class-balanced fraction of a 25k/25k CIFAR-10 split,
and its scores are correlated with the NB201 table's ``v11_cifar10valid_valid`` (``--metric``).
Prints one line per setting as it finishes, then a Markdown table (epochs, channels, cells,
pixels, data fraction, Spearman with its 95% CI, Kendall, CPU seconds per arch), cheapest
first.  Trainings are cached, so a rerun resumes; each setting's JSON/CSV/PNG land in
``results/core_settings/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bpe.cache import EvalCache, default_cache_dir
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.evaluate import evaluate_job
from bpe.parallel import Runner

from _paths import reference_data_dir

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="100", help="a number (seeded, nested sample) or an arch-list file")
    parser.add_argument("--noise-archs", type=int, default=5,
                        help="archs trained again with the next seed to measure each setting's noise (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--configs", nargs="*", default=sorted(str(p) for p in (HERE / "configs").glob("nb201_*.json")))
    parser.add_argument("--metric", default="v11_cifar10valid_valid")
    parser.add_argument("--out-dir", default="results/core_settings")
    args = parser.parse_args()

    data = reference_data_dir()
    dataset = DatasetSpec("cifar10", str(data / "cifar10"))
    runner = Runner(jobs=args.jobs, cache=EvalCache(default_cache_dir()), progress=False)
    rows = []
    tag = Path(args.archs).stem if Path(args.archs).is_file() else f"{args.archs}_seed{args.seed}"
    for config in args.configs:
        r, paths = evaluate_job(
            config, dataset=dataset, truth_spec=str(data / "nb201" / "nb201_groundtruth.csv"), metric=args.metric,
            archs=args.archs, seed=args.seed, runner=runner, out=Path(args.out_dir) / tag / (Path(config).stem + ".json"),
            device="cpu", noise_archs=args.noise_archs)
        r = r.to_dict()
        print(f"{Path(config).stem}: spearman {r['spearman']:.4f}, kendall {r['kendall']:.4f}, n={r['n_archs']}, "
              f"failed={r['n_failed']}, {r['seconds_per_arch']:.2f} s/arch; wrote " + ", ".join(map(str, paths)))
        for key in ("warning", "note"):
            if r.get(key):
                print(f"  {key}: {r[key]}")
        c = r["estimator"]["config"]
        rows.append((Path(config).stem, c["epochs"], c["channels"], c["cells_per_stage"], c["image_size"],
                     c["data_fraction"], r["spearman"], r["spearman_ci95"], r["kendall"], r["seconds_per_arch"],
                     r["n_archs"], (r.get("seed_noise") or {}).get("noise_to_spread")))
    print(f"\n{tag}: NB201 archs, CIFAR-10 (train on a class-balanced fraction of a "
          f"25k/25k split), truth {args.metric}\n")
    print("| setting | epochs | C | N | px | data | Spearman [95% CI] | Kendall | CPU s/arch | n | seed noise / spread |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, e, ch, n, px, f, rho, ci, tau, sec, npairs, noise in sorted(rows, key=lambda r: (r[9], r[0])):
        noise_text = "-" if noise is None else f"{noise:.2f}"
        print(f"| {name} | {e} | {ch} | {n} | {px} | {f:g} | {rho:.3f} [{ci[0]:.2f}, {ci[1]:.2f}] | {tau:.3f} | "
              f"{sec:.1f} | {npairs} | {noise_text} |")


if __name__ == "__main__":
    try:
        main()
    except BPEError as err:
        raise SystemExit(f"core_settings: error: {err}") from None
