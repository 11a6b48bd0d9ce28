"""The DARTS search space (Liu et al., 2019), the BPE paper's own: normal and reduction cells of
4 intermediate nodes with 2 inputs each and 7 operations (genotypes: :mod:`bpe.spaces.darts.genotype`;
networks: :mod:`bpe.spaces.darts.model`; supernet: :mod:`bpe.spaces.darts.supernet`).

Decisions (24; what REINFORCE chooses and mutation changes), per cell (normal, then reduce),
per node ``k``: the unordered pair of its two different inputs among states ``0..k+1``
(``C(k+2, 2)`` choices: 1, 3, 6, 10), the op of the lower input and the op of the higher
input (7 each).

Sampling: uniform over genotypes, as the BPE paper's generator draws them
(``random_darts_generator.py``: i.i.d. Gaussian weights per (edge, op), each edge's best
non-``none`` op, each node's two strongest edges).  With i.i.d. weights every edge's best op
is uniform over the 7 and every pair of edges is equally likely to be the strongest two, so
we draw exactly that distribution directly: per node two distinct inputs and one uniform op
each.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bpe.errors import ArchStringError
from bpe.spaces.base import SearchSpace, register_space
from bpe.spaces.darts.genotype import CONCAT, NUM_NODES, OPS, DartsGenotype, parse_genotype

__all__ = ["DartsSpace", "DartsGenotype", "OPS", "CONCAT", "DARTS_V2", "parse_genotype"]

#: The published DARTS (second order) cell, "DARTS_V2" in the DARTS repository (3.3 M parameters
#: at 36 channels, 20 layers).
DARTS_V2 = DartsGenotype.from_cells(
    [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
)

#: The input pairs of node ``k`` (lexicographic), the choices of its pair decision.
_PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple(itertools.combinations(range(k + 2), 2)) for k in range(NUM_NODES))
_CELLS = ("normal", "reduce")


@register_space("darts")
class DartsSpace(SearchSpace):
    """The DARTS space behind the search-space contract (see the module doc).  Not enumerable:
    about 1.1e18 genotypes."""

    enumerable = False
    eval_size = {"channels": 36, "layers": 20}  # the DARTS paper's CIFAR-10 evaluation network
    # what training-free scorers score: the DARTS search network (16 channels, 8 layers), as
    # zero-cost studies on DARTS do; at the evaluation size EPE-NAS took over 2 minutes a cell on a
    # 2-core CPU, and on the BPE paper's 100 cells AZ-NAS's expressivity ranks at 0.49 here
    score_size = {"channels": 16, "layers": 8}
    training_features = frozenset({"auxiliary", "drop_path"})
    OPS = OPS

    def parse(self, text: str) -> DartsGenotype:
        return parse_genotype(text)

    def arch_type(self) -> type:
        return DartsGenotype

    @property
    def size(self) -> int:
        per_cell = math.prod(len(p) * len(OPS) ** 2 for p in _PAIRS)
        return per_cell ** 2

    def random_arch(self, rng: np.random.Generator) -> DartsGenotype:
        cells = []
        for _ in _CELLS:
            pairs = []
            for k in range(NUM_NODES):
                inputs = rng.choice(k + 2, size=2, replace=False)
                ops = rng.integers(len(OPS), size=2)
                pairs += [(OPS[int(o)], int(i)) for o, i in zip(ops, inputs)]
            cells.append(pairs)
        return DartsGenotype.from_cells(*cells)

    def decisions(self) -> tuple[int, ...]:
        return tuple(n for _ in _CELLS for pairs in _PAIRS for n in (len(pairs), len(OPS), len(OPS)))

    def decision_names(self) -> tuple[str, ...]:
        return tuple(f"{cell} node {k} {what}" for cell in _CELLS for k in range(NUM_NODES)
                     for what in ("inputs", "op of lower input", "op of higher input"))

    def to_decisions(self, arch: DartsGenotype | str) -> tuple[int, ...]:
        arch = self.to_arch(arch)
        codes: list[int] = []
        for cell in _CELLS:
            pairs = getattr(arch, cell)
            for k in range(NUM_NODES):
                (op_a, a), (op_b, b) = pairs[2 * k], pairs[2 * k + 1]
                codes += [_PAIRS[k].index((a, b)), OPS.index(op_a), OPS.index(op_b)]
        return tuple(codes)

    def from_decisions(self, codes: Sequence[int]) -> DartsGenotype:
        sizes = self.decisions()
        if len(codes) != len(sizes) or any(not 0 <= int(c) < n for c, n in zip(codes, sizes)):
            raise ArchStringError(f"DARTS decisions must be {len(sizes)} codes within {sizes}, got {tuple(codes)}")
        cells, it = [], iter(int(c) for c in codes)
        for _ in _CELLS:
            pairs = []
            for k in range(NUM_NODES):
                a, b = _PAIRS[k][next(it)]
                pairs += [(OPS[next(it)], a), (OPS[next(it)], b)]
            cells.append(pairs)
        return DartsGenotype.from_cells(*cells)

    def graph_features(self, archs: Sequence[DartsGenotype | str]) -> tuple[list[str], np.ndarray]:
        """GRAF-style features of both cells: per cell, each op's count, how many edges read the
        two cell inputs and the intermediate nodes, and the depth (the longest chain of
        intermediate nodes) and the number of nodes fed by the cell inputs alone."""
        names = [f"{cell} {what}" for cell in _CELLS for what in
                 [f"{op} edges" for op in OPS] + ["edges from input 0", "edges from input 1",
                                                  "edges from nodes", "depth", "nodes fed by inputs only"]]
        rows = []
        for arch in archs:
            arch = self.to_arch(arch)
            row: list[float] = []
            for cell in _CELLS:
                pairs = getattr(arch, cell)
                depth = [0] * (NUM_NODES + 2)
                for k in range(NUM_NODES):
                    depth[k + 2] = 1 + max(depth[i] for _, i in pairs[2 * k:2 * k + 2])
                row += [sum(op == o for o, _ in pairs) for op in OPS]
                row += [sum(i == 0 for _, i in pairs), sum(i == 1 for _, i in pairs), sum(i >= 2 for _, i in pairs),
                        max(depth), sum(all(i < 2 for _, i in pairs[2 * k:2 * k + 2]) for k in range(NUM_NODES))]
            rows.append(row)
        return names, np.asarray(rows, dtype=float).reshape(len(rows), len(names))

    def build(self, arch: DartsGenotype | str, *, num_classes: int = 10, channels: int = 36, layers: int = 20,
              auxiliary: bool = False) -> Any:
        """The DARTS evaluation network (stem, reduction cells at 1/3 and 2/3 of ``layers``,
        optional auxiliary head; drop-path set by the training loop).  Defaults: the DARTS
        paper's CIFAR-10 evaluation size."""
        from bpe.spaces.darts.model import DARTSNetwork  # torch-heavy

        return DARTSNetwork(self.to_arch(arch), channels=channels, layers=layers, num_classes=num_classes,
                            auxiliary=auxiliary)

    def net_size(self, *, channels: int, layers: int) -> dict[str, int]:
        return {"channels": channels, "layers": layers}

    def supernet(self, *, num_classes: int = 10, channels: int = 16, layers: int = 8) -> Any:
        """The DARTS search network (8 ops incl. ``none`` on 14 edges per cell; DARTS's search
        size is 16 channels, 8 layers); ``derive()`` gives a :class:`DartsGenotype` by the top-2 rule."""
        from bpe.spaces.darts.supernet import DARTSSuperNet  # torch-heavy

        return DARTSSuperNet(channels=channels, layers=layers, num_classes=num_classes)
