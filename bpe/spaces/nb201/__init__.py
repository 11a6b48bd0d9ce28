"""NAS-Bench-201 search space: cell strings, enumeration, sampling, mutation, encoding and
the NB201 macro network.

A cell has 4 nodes and 6 edges; each edge carries one of 5 ops, giving 5**6 = 15,625 cells.
The canonical string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` lists, for nodes 1, 2 and 3,
the op on the edge from each earlier node.  Our enumeration index is the base-5 number of
the op indices in string order (first edge most significant) and is called the
*enumeration* index; the benchmark's own index (the row of its official file and tables) is
:func:`benchmark_index` (its order ships with the package as ``official_order.npy``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path

import numpy as np

from bpe.errors import ArchStringError, ConfigError
from bpe.spaces.base import SearchSpace, register_space

__all__ = [
    "NB201Space",
    "layers_to_cells_per_stage",
    "OPS",
    "EDGES",
    "NUM_ARCHS",
    "NB201Arch",
    "parse",
    "to_arch",
    "from_index",
    "benchmark_index",
    "from_benchmark_index",
    "enumerate_archs",
    "sample",
    "sample_nested",
    "mutate",
    "neighbours",
    "encode",
    "build",
]

#: The five NB201 ops in the benchmark's code order (0 none ... 4 avg_pool_3x3).
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (source node, target node) in string order.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4
NUM_ARCHS = len(OPS) ** len(EDGES)

_NODE_RE = re.compile(r"^\|(.*)\|$")


@dataclass(frozen=True, order=True)
class NB201Arch:
    """An immutable NB201 cell: the op of each of the 6 edges in string order.

    Equal strings mean equal archs; ``str(arch)`` is the canonical string.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES):
            raise ArchStringError(f"an NB201 cell has {len(EDGES)} edges, got {len(self.ops)} ops")
        for op in self.ops:
            if op not in OPS:
                raise ArchStringError(f"unknown op '{op}'; allowed ops: {', '.join(OPS)}")

    def __str__(self) -> str:
        parts, k = [], 0
        for node in range(1, NUM_NODES):
            parts.append("|" + "|".join(f"{self.ops[k + j]}~{j}" for j in range(node)) + "|")
            k += node
        return "+".join(parts)

    @cached_property
    def index(self) -> int:
        """Enumeration index in 0..15624 (base-5 digits of the op codes, string order)."""
        value = 0
        for op in self.ops:
            value = value * len(OPS) + OPS.index(op)
        return value

    @property
    def op_codes(self) -> tuple[int, ...]:
        """Op codes (0 none .. 4 avg_pool_3x3) in string order."""
        return tuple(OPS.index(op) for op in self.ops)

    def edge_op(self, source: int, target: int) -> str:
        """Op on the edge ``source -> target``."""
        return self.ops[EDGES.index((source, target))]


def parse(text: str) -> NB201Arch:
    """Parse and validate an NB201 cell string.

    Raises:
        ArchStringError: naming the problem (unknown op, wrong number of nodes or edges,
            bad source index) and listing the allowed ops.
    """
    if not isinstance(text, str):
        raise ArchStringError(f"an NB201 arch must be a string, got {type(text).__name__}")
    text = text.strip()
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    nodes = text.split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ArchStringError(
            f"malformed NB201 arch '{text}': expected {NUM_NODES - 1} nodes separated by '+', "
            f"got {len(nodes)}; example: {example}"
        )
    ops: list[str] = []
    for node, chunk in enumerate(nodes, start=1):
        match = _NODE_RE.match(chunk)
        if not match:
            raise ArchStringError(
                f"malformed NB201 arch '{text}': node {node} '{chunk}' must look like '|op~0|...|'"
            )
        edges = match.group(1).split("|")
        if len(edges) != node:
            raise ArchStringError(
                f"malformed NB201 arch '{text}': node {node} needs {node} edge(s), got {len(edges)}"
            )
        for source, edge in enumerate(edges):
            op, sep, src = edge.partition("~")
            if not sep:
                raise ArchStringError(f"malformed NB201 arch '{text}': edge '{edge}' must be 'op~source'")
            if op not in OPS:
                raise ArchStringError(
                    f"unknown op '{op}' in NB201 arch '{text}'; allowed ops: {', '.join(OPS)}"
                )
            if src != str(source):
                raise ArchStringError(
                    f"bad source index in NB201 arch '{text}': edge '{edge}' of node {node} "
                    f"must come from node {source}"
                )
            ops.append(op)
    return NB201Arch(tuple(ops))


def to_arch(arch: NB201Arch | str) -> NB201Arch:
    """Accept an :class:`NB201Arch` or a string."""
    return arch if isinstance(arch, NB201Arch) else parse(arch)


@cache
def from_index(index: int) -> NB201Arch:
    """Inverse of :attr:`NB201Arch.index` (built once per index: archs are immutable values, and a
    simulated search asks ~10^5 of them from a space of ~10^4)."""
    if not 0 <= int(index) < NUM_ARCHS:
        raise ArchStringError(f"NB201 index must be in 0..{NUM_ARCHS - 1}, got {index}")
    digits = []
    value = int(index)
    for _ in EDGES:
        digits.append(value % len(OPS))
        value //= len(OPS)
    return NB201Arch(tuple(OPS[d] for d in reversed(digits)))


@lru_cache(maxsize=1)
def _official_order() -> tuple[np.ndarray, np.ndarray]:
    """(benchmark index -> enumeration index, enumeration index -> benchmark index)."""
    to_enum = np.load(Path(__file__).with_name("official_order.npy")).astype(np.int64)
    to_bench = np.empty_like(to_enum)
    to_bench[to_enum] = np.arange(len(to_enum))
    return to_enum, to_bench


def benchmark_index(arch: NB201Arch | str) -> int:
    """NAS-Bench-201's own index of ``arch`` (its row in the official file and tables)."""
    return int(_official_order()[1][to_arch(arch).index])


def from_benchmark_index(index: int) -> NB201Arch:
    """The arch at NAS-Bench-201's own ``index`` (0..15624)."""
    if not 0 <= int(index) < NUM_ARCHS:
        raise ArchStringError(f"NB201 benchmark index must be in 0..{NUM_ARCHS - 1}, got {index}")
    return from_index(int(_official_order()[0][int(index)]))


def enumerate_archs() -> Iterator[NB201Arch]:
    """All 15,625 cells in enumeration-index order."""
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        yield NB201Arch(ops)


def sample(n: int, rng: np.random.Generator | int) -> list[NB201Arch]:
    """``n`` distinct cells drawn uniformly without replacement (the search drivers' draws; for
    samples that grow, see :func:`sample_nested`)."""
    rng = np.random.default_rng(rng)
    if not 0 <= n <= NUM_ARCHS:
        raise ArchStringError(f"can sample 0..{NUM_ARCHS} NB201 archs without replacement, got {n}")
    return [from_index(i) for i in rng.choice(NUM_ARCHS, size=n, replace=False)]


def sample_nested(n: int, seed: int) -> list[NB201Arch]:
    """The first ``n`` cells of one permutation seeded by ``seed``: samples of one seed are
    nested (the sample of 50 is the start of the sample of 100), so growing one reuses work."""
    if not 0 <= n <= NUM_ARCHS:
        raise ArchStringError(f"can sample 0..{NUM_ARCHS} NB201 archs without replacement, got {n}")
    return [from_index(i) for i in np.random.default_rng(seed).permutation(NUM_ARCHS)[:n]]


def mutate(arch: NB201Arch | str, rng: np.random.Generator | int) -> NB201Arch:
    """Change the op of one uniformly chosen edge to a different, uniformly chosen op."""
    arch = to_arch(arch)
    rng = np.random.default_rng(rng)
    edge = int(rng.integers(len(EDGES)))
    choices = [op for op in OPS if op != arch.ops[edge]]
    ops = list(arch.ops)
    ops[edge] = choices[int(rng.integers(len(choices)))]
    return NB201Arch(tuple(ops))


def neighbours(arch: NB201Arch | str) -> list[NB201Arch]:
    """The 24 cells at one-edge distance, in edge then op order."""
    arch = to_arch(arch)
    out = []
    for edge in range(len(EDGES)):
        for op in OPS:
            if op != arch.ops[edge]:
                ops = list(arch.ops)
                ops[edge] = op
                out.append(NB201Arch(tuple(ops)))
    return out


def encode(archs: Sequence[NB201Arch | str] | NB201Arch | str) -> np.ndarray:
    """One-hot encoding, shape ``(n, 30)`` (6 edges x 5 ops), float32; 1-D for one arch."""
    single = isinstance(archs, (str, NB201Arch))
    items = [archs] if single else list(archs)
    out = np.zeros((len(items), len(EDGES) * len(OPS)), dtype=np.float32)
    for row, arch in enumerate(items):
        for edge, code in enumerate(to_arch(arch).op_codes):
            out[row, edge * len(OPS) + code] = 1.0
    return out[0] if single else out


def build(
    arch: NB201Arch | str,
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
):
    """The NB201 macro network for ``arch`` (a ``torch.nn.Module``).

    ``channels=16, cells_per_stage=5, num_classes=10`` is the benchmark model, whose
    parameter count matches the table's ``v11_params_cifar10_MB``.
    """
    from bpe.spaces.nb201.model import NB201Network  # torch imported only when building

    return NB201Network(
        to_arch(arch), channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes
    )


def layers_to_cells_per_stage(layers: int) -> int:
    """The BPE paper's DARTS ``layers`` as NB201 cells per stage ``N``.

    A DARTS network of ``L`` layers has two reduction cells and ``L - 2`` normal cells in
    three stages; NB201 has ``3 * N`` normal cells and two residual reduction blocks, so
    ``N = max(1, round((L - 2) / 3))``: BPE-1's 6 layers give 1 cell per stage, BPE-2's 16
    give 5 (the benchmark's).  ``3 * N + 2`` layers give back ``N``.
    """
    if layers < 1:
        raise ConfigError(f"layers must be >= 1, got {layers}")
    return max(1, round((layers - 2) / 3))


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201 behind the search-space contract (the module functions, as an object).

    Decisions: the op (5 choices) of each of the 6 edges, in string order.  Sampling,
    mutation and neighbours are the module's functions (the same draws as before the
    contract existed, so seeded searches and samples are unchanged).
    """

    enumerable = True
    eval_size = {"channels": 16, "layers": 17}  # the benchmark network: C=16, N=5
    OPS = OPS
    EDGES = EDGES

    def parse(self, text: str) -> NB201Arch:
        return parse(text)

    def arch_type(self) -> type:
        return NB201Arch

    @property
    def size(self) -> int:
        return NUM_ARCHS

    def enumerate_archs(self) -> Iterator[NB201Arch]:
        return enumerate_archs()

    def random_arch(self, rng: np.random.Generator) -> NB201Arch:
        return from_index(int(rng.integers(NUM_ARCHS)))

    def random_order(self, rng: np.random.Generator | int) -> Iterator[NB201Arch]:
        """A seeded permutation of the whole space."""
        for i in np.random.default_rng(rng).permutation(NUM_ARCHS):
            yield from_index(int(i))

    def sample(self, n: int, rng: np.random.Generator | int) -> list[NB201Arch]:
        return sample(n, rng)

    def sample_nested(self, n: int, seed: int) -> list[NB201Arch]:
        return sample_nested(n, seed)

    def decisions(self) -> tuple[int, ...]:
        return (len(OPS),) * len(EDGES)

    def decision_names(self) -> tuple[str, ...]:
        return tuple(f"edge {s}->{t}" for s, t in EDGES)

    def to_decisions(self, arch: NB201Arch | str) -> tuple[int, ...]:
        return to_arch(arch).op_codes

    def from_decisions(self, codes: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(OPS[int(c)] for c in codes))

    def mutate(self, arch: NB201Arch | str, rng: np.random.Generator | int) -> NB201Arch:
        return mutate(arch, rng)

    def neighbours(self, arch: NB201Arch | str) -> list[NB201Arch]:
        return neighbours(arch)

    def encode(self, archs):  # noqa: ANN001, ANN201 - as the module function
        return encode(archs)

    def graph_features(self, archs):  # noqa: ANN001, ANN201 - as the contract
        from bpe.spaces.nb201.features import graph_features  # cycle: features imports this module

        return graph_features(archs)

    # the benchmark's own index (arch lists may give it)
    def index(self, arch: NB201Arch | str) -> int:
        """The enumeration index of ``arch``."""
        return to_arch(arch).index

    def from_index(self, index: int) -> NB201Arch:
        """Inverse of :meth:`index`."""
        return from_index(index)

    def benchmark_index(self, arch: NB201Arch | str) -> int:
        """NAS-Bench-201's own index of ``arch``."""
        return benchmark_index(arch)

    def from_benchmark_index(self, index: int) -> NB201Arch:
        """The arch at NAS-Bench-201's own ``index``."""
        return from_benchmark_index(index)

    def predictor_features(self, archs: Sequence[NB201Arch | str], *, channels: int = 16,
                           image_size: int = 32) -> np.ndarray:
        """The ranking predictor's feature tensor (:func:`bpe.spaces.nb201.features.feature_tensor`)."""
        from bpe.spaces.nb201.features import feature_tensor  # imports this module: a cycle at the top

        return feature_tensor(archs, channels=channels, image_size=image_size)

    def build(self, arch: NB201Arch | str, *, num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5):
        return build(arch, channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes)

    def net_size(self, *, channels: int, layers: int) -> dict[str, int]:
        return {"channels": channels, "cells_per_stage": layers_to_cells_per_stage(layers)}

    def describe_size(self, *, channels: int, layers: int) -> str:
        return f"C={channels}, N={layers_to_cells_per_stage(layers)}"

    def supernet(self, *, num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5):
        from bpe.spaces.nb201.supernet import NB201SuperNet  # torch-heavy

        return NB201SuperNet(channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes)
