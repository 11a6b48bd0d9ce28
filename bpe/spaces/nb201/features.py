"""ReNAS-style feature tensors for NB201 cells: an op-type tensor on the cell's adjacency plus
per-stage FLOPs and parameter matrices, computed with the project's own model builder.

For a cell the tensor has ``5 + 2 * 3 + 1`` channels of 4x4 (nodes x nodes):
channels 0-4 one-hot op type on edge (i -> j); 5-7 MACs (millions) of the edge's op in stage
1, 2, 3 (C, 2C, 4C channels at 1, 1/2, 1/4 resolution); 8-10 its parameters (thousands);
11 whether the edge is *live*: not ``none`` and on a path from the cell input to its output
(a dead edge cannot influence the network).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from bpe.spaces import nb201

__all__ = ["N_CHANNELS", "feature_tensor", "live_edges", "op_costs", "graph_features"]

#: Input -> output paths of the cell, as edge indices (string order): 0->3, 0->1->3, 0->2->3, 0->1->2->3.
_PATHS: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))
_CONVS = ("nor_conv_1x1", "nor_conv_3x3")

N_CHANNELS = len(nb201.OPS) + 2 * 3 + 1


@lru_cache(maxsize=8)
def op_costs(channels: int = 16, image_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(MACs in millions, parameters in thousands) of each op (rows) in each stage (columns)."""
    from bpe.flops import count_macs, count_params  # torch-heavy
    from bpe.spaces.nb201.model import make_op  # torch-heavy

    macs = np.zeros((len(nb201.OPS), 3))
    params = np.zeros((len(nb201.OPS), 3))
    for stage in range(3):
        c, size = channels * 2**stage, max(1, image_size // 2**stage)
        for i, op in enumerate(nb201.OPS):
            module = make_op(op, c)
            macs[i, stage] = count_macs(module, (1, c, size, size)) / 1e6
            params[i, stage] = count_params(module) / 1e3
    return macs, params


def live_edges(arch: nb201.NB201Arch | str) -> tuple[bool, ...]:
    """Per edge (string order): not ``none`` and on an input -> output path of the cell."""
    ops = nb201.to_arch(arch).ops
    on = [op != "none" for op in ops]
    reach = [True] + [False] * (nb201.NUM_NODES - 1)  # reachable from the input node
    for k, (i, j) in enumerate(nb201.EDGES):  # edges are in topological order of targets
        reach[j] = reach[j] or (on[k] and reach[i])
    to_out = [False] * (nb201.NUM_NODES - 1) + [True]  # reaches the output node
    for k, (i, j) in reversed(list(enumerate(nb201.EDGES))):
        to_out[i] = to_out[i] or (on[k] and to_out[j])
    return tuple(on[k] and reach[i] and to_out[j] for k, (i, j) in enumerate(nb201.EDGES))


def graph_features(archs: Sequence[nb201.NB201Arch | str]) -> tuple[list[str], np.ndarray]:
    """GRAF-style features of NB201 cells (Kadlecova et al., 2024): per op its count on all edges
    and on live edges; the live input -> output paths (count, shortest and longest in edges);
    the most and fewest convolutions on a live path; the live in-degree of the output node and
    out-degree of the input node."""
    names = ([f"{op} edges" for op in nb201.OPS] + [f"{op} live edges" for op in nb201.OPS]
             + ["live paths", "shortest live path", "longest live path", "most convs on a live path",
                "fewest convs on a live path", "output in-degree", "input out-degree"])
    rows = []
    for arch in archs:
        ops = nb201.to_arch(arch).ops
        live = live_edges(arch)
        paths = [p for p in _PATHS if all(ops[k] != "none" for k in p)]
        convs = [sum(ops[k] in _CONVS for k in p) for p in paths]
        rows.append([sum(o == op for o in ops) for op in nb201.OPS]
                    + [sum(o == op and on for o, on in zip(ops, live)) for op in nb201.OPS]
                    + [len(paths), min(map(len, paths), default=0), max(map(len, paths), default=0),
                       max(convs, default=0), min(convs, default=0),
                       sum(live[k] for k, (_, j) in enumerate(nb201.EDGES) if j == nb201.NUM_NODES - 1),
                       sum(live[k] for k, (i, _) in enumerate(nb201.EDGES) if i == 0)])
    return names, np.asarray(rows, dtype=float).reshape(len(rows), len(names))


def feature_tensor(archs: Sequence[nb201.NB201Arch | str], *, channels: int = 16, image_size: int = 32) -> np.ndarray:
    """Features of ``archs``: float32 array ``(n, 11, 4, 4)`` (see module docstring)."""
    macs, params = op_costs(channels, image_size)
    parsed = [nb201.to_arch(a) for a in archs]
    codes = np.array([a.op_codes for a in parsed], dtype=np.int64).reshape(-1, len(nb201.EDGES))
    live = np.array([live_edges(a) for a in parsed], dtype=np.float32).reshape(-1, len(nb201.EDGES))
    out = np.zeros((len(codes), N_CHANNELS, nb201.NUM_NODES, nb201.NUM_NODES), dtype=np.float32)
    rows = np.arange(len(codes))
    n_ops = len(nb201.OPS)
    for k, (i, j) in enumerate(nb201.EDGES):
        c = codes[:, k]
        out[rows, c, i, j] = 1.0
        out[:, n_ops:n_ops + 3, i, j] = macs[c]
        out[:, n_ops + 3:n_ops + 6, i, j] = params[c]
        out[:, n_ops + 6, i, j] = live[:, k]
    return out
