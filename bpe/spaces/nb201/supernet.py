"""The NAS-Bench-201 weight-sharing supernet (every op on every edge), for one-shot search."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bpe.spaces.nb201 import EDGES, NUM_NODES, OPS, NB201Arch
from bpe.spaces.nb201.model import build_stages, make_op

__all__ = ["MixedCell", "NB201SuperNet"]


class MixedCell(nn.Module):
    """An NB201 cell with every op on every edge; node outputs are weighted sums over ops."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, channels, affine=False) for op in OPS) for _ in EDGES
        )

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``weights`` (6, 5): op weights per edge.  With ``index`` (GDAS) only the chosen op of
        each edge runs, scaled by its (straight-through) weight."""
        nodes = [x]
        for target in range(1, NUM_NODES):
            total = 0
            for k, (source, t) in enumerate(EDGES):
                if t != target:
                    continue
                if index is None:
                    total = total + sum(w * op(nodes[source]) for w, op in zip(weights[k], self.edges[k]))
                else:
                    j = int(index[k])
                    total = total + weights[k, j] * self.edges[k][j](nodes[source])
            nodes.append(total)
        return nodes[-1]


class NB201SuperNet(nn.Module):
    """The NB201 macro network with mixed cells and architecture logits ``alphas`` (6, 5)."""

    def __init__(self, *, channels: int, cells_per_stage: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers, c_prev = build_stages(channels, cells_per_stage, MixedCell)
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c_prev, num_classes)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the architecture logits."""
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, index: torch.Tensor | None = None) -> torch.Tensor:
        weights = F.softmax(self.alphas, dim=-1) if weights is None else weights
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, weights, index) if isinstance(layer, MixedCell) else layer(x)
        x = self.lastact(x)
        return self.classifier(x.mean(dim=(2, 3)))

    def derive(self) -> NB201Arch:
        """The argmax op of every edge."""
        codes = self.alphas.detach().argmax(dim=-1).tolist()
        return NB201Arch(tuple(OPS[c] for c in codes))


