"""Search spaces behind one contract (:class:`~bpe.spaces.base.SearchSpace`), registered by name:
``nb201`` (NAS-Bench-201) and ``darts`` (the DARTS / BPE-paper space)."""

from __future__ import annotations

from bpe.spaces.base import ListedSpace, SearchSpace, available_spaces, get_space, register_space

__all__ = ["ListedSpace", "SearchSpace", "available_spaces", "get_space", "register_space"]
