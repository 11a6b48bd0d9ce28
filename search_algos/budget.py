"""Search budgets: evaluations, wall seconds, simulated seconds — checked in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bpe.errors import BPEError

__all__ = ["Budget", "Spent", "parse_budget"]


@dataclass(frozen=True)
class Budget:
    """Limits of one search run; ``None`` means unlimited.  At least one must be set.

    Attributes:
        evaluations: distinct architectures evaluated (repeats are free: served from the cache).
        seconds: wall seconds spent in evaluations.
        simulated_seconds: seconds charged by the benchmark's recorded training time.
    """

    evaluations: int | None = None
    seconds: float | None = None
    simulated_seconds: float | None = None

    def __post_init__(self) -> None:
        values = {"evaluations": self.evaluations, "seconds": self.seconds, "simulated_seconds": self.simulated_seconds}
        if all(v is None for v in values.values()):
            raise BPEError("a budget needs a limit: N (evaluations), Ns (seconds) or Ns-simulated")
        for name, value in values.items():
            if value is not None and not value > 0:
                raise BPEError(f"budget {name} must be > 0, got {value}")

    def allows(self, spent: Spent, *, evaluations: int = 0, seconds: float = 0.0, simulated: float = 0.0) -> bool:
        """True when ``spent`` plus the given extra stays within every limit."""
        return (
            (self.evaluations is None or spent.evaluations + evaluations <= self.evaluations)
            and (self.seconds is None or spent.seconds + seconds <= self.seconds)
            and (self.simulated_seconds is None or spent.simulated_seconds + simulated <= self.simulated_seconds)
        )

    def describe(self) -> str:
        """The budget in ``parse_budget`` syntax."""
        parts = []
        if self.evaluations is not None:
            parts.append(f"{self.evaluations}")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g}s")
        if self.simulated_seconds is not None:
            parts.append(f"{self.simulated_seconds:g}s-simulated")
        return ",".join(parts)


@dataclass
class Spent:
    """What a run has spent so far."""

    evaluations: int = 0
    seconds: float = 0.0
    simulated_seconds: float = 0.0


_PART = re.compile(r"^\s*(?P<value>[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?P<unit>s|s-simulated)?\s*$", re.I)


def parse_budget(text: str) -> Budget:
    """Parse ``"100"`` (evaluations), ``"3600s"`` (wall seconds), ``"12000s-simulated"``, or a
    comma-separated combination (every limit applies)."""
    fields: dict[str, float] = {}
    for part in str(text).split(","):
        match = _PART.match(part)
        if not match:
            raise BPEError(
                f"cannot read budget '{text}': use N (evaluations), Ns (wall seconds) or Ns-simulated, e.g. 12000s-simulated"
            )
        value = float(match.group("value"))
        unit = (match.group("unit") or "").lower()
        key = {"": "evaluations", "s": "seconds", "s-simulated": "simulated_seconds"}[unit]
        if key == "evaluations":
            if not value.is_integer():
                raise BPEError(f"an evaluation budget is a whole number, got '{part.strip()}'")
            value = int(value)
        fields[key] = value
    return Budget(**fields)
