"""A small named registry (timm/torchvision style): a decorator adds a class under a name, a
duplicate name is an error, and a lookup of an unknown name suggests the closest one."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

__all__ = ["Registry", "did_you_mean"]

T = TypeVar("T", bound=type)


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names`` to an unknown ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    """Classes by name.

    Args:
        kind: what is registered, for messages ("estimator", "search algorithm").
        error: exception raised for an unknown name (a user-facing error type).
        loader: called before lookups to import the built-in entries.
    """

    def __init__(self, kind: str, error: type[Exception], loader: Callable[[], None] | None = None) -> None:
        self.kind, self.error, self._loader = kind, error, loader
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: add the class under ``name`` and set its ``name`` attribute."""

        def deco(cls: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered ({self._entries[name].__name__})")
            cls.name = name
            self._entries[name] = cls
            return cls

        return deco

    def names(self) -> list[str]:
        """Sorted registered names."""
        if self._loader:
            self._loader()
        return sorted(self._entries)

    def get(self, name: str, *, extra_hint: str = "") -> T:
        """The class registered under ``name``; unknown names raise ``error`` with a suggestion."""
        names = self.names()
        if name not in self._entries:
            raise self.error(f"unknown {self.kind} '{name}'{did_you_mean(name, names)} "
                             f"(available: {', '.join(names)}{extra_hint})")
        return self._entries[name]
