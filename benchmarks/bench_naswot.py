"""Training-free scoring against the algorithms as their authors describe them, side by side on
the same networks and the same mini-batch.

    python benchmarks/bench_naswot.py [--nets 60] [--batch 128] [--threads 1]

NASWOT (Mellor et al., 2021), as the authors run it: a forward and backward pass for the input
Jacobian (which also marks the ReLUs on the backward path), then a hooked forward pass in which
every marked ReLU adds ``c c^T + (1-c)(1-c)^T`` (``c``: the 0/1 codes of its input) to the kernel,
in float64 on the host; the score is ``log|K|``.  Ours (``bpe.estimators`` ``naswot``): one
forward pass without gradients; each distinct ReLU input's agreement matrix computed once, by one
matrix product, and added once per reader.  The Jacobian scorers (``jacob_cov``): the authors'
``corrcoef`` + ``eig`` of the batch Jacobian from a forward and backward pass, against ours.

Every network is NB201 at C=16, N=5, 32 px, built with the same seed for both sides (the
authors' side computes ``none`` edges as NAS-Bench-201's code does, see :func:`official_forward`;
ours runs the network as the library ships it); the batch is the estimator's own (seeded)
CIFAR-10 batch.  Both sides run the nets in the library's CPU layout (channels-last); the authors'
side is timed again in torch's default layout, as their code runs.  The speed-up is the whole
difference of the two algorithms (ours skips the Jacobian pass and autograd, reads each node's
codes once, and multiplies them in int8), not one change alone.  Prints seconds per net for
each side, the speed-ups, and the rank agreement (Spearman, Kendall) of the two sides' scores over the nets.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from bpe.data import DatasetSpec
from bpe.estimators import create_estimator
from bpe.machine import machine_line
from bpe.spaces import get_space


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def authors_naswot(net: nn.Module, x: torch.Tensor) -> float:
    """NASWOT as described by its authors: Jacobian pass (marks the ReLUs gradients reach), then a
    hooked forward pass accumulating both agreement products of every marked ReLU on the host."""
    n = x.shape[0]
    state = {"K": np.zeros((n, n))}
    visited: set[int] = set()

    def forward_hook(module, inputs, output):
        if torch.is_grad_enabled() and output.requires_grad:  # the Jacobian pass: mark it when a gradient arrives
            key = id(module)
            output.register_hook(lambda grad: visited.add(key))
        if id(module) not in visited:
            return
        codes = (inputs[0].reshape(n, -1) > 0).float()
        state["K"] = state["K"] + (codes @ codes.t()).cpu().numpy() + ((1.0 - codes) @ (1.0 - codes.t())).cpu().numpy()

    handles = []
    for module in net.modules():
        if isinstance(module, nn.ReLU):
            handles.append(module.register_forward_hook(forward_hook))
    try:
        net.zero_grad()
        xj = x.clone().requires_grad_(True)
        y = net(xj)
        y.backward(torch.ones_like(y))
        net(x.clone())  # with autograd on, as the authors run it
    finally:
        for h in handles:
            h.remove()
    sign, logdet = np.linalg.slogdet(state["K"])
    return float(logdet) if sign > 0 else math.nan


def official_forward(net: nn.Module) -> nn.Module:
    """The net computing its ``none`` edges as NAS-Bench-201's own code does (``x * 0``, which keeps
    a ReLU that only feeds them on the backward path) instead of skipping them: the authors'
    ReLU marking then sees the network their code saw.  Same modules, same weights, same outputs."""
    from bpe.spaces.nb201.model import Cell

    for module in net.modules():
        if isinstance(module, Cell):
            module._none = (False,) * len(module._none)
    return net


def authors_jacob_cov(net: nn.Module, x: torch.Tensor, k: float = 1e-5) -> float:
    """NASWOT v1 as described: Jacobian of the summed outputs by a forward and backward pass, then
    numpy ``corrcoef`` and ``eig``."""
    net.zero_grad()
    xj = x.clone().requires_grad_(True)
    y = net(xj)
    y.backward(torch.ones_like(y))
    jac = xj.grad.detach().reshape(x.shape[0], -1).cpu().numpy()
    corrs = np.corrcoef(jac)
    v, _ = np.linalg.eig(corrs)
    return float(np.real(-np.sum(np.log(v + k) + 1.0 / (v + k))))


def timed(fn) -> tuple[float, float]:
    """(value, seconds); a net the score does not exist for (no path from input to output) is nan."""
    t0 = time.perf_counter()
    try:
        value = fn()
    except (ArithmeticError, AttributeError, TypeError, np.linalg.LinAlgError):  # no path, no x.grad, NaN Jacobian
        value = math.nan
    return value, time.perf_counter() - t0


SIDES = ("ours", "authors", "authors, default layout")


def compare(name: str, reference, spec: DatasetSpec, batch: int, archs: list[str]):
    """Scores and total seconds of each side over ``archs`` (the sides' order alternates per net)."""
    est = create_estimator(name, dataset=spec, device="cpu", batch_size=batch)
    cpu = torch.device("cpu")
    (x, y), = est._batches(cpu)[0]

    def run(side: str, arch: str) -> tuple[float, float]:
        net = est._network(arch, 10, cpu)
        if side == "ours":
            return timed(lambda: est._score_batch(net, x, y, 10))
        net = official_forward(net)
        if side == "authors":
            return timed(lambda: reference(net, x))
        net = net.to(memory_format=torch.contiguous_format)
        return timed(lambda: reference(net, x.contiguous()))

    for side in SIDES:  # warm-up
        run(side, archs[0])
    scores = {side: [] for side in SIDES}
    seconds = dict.fromkeys(SIDES, 0.0)
    for i, arch in enumerate(archs):
        for side in (SIDES if i % 2 == 0 else SIDES[::-1]):
            value, spent = run(side, arch)
            scores[side].append(value)
            seconds[side] += spent
    return scores["ours"], scores["authors"], seconds["ours"], seconds["authors"], seconds["authors, default layout"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, default=60)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scorers", default="naswot,jacob_cov")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    torch.set_num_threads(args.threads)
    data_dir = reference_data_dir() / "cifar10"
    spec = DatasetSpec("cifar10", str(data_dir)) if data_dir.is_dir() else DatasetSpec("digits")
    archs = [str(a) for a in get_space("nb201").sample(args.nets, args.seed)]
    reference = {"naswot": authors_naswot, "jacob_cov": authors_jacob_cov}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.nets} NB201 nets (C16 N5 32px), "
          f"batch {args.batch} of {spec.name}")
    print("| scorer | ours s/net | authors' s/net | speed-up | authors' s/net, torch's default layout | speed-up "
          "| Spearman | Kendall | max abs score diff | no score (ours / authors') |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.scorers.split(","):
        ours, theirs, t_ours, t_theirs, t_default = compare(name, reference[name], spec, args.batch, archs)
        a, b = np.array(ours), np.array(theirs)
        ok = np.isfinite(a) & np.isfinite(b)
        rho = stats.spearmanr(a[ok], b[ok])[0]
        tau = stats.kendalltau(a[ok], b[ok])[0]
        print(f"| {name} | {t_ours / len(archs):.3f} | {t_theirs / len(archs):.3f} | {t_theirs / t_ours:.2f}x | "
              f"{t_default / len(archs):.3f} | {t_default / t_ours:.2f}x | "
              f"{rho:.4f} | {tau:.4f} | {np.max(np.abs(a[ok] - b[ok])):.2g} | "
              f"{int((~np.isfinite(a)).sum())} / {int((~np.isfinite(b)).sum())} |", flush=True)


if __name__ == "__main__":
    main()
