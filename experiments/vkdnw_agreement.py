"""VKDNW: our scorer against the authors' code on the same NAS-Bench-201 networks.

    python experiments/vkdnw_agreement.py --authors-repo /tmp/vkref > experiments/head_to_head/vkdnw_agreement.md

``--authors-repo`` is a checkout of ondratybl/VKDNW (its root or its ``NB201`` folder), imported
at run time from there; the project never holds their code.  For each arch (a seeded sample plus
the all-skip and all-3x3-conv cells) both sides score one network, C=16, N=5, 32 px, batch 64,
on one CPU thread: ours by :class:`~bpe.estimators.vkdnw.VKDNW` (``measure``, so the cost is the
estimator's own); theirs by ``compute_nas_score`` (``params_grad_len=128``, ``p=1``: the first
entry of each of the first 128 tensors, as their paper-era code) on their ``TinyNetwork`` into
which our initial weights and buffers are copied (their ``init_model`` is made a no-op, so both
start from the same Kaiming draw), with the same 64 images (N(0, 1) noise as their protocol, or
one seeded batch of CIFAR-10 train images).  Two shims, printed with the results: their
``model.cuda()`` is a no-op (CPU only here), and the one line that writes the sampled weights into
a captured tensor in place (``param[param_idx] = v``, refused by this torch inside a grad
transform) is replaced by its out-of-place equivalent before their module is executed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from bpe.data import DatasetSpec
from bpe.estimators.vkdnw import (
    VKDNW,
    jacobian_and_logits,
    selected_entries,
    spectrum_entropy,
    vkdnw_single,
)
from bpe.estimators.zero_cost import kaiming_fan_in_init
from bpe.machine import machine_line
from bpe.spaces import nb201

from _paths import reference_data_dir

EXTRA = ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
IN_PLACE = "param[param_idx] = v"
OUT_OF_PLACE = "param = param.index_put((torch.as_tensor(param_idx, device=param.device),), v)"


def authors_code(repo: str):
    """Their network class, genotype parser and (shimmed) VKDNW module, from ``repo``."""
    root = Path(repo).expanduser().resolve()
    nb = root / "NB201" if (root / "NB201").is_dir() else root
    path = nb / "ZeroShotProxy" / "compute_vkdnw_score.py"
    if not path.is_file():
        sys.exit(f"{nb} has no ZeroShotProxy/compute_vkdnw_score.py: pass the VKDNW checkout (or its NB201 folder)")
    sys.path.insert(0, str(nb))
    from custom.tss_model import TinyNetwork
    from xautodl.models.cell_searchs.genotypes import Structure

    source = path.read_text()
    if source.count(IN_PLACE) != 1:
        sys.exit(f"{path}: expected the line `{IN_PLACE}` once; their code changed, review the shim")
    module = types.ModuleType("compute_vkdnw_score")
    module.__file__ = str(path)
    exec(compile(source.replace(IN_PLACE, OUT_OF_PLACE), str(path), "exec"), module.__dict__)
    module.init_model = lambda model, method="kaiming_norm_fanin": model  # weights are copied in from ours

    class CPUTinyNetwork(TinyNetwork):
        def cuda(self, device=None):  # their scorer moves the model to a GPU first; stay on the CPU
            return self

    return CPUTinyNetwork, Structure, module


def authors_scores(code, archs: list[str], est: VKDNW, x: torch.Tensor, dtype: torch.dtype = torch.float32):
    """Their (dim, entropy) per arch on our initial weights and input ``x``, and their seconds;
    ``dtype=torch.float64`` runs their code with float64 as torch's default dtype (their network,
    input, Jacobian, Fisher matrix, SVD and quantiles in float64, their code unchanged)."""
    Network, Structure, module = code
    cpu = torch.device("cpu")
    dims, entropies, seconds = [], [], []
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        for arch in archs:
            net = est._network(arch, 10, cpu)
            kaiming_fan_in_init(net, torch.Generator().manual_seed(est.seed))  # as VKDNW._score_batch does
            ref = Network(16, 5, Structure.str2structure(arch), 10)
            ours, theirs = net.state_dict(), ref.state_dict()
            if [v.shape for v in ours.values()] != [v.shape for v in theirs.values()]:
                sys.exit(f"{arch}: our network and theirs hold different tensors")
            ref.load_state_dict({k: v.contiguous().clone() for k, v in zip(theirs, ours.values())})
            start = time.perf_counter()
            info = module.compute_nas_score(ref, gpu=None, trainloader=[(x.to(dtype), None)], resolution=32,
                                            batch_size=x.shape[0], params_grad_len=128, p=1)
            seconds.append(time.perf_counter() - start)
            dims.append(int(info["vkdnw_dim"]))
            entropies.append(float(info["vkdnw_entropy"]))
    finally:
        torch.set_default_dtype(previous)
    return dims, entropies, seconds


def with_their_factor(code, archs: list[str], est: VKDNW, x: torch.Tensor) -> list[float]:
    """Our H with one part of theirs swapped in: their ``cholesky_covariance`` of our logits (their
    smoothing constants are float16 tensors) instead of our factor, all else ours (float64)."""
    module = code[2]
    cpu = torch.device("cpu")
    out = []
    for arch in archs:
        net = est._network(arch, 10, cpu)
        kaiming_fan_in_init(net, torch.Generator().manual_seed(est.seed))
        jac, logits = jacobian_and_logits(net.eval(), x, selected_entries(net, est.tensors, est.per_tensor))
        g = module.cholesky_covariance(logits.double()) @ jac.double()
        out.append(spectrum_entropy(torch.linalg.eigvalsh((g.transpose(1, 2) @ g).mean(0))))
    return out


def has_path(arch: str) -> bool:
    """Whether the cell's output depends on its input (a chain of non-``none`` edges from node 0
    to node 3); without one only the last cells reach the logits."""
    cell = nb201.parse(arch)
    reach = {0}
    for target in (1, 2, 3):
        if any(s in reach and cell.edge_op(s, target) != "none" for s in range(target)):
            reach.add(target)
    return 3 in reach


def lexicographic(dims: list[int], entropies: list[float]) -> np.ndarray:
    """Their VKDNW_single: the dense rank of (dim, entropy)."""
    keys = sorted(set(zip(dims, entropies)))
    return np.array([keys.index(k) + 1 for k in zip(dims, entropies)], dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors-repo", required=True, help="checkout of ondratybl/VKDNW (outside the project)")
    parser.add_argument("--archs", type=int, default=12, help="seeded sample size (plus the all-skip and all-conv cells)")
    parser.add_argument("--arch-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="init / input seed of both sides")
    parser.add_argument("--inputs", default="gaussian,data", help="comma-separated: gaussian (theirs), data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    code = authors_code(args.authors_repo)
    archs = [str(a) for a in nb201.sample(args.archs, args.arch_seed)]
    archs += [a for a in EXTRA if a not in archs]
    dataset = DatasetSpec("cifar10", str(reference_data_dir() / "cifar10"))
    cpu = torch.device("cpu")
    print("# VKDNW: ours against the authors' code\n")
    print(machine_line() + "\n")
    print(f"{len(archs)} NB201 archs ({args.archs} sampled with seed {args.arch_seed}, plus the all-skip and "
          f"all-3x3-conv cells), C=16, N=5, 32 px, batch 64, seed {args.seed}, one CPU thread each side, the same "
          "initial weights and images on both sides.  Ours: `vkdnw`'s measurement (`vkdnw_entropy` H, and `dim`, "
          "the number of parameter tensors); theirs: `compute_nas_score(params_grad_len=128, p=1)` "
          "(`vkdnw_entropy`, `vkdnw_dim`).  VKDNW_single: ours `dim + H / (2 log 9)`, theirs the dense rank of "
          "(dim, H).  Shims in their code: `model.cuda()` is a no-op, `init_model` is a no-op (our weights are "
          f"copied in), and `{IN_PLACE}` runs as `{OUT_OF_PLACE}`.  The last column is ours with the "
          "textbook Fisher matrix (`fisher=\"exact\"`, J^T Σ J, where their code forms J^T L^T L J).  \"H with their "
          "L\" is ours with their `cholesky_covariance` of our logits in place of our factor (their smoothing "
          "constants are float16 tensors: 1 - α rounds to 0.950195, so their probabilities sum to 1.00018; we use "
          "α = 0.05 exactly); \"their code in float64\" runs their code unchanged with float64 as torch's default "
          "dtype (their Fisher matrix and SVD are float32 otherwise).\n")
    for mode in args.inputs.split(","):
        est = VKDNW(dataset, inputs=mode, device="cpu", seed=args.seed)
        exact = VKDNW(dataset, inputs=mode, device="cpu", seed=args.seed, fisher="exact")
        x = est._batches(cpu)[0][0][0].contiguous()
        records = [est.measure(a) for a in archs]
        ours_h = [r.info["entropy"] for r in records]
        ours_dim = [r.info["dim"] for r in records]
        ours_s = [r.cost.seconds for r in records]
        exact_h = [exact.measure(a).info["entropy"] for a in archs]
        dims, theirs_h, theirs_s = authors_scores(code, archs, est, x)
        _, theirs64_h, _ = authors_scores(code, archs, est, x, torch.float64)
        their_l_h = with_their_factor(code, archs, est, x)
        a = np.array(ours_h)
        single = [vkdnw_single(d, h) for d, h in zip(ours_dim, ours_h)]
        what = ("the authors' protocol: N(0, 1) noise" if mode == "gaussian"
                else "one seeded batch of CIFAR-10 train images")
        print(f"## inputs: {mode} ({what})\n")
        print(f"Parameter-tensor counts (dim) equal on both sides: {'yes' if dims == ours_dim else 'NO'}.\n")
        live = np.array([has_path(arch) for arch in archs])
        print(f"| ours | theirs | Spearman ρ, {len(archs)} archs | Spearman ρ, {int(live.sum())} archs with a path "
              "through the cell | max absolute difference, all | max relative difference, with a path |")
        print("|---|---|---|---|---|---|")
        for label, mine in (("H (`vkdnw_entropy`)", ours_h), ("H with their L", their_l_h),
                            ("H, exact Fisher", exact_h)):
            for their_label, other in (("H, their code (float32)", theirs_h), ("H, their code in float64", theirs64_h)):
                m, b = np.array(mine), np.array(other)
                rel = np.abs(m - b)[live] / np.maximum(np.abs(b[live]), 1e-12)
                print(f"| {label} | {their_label} | {spearmanr(m, b).statistic:.4f} | "
                      f"{spearmanr(m[live], b[live]).statistic:.4f} | {np.abs(m - b).max():.2e} | {rel.max():.2e} |")
        for their_label, other in (("their code (float32)", theirs_h), ("their code in float64", theirs64_h)):
            rank = lexicographic(dims, other)
            print(f"| VKDNW_single (`vkdnw`) | dense rank of (dim, H), {their_label} | "
                  f"{spearmanr(single, rank).statistic:.4f} | "
                  f"{spearmanr(np.array(single)[live], rank[live]).statistic:.4f} | - | - |")
        print(f"\nSeconds per arch (one thread, C=16, N=5, 32 px, batch 64): ours {np.mean(ours_s):.2f} "
              f"(min {np.min(ours_s):.2f}, max {np.max(ours_s):.2f}; the estimator's measured cost, network built and "
              f"batch prepared included); authors {np.mean(theirs_s):.2f} (min {np.min(theirs_s):.2f}, max "
              f"{np.max(theirs_s):.2f}; their `compute_nas_score` call in float32).\n")
        print("| arch | dim ours / theirs | H ours | H theirs (float32) | H theirs in float64 | rel. diff. to float32 / "
              "float64 | H ours with their L | H exact Fisher (ours) |")
        print("|---|---|---|---|---|---|---|---|")
        for i, arch in enumerate(archs):
            r32 = abs(a[i] - theirs_h[i]) / max(abs(theirs_h[i]), 1e-12)
            r64 = abs(a[i] - theirs64_h[i]) / max(abs(theirs64_h[i]), 1e-12)
            print(f"| `{arch.replace('|', chr(92) + '|')}` | {ours_dim[i]} / {dims[i]} | {ours_h[i]:.6f} | "
                  f"{theirs_h[i]:.6f} | {theirs64_h[i]:.6f} | {r32:.1e} / {r64:.1e} | {their_l_h[i]:.6f} | {exact_h[i]:.6f} |")
        print()
        if not all(math.isfinite(v) for v in theirs_h):
            print("(their H is not finite for some arch above)\n")


if __name__ == "__main__":
    main()
