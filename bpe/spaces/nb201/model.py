"""PyTorch modules of the NAS-Bench-201 macro network (see :func:`bpe.spaces.nb201.build`)."""

from __future__ import annotations

import torch
from torch import nn

from bpe.errors import ConfigError
from bpe.spaces.nb201 import EDGES, NUM_NODES, NB201Arch

__all__ = ["NB201Network", "ReLUConvBN", "ResidualReduction", "Cell", "build_stages", "make_op"]


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BatchNorm: NB201's ``nor_conv`` op."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=affine),
        )


class Zero(nn.Module):
    """The ``none`` op: outputs zeros (stride 1 within a cell)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int, *, affine: bool = True) -> nn.Module:
    """One NB201 op with ``channels`` in and out, stride 1.

    ``affine=False`` gives the one-shot supernet's BatchNorm (no affine weights, batch
    statistics only), as in NB201's weight-sharing searches.
    """
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine=affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine=affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown op {name}")


class Cell(nn.Module):
    """An NB201 cell: node ``i`` sums the ops on its incoming edges; node 3 is the output."""

    def __init__(self, arch: NB201Arch, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in arch.ops)
        self._none = tuple(op == "none" for op in arch.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NUM_NODES):
            total = None
            for k, (source, t) in enumerate(EDGES):
                if t != target or self._none[k]:
                    continue  # a 'none' edge adds zeros: skip the work, same result
                out = self.edges[k](nodes[source])
                total = out if total is None else total + out
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """NB201's stride-2 residual block between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def build_stages(channels: int, cells_per_stage: int, make_cell) -> tuple[list[nn.Module], int]:
    """NB201's body: 3 stages of ``cells_per_stage`` cells (``make_cell(c)``) at C, 2C, 4C with
    residual reductions between them.  Returns the layers and the last stage's channels."""
    layers: list[nn.Module] = []
    c_prev = channels
    for stage in range(3):
        c = channels * 2**stage
        if stage > 0:
            layers.append(ResidualReduction(c_prev, c))
        layers.extend(make_cell(c) for _ in range(cells_per_stage))
        c_prev = c
    return layers, c_prev


class NB201Network(nn.Module):
    """Stem, 3 stages of ``cells_per_stage`` cells (C, 2C, 4C) with residual reductions
    between them, then BN, ReLU, global average pooling and a linear classifier."""

    def __init__(self, arch: NB201Arch, *, channels: int, cells_per_stage: int, num_classes: int) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("cells_per_stage", cells_per_stage), ("num_classes", num_classes)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.arch = arch
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers, c_prev = build_stages(channels, cells_per_stage, lambda c: Cell(arch, c))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the classifier."""
        x = self.lastact(self.cells(self.stem(x)))
        return self.pool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
