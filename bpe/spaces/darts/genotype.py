"""DARTS genotypes: the value, its one canonical string, and a parser for every written form.

A DARTS cell has two inputs (states 0 and 1, the outputs of the two previous cells) and four
intermediate nodes (states 2..5); node ``k`` sums two ops applied to two *different* earlier
states ``0..k+1``.  A genotype is a normal and a reduction cell, plus the states concatenated
at the output (always ``2, 3, 4, 5`` in this space).

Accepted forms (lists or tuples, with or without the ``Genotype`` name):

* nested per node, as in the BPE paper's records:
  ``Genotype(normal=[[('sep_conv_3x3', 0), ('dil_conv_5x5', 1)], ...4 nodes], normal_concat=range(2, 6), ...)``;
* flat, as in the DARTS repository: ``Genotype(normal=[('sep_conv_3x3', 0), ... 8 pairs], normal_concat=[2, 3, 4, 5], ...)``.

The canonical string is the flat form with the two pairs of a node sorted by input state (then
op), ``[2, 3, 4, 5]`` as the concat: two genotypes that build the same network write the same
string.  Strings are read with :mod:`ast` (never ``eval``).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bpe.errors import ArchStringError

__all__ = ["OPS", "NUM_NODES", "CONCAT", "DartsGenotype", "parse_genotype"]

#: The 7 operations of a derived DARTS cell (``none`` exists only in the supernet).
OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
#: Intermediate nodes per cell.
NUM_NODES = 4
#: States concatenated at a cell's output.
CONCAT: tuple[int, ...] = tuple(range(2, 2 + NUM_NODES))
_CELLS = ("normal", "reduce")
_EXAMPLE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, "
            "4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
            "reduce_concat=[2, 3, 4, 5])")

Pair = tuple[str, int]


def _canonical_cell(pairs: Sequence[Pair], cell: str) -> tuple[Pair, ...]:
    """Validate a cell's 8 (op, input) pairs (node-major) and sort each node's two pairs."""
    if len(pairs) != 2 * NUM_NODES:
        raise ArchStringError(f"a DARTS {cell} cell has {2 * NUM_NODES} (op, input) pairs (2 per node), "
                              f"got {len(pairs)}; example: {_EXAMPLE}")
    out: list[Pair] = []
    for node in range(NUM_NODES):
        two = []
        for op, source in pairs[2 * node: 2 * node + 2]:
            if op not in OPS:
                hint = " ('none' exists only in the supernet)" if op == "none" else ""
                raise ArchStringError(f"unknown op '{op}' in the DARTS {cell} cell{hint}; allowed ops: {', '.join(OPS)}")
            if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source <= node + 1:
                raise ArchStringError(f"node {node} of the DARTS {cell} cell takes inputs 0..{node + 1} "
                                      f"(the two cell inputs and the earlier nodes), got {source!r}")
            two.append((str(op), int(source)))
        if two[0][1] == two[1][1]:
            raise ArchStringError(f"node {node} of the DARTS {cell} cell takes both inputs from state {two[0][1]}; "
                                  f"a DARTS node has two different inputs")
        out.extend(sorted(two, key=lambda p: (p[1], p[0])))
    return tuple(out)


@dataclass(frozen=True, order=True)
class DartsGenotype:
    """An immutable DARTS genotype (normal and reduction cell); ``str`` is the canonical string.

    ``normal`` and ``reduce`` hold 8 ``(op, input)`` pairs each, node-major (pairs ``2k`` and
    ``2k+1`` feed node ``k``), each node's pairs sorted by input.  Build one with
    :meth:`from_cells` (which sorts and validates) or :func:`parse_genotype`.
    """

    normal: tuple[Pair, ...]
    reduce: tuple[Pair, ...]

    def __post_init__(self) -> None:
        for cell in _CELLS:
            pairs = getattr(self, cell)
            if tuple(pairs) != _canonical_cell(pairs, cell):
                raise ArchStringError(f"DARTS {cell} cell pairs must be sorted per node; use DartsGenotype.from_cells")

    @classmethod
    def from_cells(cls, normal: Sequence[Sequence[Any]], reduce: Sequence[Sequence[Any]]) -> DartsGenotype:
        """From two cells of 8 ``(op, input)`` pairs each, node-major, in any order within a node."""
        return cls(_canonical_cell([tuple(p) for p in normal], "normal"),
                   _canonical_cell([tuple(p) for p in reduce], "reduce"))

    @property
    def normal_concat(self) -> tuple[int, ...]:
        return CONCAT

    @property
    def reduce_concat(self) -> tuple[int, ...]:
        return CONCAT

    def __str__(self) -> str:
        def cell(pairs: tuple[Pair, ...]) -> str:
            return "[" + ", ".join(f"('{op}', {source})" for op, source in pairs) + "]"

        concat = "[" + ", ".join(map(str, CONCAT)) + "]"
        return (f"Genotype(normal={cell(self.normal)}, normal_concat={concat}, "
                f"reduce={cell(self.reduce)}, reduce_concat={concat})")


def _value(node: ast.AST, text: str) -> Any:
    """A literal (lists, tuples, strings, ints) or ``range(a, b)`` from the syntax tree."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(e, text) for e in node.elts]
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
        return node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and all(isinstance(a, ast.Constant) and isinstance(a.value, int) for a in node.args)):
        return list(range(*[a.value for a in node.args]))
    raise ArchStringError(f"malformed DARTS genotype '{text}': unexpected '{ast.unparse(node)}' "
                          f"(only lists, tuples, strings, integers and range(a, b)); example: {_EXAMPLE}")


def _flatten(cell: Any, name: str, text: str) -> list[Pair]:
    if not isinstance(cell, list) or not cell:
        raise ArchStringError(f"malformed DARTS genotype '{text}': {name} must be a list of (op, input) pairs")
    nested = all(isinstance(n, list) and n and all(isinstance(p, list) for p in n) for n in cell)
    pairs = [p for node in cell for p in node] if nested else cell
    if nested and any(len(node) != 2 for node in cell):
        raise ArchStringError(f"malformed DARTS genotype '{text}': every node of {name} lists 2 pairs")
    for p in pairs:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)):
            raise ArchStringError(f"malformed DARTS genotype '{text}': {name} holds {p!r}, not an ('op', input) pair")
    return [(p[0], p[1]) for p in pairs]


def parse_genotype(text: str) -> DartsGenotype:
    """Parse and validate a DARTS genotype string in any accepted form (see the module doc).

    Raises:
        ArchStringError: naming the problem (syntax, unknown op, bad input state, a node fed twice
            by one state, concat other than ``2..5``) with an example of the form.
    """
    if not isinstance(text, str):
        raise ArchStringError(f"a DARTS genotype must be a string, got {type(text).__name__}")
    text = text.strip()
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as err:
        raise ArchStringError(f"malformed DARTS genotype '{text}' ({err.msg}); example: {_EXAMPLE}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ArchStringError(f"malformed DARTS genotype '{text}': expected Genotype(normal=..., normal_concat=..., "
                              f"reduce=..., reduce_concat=...); example: {_EXAMPLE}")
    fields = ("normal", "normal_concat", "reduce", "reduce_concat")
    values: dict[str, Any] = {}
    if len(tree.args) > len(fields):
        raise ArchStringError(f"malformed DARTS genotype '{text}': at most {len(fields)} fields")
    for name, arg in zip(fields, tree.args):
        values[name] = _value(arg, text)
    for kw in tree.keywords:
        if kw.arg not in fields:
            raise ArchStringError(f"malformed DARTS genotype '{text}': unknown field '{kw.arg}' "
                                  f"(fields: {', '.join(fields)})")
        if kw.arg in values:
            raise ArchStringError(f"malformed DARTS genotype '{text}': field '{kw.arg}' given twice")
        values[kw.arg] = _value(kw.value, text)
    missing = [f for f in ("normal", "reduce") if f not in values]
    if missing:
        raise ArchStringError(f"malformed DARTS genotype '{text}': missing {', '.join(missing)}; example: {_EXAMPLE}")
    for name in ("normal_concat", "reduce_concat"):
        if name in values and list(values[name]) != list(CONCAT):
            raise ArchStringError(f"DARTS genotype '{text}': {name} must be {list(CONCAT)} (range(2, 6)) in this "
                                  f"space, got {values[name]}")
    return DartsGenotype.from_cells(_flatten(values["normal"], "normal", text), _flatten(values["reduce"], "reduce", text))
