"""Plot helpers shared by the commands that write PNGs (headless backend, atomic writes)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

__all__ = ["new_figure", "save_figure", "set_title", "short_text", "legend_outside"]


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


def short_text(text: str) -> str:
    """``text`` with every file path (a word with two slashes or more, or starting with ``/``,
    ``./``, ``../`` or ``~/``) shortened to its name: a title names files, not folders."""
    def name(match: Any) -> str:
        word = match.group(0)
        if word.count("/") >= 2 or word.startswith(("/", "./", "../", "~/")):
            return word.rstrip("/").rsplit("/", 1)[-1]
        return word

    return re.sub(r"[^\s()\[\],:]+", name, str(text))


def set_title(ax: Any, text: str, *, fontsize: float = 8, width: int = 72) -> None:
    """A title that fits: paths shortened to file names, each line wrapped at ``width`` characters."""
    lines = [w for line in short_text(text).splitlines() for w in (textwrap.wrap(line, width) or [""])]
    ax.set_title("\n".join(lines), fontsize=fontsize)


def legend_outside(ax: Any, *, fontsize: float = 7) -> None:
    """The legend to the right of the axes, so it never covers points or their labels."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
