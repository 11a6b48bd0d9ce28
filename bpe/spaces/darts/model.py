"""The DARTS evaluation network for CIFAR-sized inputs (Liu et al., 2019).

A stem, ``layers`` cells built from one genotype (reduction cells at ``layers // 3`` and
``2 * layers // 3``, which double the channels and halve the resolution), global average
pooling and a linear classifier; optionally an auxiliary classifier after the second
reduction cell.  Every op but the identity is followed by a :class:`~bpe.spaces.darts.ops.DropPath`
whose probability :meth:`DARTSNetwork.set_drop_path` sets.

The genotype is duck-typed: anything with ``normal`` and ``reduce`` (8 ``(op, input)`` pairs
each, node-major: pairs ``2k`` and ``2k + 1`` feed intermediate node ``k``; inputs 0 and 1 are
the cell's two inputs, ``j >= 2`` is intermediate node ``j - 2``) and ``normal_concat`` /
``reduce_concat`` (the state indices concatenated at the cell's output, normally 2..5).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bpe.errors import ArchStringError, ConfigError
from bpe.spaces.darts.ops import DropPath, FactorizedReduce, StdConv, make_op

__all__ = ["DARTSNetwork", "DARTSCell", "AuxiliaryHead", "count_parameters", "NUM_NODES"]

#: Intermediate nodes per cell.
NUM_NODES = 4


def _check_cell(pairs: Sequence[tuple[str, int]], concat: Sequence[int], which: str) -> None:
    """Raise :class:`ArchStringError` unless ``pairs`` and ``concat`` describe a valid cell."""
    if len(pairs) != 2 * NUM_NODES:
        raise ArchStringError(f"the {which} cell needs {2 * NUM_NODES} (op, input) pairs, got {len(pairs)}")
    for position, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ArchStringError(f"{which} cell, pair {position}: expected (op, input), got {pair!r}")
        node, index = position // 2, pair[1]
        if not isinstance(index, numbers.Integral) or isinstance(index, bool) or not 0 <= index < node + 2:
            raise ArchStringError(f"{which} cell, pair {position}: node {node} takes an input in 0..{node + 1}, "
                                  f"got {index!r}")
    if not concat or any(not isinstance(i, numbers.Integral) or not 2 <= i < NUM_NODES + 2 for i in concat):
        raise ArchStringError(f"the {which} cell's concat must be intermediate states in 2..{NUM_NODES + 1}, "
                              f"got {tuple(concat)!r}")


class DARTSCell(nn.Module):
    """One cell of the evaluation network.

    Args:
        pairs: 8 ``(op, input)`` pairs, node-major.
        concat: the states concatenated at the output.
        c_pp, c_p: channels of the cell's two inputs (the outputs of the cells two back and one back).
        channels: channels of every op in the cell.
        reduction: a reduction cell (ops on the cell inputs have stride 2).
        reduction_prev: the previous cell was a reduction cell (the first input is reduced to match).
    """

    def __init__(self, pairs: Sequence[tuple[str, int]], concat: Sequence[int], c_pp: int, c_p: int, channels: int, *,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_pp, channels) if reduction_prev
                            else StdConv(c_pp, channels, 1, 1, 0))
        self.preprocess1 = StdConv(c_p, channels, 1, 1, 0)
        self.inputs = tuple(int(index) for _, index in pairs)
        self.concat = tuple(int(i) for i in concat)
        ops = []
        for name, index in pairs:
            op = make_op(name, channels, 2 if reduction and index < 2 else 1, True)
            ops.append(op if isinstance(op, nn.Identity) else nn.Sequential(op, DropPath()))
        self.ops = nn.ModuleList(ops)

    @property
    def multiplier(self) -> int:
        """Output channels divided by the ops' channels (the number of concatenated states)."""
        return len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(NUM_NODES):
            a, b = 2 * node, 2 * node + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier: ReLU, average pooling to 2x2 (adaptive, so any input size
    works; the original pools 8x8 with a 5x5 window, stride 3), 1x1 conv to 128, BN, ReLU,
    2x2 conv to 768, BN, ReLU and a linear layer."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        size = x.shape[-1]
        # DARTS (and the BPE paper's code): a 5x5 average pool to 2x2 on the 7 or 8 px map of
        # 32 px images; any other size (proxy resolutions) pools adaptively to 2x2
        x = (F.avg_pool2d(x, 5, stride=size - 5, count_include_pad=False) if size in (7, 8)
             else F.adaptive_avg_pool2d(x, 2))
        return self.classifier(self.features(x).flatten(1))


def build_cells(make_cell: Any, *, channels: int, layers: int, num_classes: int,
                stem_multiplier: int) -> tuple[nn.Sequential, list[nn.Module], list[int]]:
    """The DARTS macro skeleton shared by the evaluation network and the supernet.

    Checks the sizes, builds the stem (3x3 conv to ``stem_multiplier * channels``, BN) and
    ``layers`` cells, reductions at ``layers // 3`` and ``2 * layers // 3`` doubling the
    channels; ``make_cell(c_pp, c_p, c, reduction=..., reduction_prev=...)`` returns a cell and
    its output channels.  Returns the stem, the cells and each cell's output channels.
    """
    for name, value in (("channels", channels), ("layers", layers), ("num_classes", num_classes),
                        ("stem_multiplier", stem_multiplier)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    c_stem = stem_multiplier * channels
    stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
    c_pp, c_p, c = c_stem, c_stem, channels
    reductions = {layers // 3, 2 * layers // 3}
    reduction_prev = False
    cells, outputs = [], []
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            c *= 2
        cell, c_out = make_cell(c_pp, c_p, c, reduction=reduction, reduction_prev=reduction_prev)
        cells.append(cell)
        outputs.append(c_out)
        reduction_prev = reduction
        c_pp, c_p = c_p, c_out
    return stem, cells, outputs


class DARTSNetwork(nn.Module):
    """The DARTS evaluation network built from ``genotype`` (see the module docstring).

    Args:
        genotype: the cells (duck-typed: ``normal``, ``reduce``, ``normal_concat``, ``reduce_concat``).
        channels: initial channels C (36 in the paper's CIFAR-10 network).
        layers: number of cells (20 in the paper).
        num_classes: classifier outputs.
        auxiliary: add the auxiliary head after cell ``2 * layers // 3`` (attribute
            ``auxiliary_head``; :func:`count_parameters` leaves it out by default).
        stem_multiplier: the stem outputs ``stem_multiplier * channels`` channels.

    ``forward`` returns the logits.  In training mode with the auxiliary head, that forward's
    auxiliary logits are kept in ``auxiliary_logits`` (``None`` otherwise).
    """

    def __init__(self, genotype: Any, *, channels: int, layers: int, num_classes: int, auxiliary: bool = False,
                 stem_multiplier: int = 3) -> None:
        super().__init__()
        normal, reduce = tuple(genotype.normal), tuple(genotype.reduce)
        normal_concat, reduce_concat = tuple(genotype.normal_concat), tuple(genotype.reduce_concat)
        _check_cell(normal, normal_concat, "normal")
        _check_cell(reduce, reduce_concat, "reduction")
        self.genotype = genotype
        self.auxiliary_position: int | None = 2 * layers // 3 if auxiliary else None
        self.auxiliary_logits: torch.Tensor | None = None

        def make_cell(c_pp: int, c_p: int, c: int, *, reduction: bool, reduction_prev: bool) -> tuple[nn.Module, int]:
            pairs, concat = (reduce, reduce_concat) if reduction else (normal, normal_concat)
            cell = DARTSCell(pairs, concat, c_pp, c_p, c, reduction=reduction, reduction_prev=reduction_prev)
            return cell, c * cell.multiplier

        self.stem, cells, outputs = build_cells(make_cell, channels=channels, layers=layers, num_classes=num_classes,
                                                stem_multiplier=stem_multiplier)
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = (AuxiliaryHead(outputs[self.auxiliary_position], num_classes) if auxiliary
                               else None)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(outputs[-1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the classifier (also sets ``auxiliary_logits``)."""
        self.auxiliary_logits = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.auxiliary_position and self.training:
                self.auxiliary_logits = self.auxiliary_head(s1)
        return self.pool(s1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def set_drop_path(self, p: float) -> None:
        """Set the drop-path probability ``p`` (in [0, 1)) of every op."""
        for module in self.modules():
            if isinstance(module, DropPath):
                module.p = p


def count_parameters(net: nn.Module, exclude_auxiliary: bool = True) -> int:
    """Number of parameters of ``net``; by default without those of a module named
    ``auxiliary_head`` (papers report DARTS model sizes without the auxiliary classifier)."""
    return sum(p.numel() for name, p in net.named_parameters()
               if not (exclude_auxiliary and "auxiliary_head" in name.split(".")))
