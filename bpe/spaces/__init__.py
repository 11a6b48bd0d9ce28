"""Search spaces (one module per space)."""

from __future__ import annotations

from types import ModuleType

from bpe.errors import BPEError
from bpe.spaces import nb201

__all__ = ["SPACES", "get_space"]

SPACES = ("nb201",)


def get_space(name: str) -> ModuleType:
    """The module of a search space by name (``nb201``)."""
    if name == "nb201":
        return nb201
    raise BPEError(f"unknown search space '{name}'; choose one of {', '.join(SPACES)}")
