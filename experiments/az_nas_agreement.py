"""AZ-NAS: our scorers against the authors' code on the same NAS-Bench-201 networks.

    python experiments/az_nas_agreement.py --authors-repo /tmp/azref > experiments/head_to_head/az_nas_agreement.md

``--authors-repo`` is a checkout of cvlab-yonsei/AZ-NAS (its root or its ``NB201`` folder),
imported at run time from there; the project never holds their code.  For each arch (a seeded
sample plus two archs with a pass-through cell, where the authors' trainability is -inf) both
sides score the same network, C=16, N=5, 32 px, batch 64, on one CPU thread: ours through
:class:`~bpe.estimators.az_nas.AZNASMeasurement`, theirs by ``compute_nas_score`` on their
``TinyNetwork`` after ``torch.manual_seed(seed)``, which makes their initialisation, noise
input and probes the same draws as ours (checked: the weights and inputs are compared), and
their FLOPs by xautodl's ``get_model_infos``.  ``--inputs data`` scores one seeded batch of
CIFAR-10 train images (given to both) instead of the authors' noise.  Prints a Markdown table:
Spearman across archs and the largest relative difference per component and for the assembled
score (ours: ``az_nas`` over these archs; theirs: their notebook's sum of log-ranks).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr

from bpe.cache import EvalCache
from bpe.data import DatasetSpec
from bpe.estimators.az_nas import AZNAS, COMPONENTS, AZNASMeasurement
from bpe.machine import machine_line
from bpe.parallel import Runner
from bpe.spaces import nb201

from _paths import reference_data_dir

#: Archs with a cell that passes its input through (trainability -inf for the authors): one with
#: nothing else in the cell, one whose 3x3 conv feeds no path to the cell's output.
ASSEMBLED = "az_nas (assembled)"
PASS_THROUGH = ("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
                "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|")


def authors_code(repo: str):
    """Their network class, genotype parser, FLOP counter and scorer module, from ``repo``."""
    root = Path(repo).expanduser().resolve()
    nb = root / "NB201" if (root / "NB201").is_dir() else root
    if not (nb / "ZeroShotProxy" / "compute_az_nas_score.py").is_file():
        sys.exit(f"{nb} has no ZeroShotProxy/compute_az_nas_score.py: pass the AZ-NAS checkout (or its NB201 folder)")
    sys.path.insert(0, str(nb))
    from custom.tss_model import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure
    from xautodl.utils.flop_benchmark import get_model_infos
    from ZeroShotProxy import compute_az_nas_score

    class CPUTinyNetwork(TinyNetwork):
        def cuda(self, device=None):  # their scorer moves the model to a GPU first; stay on the CPU
            return self

    return CPUTinyNetwork, Structure, get_model_infos, compute_az_nas_score


def theirs_sum_of_log_ranks(values: dict[str, list[float]]) -> np.ndarray:
    """Their notebook's assembly: sum over components of log(rankdata / n)."""
    n = len(next(iter(values.values())))
    return sum(np.log(rankdata(v) / n) for v in values.values())


def as_rankable(values: list[float | None]) -> np.ndarray:
    return np.array([-math.inf if v is None or not math.isfinite(v) else v for v in values], dtype=float)


def authors_scores(code, archs: list[str], measurement: AZNASMeasurement, seed: int, batch):
    """Their four components per arch (their scorer as their notebook calls it, their FLOP
    counter), their seconds per arch, and whether their initial weights and input equal ours."""
    Network, Structure, get_model_infos, module = code
    cpu = torch.device("cpu")
    values: dict[str, list[float]] = {c: [] for c in COMPONENTS}
    seconds, same_weights, same_input = [], True, True
    for arch in archs:
        genotype = Structure.str2structure(arch)
        # their initialisation and noise, drawn from the global generator, against ours
        net = measurement._network(arch, 10, cpu)
        x = measurement.initialise(net, torch.Generator().manual_seed(seed), batch)
        ref = Network(16, 5, genotype, 10)
        torch.manual_seed(seed)
        module.init_model(ref, "kaiming_norm_fanin")
        ref_x = torch.randn(x.shape) if batch is None else batch
        mine, other = list(net.parameters()), list(ref.parameters())
        same_weights &= len(mine) == len(other) and all(torch.equal(a, b) for a, b in zip(mine, other))
        same_input &= torch.equal(x, ref_x)
        ref = Network(16, 5, genotype, 10).train()
        torch.manual_seed(seed)
        start = time.perf_counter()
        info = module.compute_nas_score(ref, gpu=None, trainloader=None if batch is None else [(batch, None)],
                                        resolution=32, batch_size=64)
        seconds.append(time.perf_counter() - start)
        for c in ("expressivity", "progressivity", "trainability"):
            values[c].append(float(info[c]))
        values["complexity"].append(float(get_model_infos(ref, (1, 3, 32, 32))[0]))
    values[ASSEMBLED] = list(theirs_sum_of_log_ranks(values))
    return values, seconds, same_weights, same_input


def our_scores(archs: list[str], dataset: DatasetSpec, **options):
    """Our four components per arch (one measurement each, through a runner and a throw-away
    cache), ``az_nas`` over the archs from the cached measurements, and our seconds per arch."""
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(cache=EvalCache(Path(tmp)), progress=False)
        records = runner.measure(AZNASMeasurement(dataset, **options), archs, desc="ours")
        assembled = AZNAS(dataset, **options).score_population(archs, runner)
    values = {c: [r.info.get(c) if r.ok else None for r in records] for c in COMPONENTS}
    values[ASSEMBLED] = [r.score if r.ok else None for r in assembled]
    return values, [r.cost.seconds for r in records]


def agreement_table(ours: dict[str, list], theirs: dict[str, list]) -> list[str]:
    lines = ["| component | Spearman ρ, all archs (undefined last) | Spearman ρ, archs defined on both sides | "
             "max relative difference (defined on both sides) | undefined here / -inf there |",
             "|---|---|---|---|---|"]
    for name, mine in ours.items():
        a, b = as_rankable(mine), as_rankable(theirs[name])
        rho = spearmanr(rankdata(a), rankdata(b)).statistic
        both = np.isfinite(a) & np.isfinite(b)
        rho_both = spearmanr(a[both], b[both]).statistic if both.sum() > 2 else math.nan
        rel = np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-12)) if both.any() else math.nan
        lines.append(f"| {name} | {rho:.4f} | {rho_both:.4f} ({int(both.sum())} archs) | {rel:.2e} | "
                     f"{int((~np.isfinite(a)).sum())} / {int((~np.isfinite(b)).sum())} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors-repo", required=True, help="checkout of cvlab-yonsei/AZ-NAS (outside the project)")
    parser.add_argument("--archs", type=int, default=30, help="seeded sample size (plus the pass-through archs)")
    parser.add_argument("--arch-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="init / input / probe seed of both sides")
    parser.add_argument("--inputs", default="gaussian,data", help="comma-separated: gaussian (theirs), data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    code = authors_code(args.authors_repo)
    archs = [str(a) for a in nb201.sample(args.archs, args.arch_seed)]
    archs += [a for a in PASS_THROUGH if a not in archs]
    dataset = DatasetSpec("cifar10", str(reference_data_dir() / "cifar10"))
    print("# AZ-NAS: ours against the authors' code\n")
    print(machine_line() + "\n")
    print(f"{len(archs)} NB201 archs ({args.archs} sampled with seed {args.arch_seed}, plus {len(PASS_THROUGH)} with a "
          f"pass-through cell), C=16, N=5, 32 px, batch 64, seed {args.seed}, one CPU thread each side.  Ours: "
          "`az_expressivity`/`az_progressivity`/`az_trainability`'s shared measurement and `az_nas` over these "
          "archs; theirs: `compute_nas_score` on their `TinyNetwork`, FLOPs by their `get_model_infos`, and "
          "their notebook's sum of log-ranks.\n")
    for inputs in args.inputs.split(","):
        measurement = AZNASMeasurement(dataset, inputs=inputs, device="cpu", seed=args.seed)
        batch = measurement._batches(torch.device("cpu"))[0][0][0].contiguous() if inputs == "data" else None
        theirs, their_seconds, same_weights, same_input = authors_scores(code, archs, measurement, args.seed, batch)
        what = ("the authors' protocol: N(0, 1) noise" if inputs == "gaussian"
                else "one seeded batch of CIFAR-10 train images, given to both sides")
        print(f"## inputs: {inputs} ({what})\n")
        print(f"Identical initial weights: {'yes' if same_weights else 'NO'}; identical inputs: "
              f"{'yes' if same_input else 'NO'}.\n")
        for precision in ("float64", "float32"):
            ours, our_seconds = our_scores(archs, dataset, inputs=inputs, precision=precision, device="cpu",
                                           seed=args.seed)
            label = "our default" if precision == "float64" else "the authors' arithmetic"
            print(f"### precision={precision} ({label})\n")
            print("\n".join(agreement_table(ours, theirs)) + "\n")
            if precision == "float64":
                default, default_seconds = ours, our_seconds
        print(f"Seconds per arch (one thread): ours {np.mean(default_seconds):.2f} (min {np.min(default_seconds):.2f}, "
              f"max {np.max(default_seconds):.2f}); authors {np.mean(their_seconds):.2f} (min "
              f"{np.min(their_seconds):.2f}, max {np.max(their_seconds):.2f}).\n")
        print("Per arch, ours (float64) / theirs:\n")
        print("| arch | " + " | ".join(default) + " |")
        print("|---|" + "---|" * len(default))
        for i, arch in enumerate(archs):
            cells = [f"{'undef.' if default[n][i] is None else f'{default[n][i]:.6g}'} / {theirs[n][i]:.6g}"
                     for n in default]
            print(f"| `{arch.replace('|', chr(92) + '|')}` | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
