"""What training several NB201 archs in one batched step would gain: a measured prototype, not a
library feature.

    python benchmarks/bench_multi_arch.py [--archs 20] [--steps 30]

MIP trains every arch of a round under the same setting, on the same seeded batches, so K archs
could share one step: their networks stacked along the channels (arch k owns channels
``k*C .. (k+1)*C - 1``), every convolution a grouped one (one group per arch), each edge routing
the archs that use an op to it (``index_select`` / ``index_add`` on the channels), one loss that
sums the archs' losses (their parameters are disjoint, so each arch gets its own gradients) and
one SGD update.  This script builds that network *from* K ordinary networks (their weights
stacked), prints how far its logits (first batch) and last training losses are from theirs, and
times one step of it against K steps of the ordinary networks (in the library's layout), on one
thread, at the sizes MIP measures.  Prints the speed-up per size.  (Measured result: 1.3x at
C4 8 px, slower at C8 sizes; see the README's Throughput section.)
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from bpe.machine import machine_line
from bpe.runtime import memory_format
from bpe.spaces import get_space
from bpe.spaces.nb201 import EDGES, NUM_NODES
from bpe.spaces.nb201.model import Cell, NB201Network, ReLUConvBN, ResidualReduction

SIZES = {
    "C4 N1 8px b64": dict(channels=4, layers=5, image_size=8, batch_size=64),
    "C8 N2 8px b64 (digits reference)": dict(channels=8, layers=8, image_size=8, batch_size=64),
    "C8 N1 16px b128": dict(channels=8, layers=5, image_size=16, batch_size=128),
}


def _stack_conv_bn(mods: list[ReLUConvBN]) -> ReLUConvBN:
    """One grouped ReLU-Conv-BN holding ``mods``' weights, a group each."""
    conv0 = mods[0][1]
    k = len(mods)
    out = ReLUConvBN(conv0.in_channels * k, conv0.out_channels * k, conv0.kernel_size[0], conv0.stride[0],
                     conv0.padding[0])
    out[1] = nn.Conv2d(conv0.in_channels * k, conv0.out_channels * k, conv0.kernel_size, stride=conv0.stride,
                       padding=conv0.padding, bias=False, groups=k)
    with torch.no_grad():
        out[1].weight.copy_(torch.cat([m[1].weight for m in mods]))
        out[2].weight.copy_(torch.cat([m[2].weight for m in mods]))
        out[2].bias.copy_(torch.cat([m[2].bias for m in mods]))
    return out


def _stack_bn(mods: list[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(sum(m.num_features for m in mods))
    with torch.no_grad():
        out.weight.copy_(torch.cat([m.weight for m in mods]))
        out.bias.copy_(torch.cat([m.bias for m in mods]))
    return out


def _stack_conv(mods: list[nn.Conv2d]) -> nn.Conv2d:
    c0, k = mods[0], len(mods)
    out = nn.Conv2d(c0.in_channels * k, c0.out_channels * k, c0.kernel_size, stride=c0.stride, padding=c0.padding,
                    bias=False, groups=k)
    with torch.no_grad():
        out.weight.copy_(torch.cat([m.weight for m in mods]))
    return out


class MultiCell(nn.Module):
    """K NB201 cells in one: each edge sends each group of archs that share an op through one
    grouped module, on their channels only."""

    def __init__(self, cells: list[Cell], channels: int) -> None:
        super().__init__()
        k = len(cells)
        self.routes: list[list[tuple[str, torch.Tensor | None, nn.Module | None]]] = []
        self.mods = nn.ModuleList()
        for e in range(len(EDGES)):
            by_op: dict[str, list[int]] = {}
            for i, cell in enumerate(cells):
                mod = cell.edges[e]
                op = type(mod).__name__ + (str(mod[1].kernel_size) if isinstance(mod, ReLUConvBN) else "")
                if op != "Zero":
                    by_op.setdefault(op, []).append(i)
            route = []
            for op, members in by_op.items():
                idx = None if len(members) == k else torch.cat(
                    [torch.arange(i * channels, (i + 1) * channels) for i in members])
                mods = [cells[i].edges[e] for i in members]
                mod = _stack_conv_bn(mods) if op.startswith("ReLUConvBN") else mods[0]  # Identity, AvgPool2d: per channel
                self.mods.append(mod)
                route.append((op, idx, mod))
            self.routes.append(route)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NUM_NODES):
            total = torch.zeros_like(x)
            for e, (source, t) in enumerate(EDGES):
                if t != target:
                    continue
                for _, idx, mod in self.routes[e]:
                    if idx is None:
                        total = total + mod(nodes[source])
                    else:  # in place: the sum is no input of anything yet
                        total.index_add_(1, idx, mod(nodes[source].index_select(1, idx)))
            nodes.append(total)
        return nodes[-1]


class MultiNetwork(nn.Module):
    """K :class:`NB201Network` of one size in one network; logits ``(batch, K, classes)``."""

    def __init__(self, nets: list[NB201Network]) -> None:
        super().__init__()
        self.k = len(nets)
        self.stem = nn.Sequential(_stack_conv([n.stem[0] for n in nets]), _stack_bn([n.stem[1] for n in nets]))
        layers = []
        for i, layer in enumerate(nets[0].cells):
            group = [n.cells[i] for n in nets]
            if isinstance(layer, ResidualReduction):
                red = copy.deepcopy(layer)
                red.conv_a = _stack_conv_bn([g.conv_a for g in group])
                red.conv_b = _stack_conv_bn([g.conv_b for g in group])
                red.downsample = nn.Sequential(layer.downsample[0], _stack_conv([g.downsample[1] for g in group]))
                layers.append(red)
            else:
                layers.append(MultiCell(group, _cell_channels(nets[0], i)))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(_stack_bn([n.lastact[0] for n in nets]), nn.ReLU())
        self.weight = nn.Parameter(torch.stack([n.classifier.weight.detach().t() for n in nets]))  # K, C, classes
        self.bias = nn.Parameter(torch.stack([n.classifier.bias.detach() for n in nets]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x.repeat(1, self.k, 1, 1))
        f = self.lastact(self.cells(x)).mean((2, 3))
        f = f.view(f.shape[0], self.k, -1)
        return torch.einsum("bkc,kcn->bkn", f, self.weight) + self.bias


def _cell_channels(net: NB201Network, index: int) -> int:
    """Channels of the cell at ``index`` (its stage's width)."""
    c = net.stem[0].out_channels
    for layer in list(net.cells)[: index + 1]:
        if isinstance(layer, ResidualReduction):
            c = layer.conv_a[1].out_channels
    return c


def _sgd(params, lr: float = 0.05):
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4, nesterov=True, foreach=True)


def separate(nets: list[nn.Module], opts: list, batches: list) -> list[float]:
    """Train each net on ``batches`` in turn (one step a batch); each net's last loss."""
    losses = []
    for net, opt in zip(nets, opts):
        for x, y in batches:
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        losses.append(loss.item())
    return losses


def together(multi: MultiNetwork, opt, batches: list) -> list[float]:
    """Train the K stacked nets on ``batches``, one step a batch for all; each arch's last loss."""
    for x, y in batches:
        logits = multi(x)
        per_arch = torch.stack([F.cross_entropy(logits[:, i], y) for i in range(multi.k)])
        opt.zero_grad(set_to_none=True)
        per_arch.sum().backward()
        opt.step()
    return per_arch.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--multi-layout", default="contiguous", choices=("contiguous", "channels_last"),
                        help="the stacked network's layout (the K separate nets use the library's)")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    torch.set_num_threads(1)
    space = get_space("nb201")
    archs = [str(a) for a in space.sample(args.archs, 0)]
    fmt = memory_format(torch.device("cpu"))
    print(f"{args.archs} seeded NB201 archs, {args.steps} steps, 1 thread; separate nets in {fmt}, "
          f"the stacked one {args.multi_layout}")
    print("| size | K separate steps, s | one multi-arch step, s | speed-up | max |logit diff| "
          "| max |loss diff| after the steps |")
    print("|---|---|---|---|---|---|")
    for name, size in SIZES.items():
        nets = []
        for i, a in enumerate(archs):
            torch.manual_seed(i)
            nets.append(space.build(a, num_classes=10, **space.net_size(channels=size["channels"],
                                                                         layers=size["layers"])))
        multi_fmt = torch.channels_last if args.multi_layout == "channels_last" else torch.contiguous_format
        multi = MultiNetwork(nets).to(memory_format=multi_fmt).train()
        nets = [n.to(memory_format=fmt).train() for n in nets]
        gen = torch.Generator().manual_seed(0)
        s, b = size["image_size"], size["batch_size"]
        batches = [(torch.randn(b, 3, s, s, generator=gen).contiguous(memory_format=fmt),
                    torch.randint(0, 10, (b,), generator=gen)) for _ in range(args.steps)]
        with torch.no_grad():
            diff = (multi(batches[0][0]) - torch.stack([n(batches[0][0]) for n in nets], 1)).abs().max().item()
        opts = [_sgd(n.parameters()) for n in nets]
        multi_opt = _sgd(multi.parameters())

        t0 = time.perf_counter()
        a = separate(nets, opts, batches)
        t_sep = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = together(multi, multi_opt, batches)
        t_multi = time.perf_counter() - t0
        loss_diff = max(abs(p - q) for p, q in zip(a, m))
        print(f"| {name} | {t_sep / args.steps:.4f} | {t_multi / args.steps:.4f} | {t_sep / t_multi:.2f}x | "
              f"{diff:.1e} | {loss_diff:.1e} |")


if __name__ == "__main__":
    main()
