"""Search spaces behind one contract (:class:`~bpe.spaces.base.SearchSpace`), registered by name:
``nb201`` (NAS-Bench-201) and ``darts`` (the DARTS / BPE-paper space)."""

from __future__ import annotations

from bpe.spaces.base import SearchSpace, available_spaces, get_space, register_space

__all__ = ["SearchSpace", "available_spaces", "get_space", "register_space"]
