"""The DARTS search network (Liu et al., 2019): every edge of a cell is a mixed op over all
8 :data:`~bpe.spaces.darts.ops.PRIMITIVES`, weighted by the softmax of architecture logits.

A cell has 4 intermediate nodes; node ``k`` takes an edge from each of its ``k + 2``
predecessors (the cell's two inputs and the nodes before it), which gives 14 edges in the
node-major order of :data:`EDGES`.  All normal cells share one set of logits and all
reduction cells another: ``alphas`` has shape (2, 14, 8), ``[0]`` normal, ``[1]`` reduction,
the last dimension ordered as ``PRIMITIVES``.  BatchNorms in the search network have no
affine parameters, as in the original search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bpe.spaces.darts.genotype import DartsGenotype
from bpe.spaces.darts.model import build_cells
from bpe.spaces.darts.ops import PRIMITIVES, FactorizedReduce, StdConv, make_op

__all__ = ["DARTSSuperNet", "SearchCell", "MixedOp", "EDGES", "NUM_EDGES", "derive_pairs", "CellPairs"]

NUM_NODES = 4

#: ``(node, input)`` of every edge of a cell, node-major (the second axis of ``alphas``).
EDGES: tuple[tuple[int, int], ...] = tuple((node, source) for node in range(NUM_NODES) for source in range(node + 2))

#: Edges per cell (14).
NUM_EDGES = len(EDGES)

#: A derived cell: 8 ``(op, input)`` pairs, node-major.
CellPairs = tuple[tuple[str, int], ...]


class MixedOp(nn.Module):
    """Every primitive on one edge; the output is their weighted sum, or (with ``index``) the
    chosen op's output times its weight."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, channels, stride, False) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: int | None = None) -> torch.Tensor:
        if index is not None:
            return weights[index] * self.ops[index](x)
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    """A search cell: preprocessing of the two inputs (no affine BN), 14 mixed edges, and the
    concatenation of the 4 intermediate nodes."""

    def __init__(self, c_pp: int, c_p: int, channels: int, *, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_pp, channels, affine=False) if reduction_prev
                            else StdConv(c_pp, channels, 1, 1, 0, affine=False))
        self.preprocess1 = StdConv(c_p, channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(MixedOp(channels, 2 if reduction and source < 2 else 1) for _, source in EDGES)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                index: Sequence[int] | None = None) -> torch.Tensor:
        """``weights`` (14, 8): op weights per edge; ``index`` (14 ints): the op run on each edge (GDAS)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for node in range(NUM_NODES):
            total = 0
            for source in range(node + 2):
                total = total + self.edges[edge](states[source], weights[edge],
                                                 None if index is None else index[edge])
                edge += 1
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DARTSSuperNet(nn.Module):
    """The DARTS search network: stem, ``layers`` search cells (reductions at ``layers // 3``
    and ``2 * layers // 3``), global average pooling and a linear classifier, with
    architecture logits ``alphas`` of shape (2, 14, 8).

    ``forward(x, weights, index)`` uses ``softmax(alphas)`` when ``weights`` is None; with
    ``index`` (2, 14) only op ``index[c, e]`` of each edge runs, scaled by
    ``weights[c, e, index[c, e]]`` (GDAS's straight-through path).
    """

    def __init__(self, *, channels: int, layers: int, num_classes: int, stem_multiplier: int = 3) -> None:
        super().__init__()

        def make_cell(c_pp: int, c_p: int, c: int, *, reduction: bool, reduction_prev: bool) -> tuple[nn.Module, int]:
            return SearchCell(c_pp, c_p, c, reduction=reduction, reduction_prev=reduction_prev), NUM_NODES * c

        self.stem, cells, outputs = build_cells(make_cell, channels=channels, layers=layers, num_classes=num_classes,
                                                stem_multiplier=stem_multiplier)
        self.cells = nn.ModuleList(cells)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(outputs[-1], num_classes)
        self.alphas = nn.Parameter(1e-3 * torch.randn(2, NUM_EDGES, len(PRIMITIVES)))

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the architecture logits."""
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                index: torch.Tensor | None = None) -> torch.Tensor:
        weights = F.softmax(self.alphas, dim=-1) if weights is None else weights
        if tuple(weights.shape) != tuple(self.alphas.shape):
            raise ValueError(f"weights must have shape {tuple(self.alphas.shape)}, got {tuple(weights.shape)}")
        rows = None
        if index is not None:
            if tuple(index.shape) != (2, NUM_EDGES):
                raise ValueError(f"index must have shape (2, {NUM_EDGES}), got {tuple(index.shape)}")
            rows = index.tolist()  # one device sync per forward, not one per edge
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kind = 1 if cell.reduction else 0
            s0, s1 = s1, cell(s0, s1, weights[kind], None if rows is None else rows[kind])
        return self.classifier(self.pool(s1).flatten(1))

    def derive(self) -> DartsGenotype:
        """The genotype of the current logits (the top-2 rule, :func:`derive_pairs`)."""
        return DartsGenotype.from_cells(*derive_pairs(F.softmax(self.alphas.detach(), dim=-1)))

    def derive_from(self, probabilities: Any) -> tuple[CellPairs, CellPairs]:
        """The discrete cells of given op probabilities of shape (2, 14, 8) (see :func:`derive_pairs`)."""
        return derive_pairs(probabilities)


def derive_pairs(weights: Any) -> tuple[CellPairs, CellPairs]:
    """DARTS's discretisation of op weights of shape (2, 14, 8) (tensor, array or nested lists).

    For every node, each incoming edge's strength is its largest weight over the ops other
    than ``none``; the 2 strongest edges are kept (ties go to the lower input index), each
    with its best op other than ``none`` (ties go to the earlier op in ``PRIMITIVES``).
    Returns ``(normal, reduce)``, each 8 ``(op, input)`` pairs, node-major, the 2 pairs of a
    node sorted by input index.
    """
    if isinstance(weights, torch.Tensor):
        weights = weights.detach()
    w = torch.as_tensor(weights, dtype=torch.float64, device="cpu")
    shape = (2, NUM_EDGES, len(PRIMITIVES))
    if tuple(w.shape) != shape:
        raise ValueError(f"op weights must have shape {shape}, got {tuple(w.shape)}")
    rows = w.tolist()
    if not all(math.isfinite(v) for cell in rows for edge in cell for v in edge):
        raise ValueError("op weights must be finite")
    real = [k for k, name in enumerate(PRIMITIVES) if name != "none"]
    cells = []
    for cell in rows:
        pairs: list[tuple[str, int]] = []
        first = 0
        for node in range(NUM_NODES):
            best = []  # per input: (strength, best op index)
            for source in range(node + 2):
                edge = cell[first + source]
                k = max(real, key=lambda j: (edge[j], -j))
                best.append((edge[k], k))
            first += node + 2
            kept = sorted(range(node + 2), key=lambda s: (-best[s][0], s))[:2]
            pairs.extend((PRIMITIVES[best[s][1]], s) for s in sorted(kept))
        cells.append(tuple(pairs))
    return cells[0], cells[1]
