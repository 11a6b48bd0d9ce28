"""Driver options from the command line: ``[ALGO.]KEY=VALUE`` items routed to the algorithms
that have them, parsed and checked before any work."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from bpe.errors import BPEError
from search_algos.base import algorithm_options as sample_based_options
from search_algos.base import check_options
from search_algos.fidelity import available_fidelity_methods, fidelity_options

__all__ = ["parse_value", "key_values", "algorithm_options"]


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true/false, quoted strings), a number
    when it looks like one (``.01``), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return float(text)
        except ValueError:
            return text


def key_values(items: Sequence[str], flag: str, example: str) -> list[tuple[str, Any]]:
    """``KEY=VALUE`` items -> (key, value) pairs (see :func:`parse_value`)."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key.endswith("."):
            raise BPEError(f"{flag} takes {example}, got '{item}'")
        pairs.append((key, parse_value(value.strip())))
    return pairs


def registered(algo: str) -> dict[str, Any]:
    """The options of a registered driver: sample-based or multi-fidelity."""
    return fidelity_options(algo) if algo in available_fidelity_methods() else sample_based_options(algo)


def algorithm_options(items: Sequence[str], algos: Sequence[str],
                      known: Callable[[str], dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``--algo-opt [ALGO.]KEY=VALUE`` items -> options per algorithm, checked against
    ``known(algo)`` (option -> default; the registered driver's options by default).  Without
    ``ALGO.`` an option goes to every algorithm that has it (at least one must)."""
    known = known or registered
    options: dict[str, dict[str, Any]] = {}
    for key, value in key_values(items, "--algo-opt", "[ALGO.]KEY=VALUE (e.g. rea.population=20)"):
        algo, dot, name = key.rpartition(".")
        if dot:
            if algo not in algos:
                raise BPEError(f"--algo-opt '{key}' names {algo}, which is not among --algo {','.join(algos)}")
            targets = [algo]
        else:
            targets = [a for a in algos if name in known(a)] or list(algos[:1])
        for target in targets:
            options.setdefault(target, {})[name] = value
    return {algo: check_options(algo, opts, known(algo)) for algo, opts in options.items()}
