"""Plot helpers shared by the commands that write PNGs (headless backend, atomic writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["new_figure", "save_figure"]


def new_figure(figsize: tuple[float, float] = (6, 4), dpi: int = 130, **subplots: Any) -> tuple[Any, Any]:
    """A matplotlib figure and axes on the Agg backend (no display needed); ``subplots``
    (``nrows``, ``ncols``, ``squeeze``...) go to ``plt.subplots``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, dpi=dpi, **subplots)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` to ``path`` atomically (readers never see a half-written PNG) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path
